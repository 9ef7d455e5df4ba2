"""Pre token generation trigger (event version V2_0): put the tenant in the access token.

The tenant comes from the user's memberships (the members table, partition key `user` =
the Cognito `sub`, sort key `tenant_id`). A user with one membership gets that tenant. A
user with several must name one in the `custom:active_tenant` attribute, which only an
operator can set (the app clients cannot write it), and which must be one of the
memberships. Anything else raises `SignInRefusedError`: Cognito then refuses the sign-in
(and every refresh) with the message, and no token is issued. A tenant is never defaulted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

__all__ = ["ACTIVE_TENANT_ATTRIBUTE", "MembershipStore", "SignInRefusedError", "add_tenant_claim", "choose_tenant"]

ACTIVE_TENANT_ATTRIBUTE = "custom:active_tenant"


class SignInRefusedError(Exception):
    """The user may not have a token; Cognito shows the message as the sign-in error."""


class MembershipStore(Protocol):
    def tenants_of(self, user: str) -> list[str]: ...


class DynamoMemberships:
    """Reads one user's memberships with Query (the trigger's role has only Query and GetItem)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self._table = table_name
        self._client = client

    def tenants_of(self, user: str) -> list[str]:
        if self._client is None:
            import boto3  # lazily: unit tests pass a fake, and the import costs cold start

            self._client = boto3.client("dynamodb")
        tenants: list[str] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#u = :u",
            "ExpressionAttributeNames": {"#u": "user", "#t": "tenant_id"},
            "ExpressionAttributeValues": {":u": {"S": user}},
            "ProjectionExpression": "#t",
        }
        while True:
            page = self._client.query(**request)
            tenants += [item["tenant_id"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return tenants
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def choose_tenant(memberships: Iterable[str], requested: str | None) -> str:
    """The tenant for this token, or SignInRefusedError with a message the user can act on."""
    tenants = sorted(set(memberships))
    requested = (requested or "").strip() or None
    if not tenants:
        raise SignInRefusedError("Your account is not a member of any tenant. Ask your administrator for access.")
    if requested is not None:
        if requested not in tenants:
            raise SignInRefusedError(
                f"Your active tenant '{requested}' is not one of your tenants. Ask your administrator to set "
                "it to one you belong to."
            )
        return requested
    if len(tenants) > 1:
        raise SignInRefusedError(
            f"Your account belongs to {len(tenants)} tenants. Ask your administrator to set your active "
            "tenant, then connect again."
        )
    return tenants[0]


def add_tenant_claim(event: dict[str, Any], store: MembershipStore, claim: str) -> dict[str, Any]:
    """Fill the V2_0 response: the tenant claim on the access token (and the ID token, for display)."""
    request: Mapping[str, Any] = event.get("request") or {}
    attributes: Mapping[str, str] = request.get("userAttributes") or {}
    user = attributes.get("sub")
    if not user:
        raise SignInRefusedError("The sign-in carried no user id.")
    tenant = choose_tenant(store.tenants_of(user), attributes.get(ACTIVE_TENANT_ATTRIBUTE))
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"claimsToAddOrOverride": {claim: tenant}},
        "idTokenGeneration": {"claimsToAddOrOverride": {claim: tenant}},
    }
    return event


_store: MembershipStore | None = None


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    global _store
    if _store is None:
        _store = DynamoMemberships(os.environ["TENANTRY_MEMBERS_TABLE"])
    return add_tenant_claim(event, _store, os.environ.get("TENANTRY_TENANT_CLAIM", "tenant_id"))
