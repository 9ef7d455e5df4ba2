"""The authorization server's state in DynamoDB: clients, codes, refresh tokens, grants, sign-in sessions.

Every item has `expires_at` (the table's TTL attribute), so nothing accumulates: codes and
sessions go minutes after use, refresh tokens at their expiry, grants at their absolute end,
unused DCR clients after `unused_days`. TTL deletion is lazy (up to a few days late), so every
read also checks `expires_at` itself.

Single use is a conditional write (`attribute_not_exists(used_at)`) made only after the
caller checked client, redirect URI, resource and PKCE: a wrong guess burns nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import (
    PK,
    SK,
    oauth_client_key,
    oauth_code_key,
    oauth_grant_key,
    oauth_grants_partition,
    oauth_rate_key,
    oauth_refresh_key,
    oauth_registration_key,
    oauth_session_key,
)
from tenantry.errors import aws_error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "ClientRecord",
    "CodeRecord",
    "GrantRecord",
    "Membership",
    "OAuthStore",
    "Records",
    "RefreshRecord",
    "SessionRecord",
]

_R = TypeVar("_R", bound=BaseModel)
# Where a sign-in's membership came from: the members table (re-read at consent and at every
# refresh), or the claim of the identity provider's verified ID token (read once, at sign-in).
Membership = Literal["members", "idp_claim"]


class ClientRecord(BaseModel):
    """A client registered with DCR (metadata-document clients are fetched, never stored)."""

    client_id: str
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str | None = None
    client_name: str | None = None
    issued_at: int
    last_used_at: int
    expires_at: int


class _SingleUseRecord(BaseModel):
    """What a code and a refresh token both carry: the grant they belong to, and when they were used."""

    client_id: str
    resource: str
    scope: str
    subject: str
    tenant_id: str
    grant_id: str
    expires_at: int
    used_at: int | None = None


class CodeRecord(_SingleUseRecord):
    redirect_uri: str
    code_challenge: str
    membership: Membership = "members"


class RefreshRecord(_SingleUseRecord):
    pass


class GrantRecord(BaseModel):
    """One sign-in: its code and every refresh token rotated from it (the token family)."""

    grant_id: str
    tenant_id: str
    subject: str
    client_id: str
    # Absolute end of the sign-in: no rotation extends it.
    expires_at: int
    # Grants written before memberships could come from a claim are the members table's.
    membership: Membership = "members"
    revoked: bool = False
    revoked_reason: str = ""


class SessionRecord(BaseModel):
    """A sign-in in progress, bound to the browser by a cookie holding the session id."""

    client_id: str
    client_name: str | None = None
    redirect_uri: str
    state: str | None = None
    code_challenge: str
    resource: str
    scope: str
    # Sent to the upstream identity provider and checked on its callback.
    upstream_state: str
    nonce: str
    upstream_verifier: str
    # Set once the upstream sign-in completed.
    subject: str | None = None
    subject_name: str | None = None
    tenants: list[str] = Field(default_factory=list)
    membership: Membership = "members"
    # The consent form's anti-CSRF token (a second secret besides the cookie).
    csrf: str = ""
    expires_at: int


def _conditional_failed(exc: ClientError) -> bool:
    return aws_error_code(exc) == "ConditionalCheckFailedException"


def _record(values: dict[str, Any], model: type[_R]) -> _R:
    return model.model_validate({k: v for k, v in values.items() if k not in (PK, SK)})


class OAuthStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        # Each kind found by one string, hashed into its key; a code, refresh token or session id is a
        # secret. A DCR client id is public, but stored only hashed too (the item does not repeat it).
        self.clients = Records(self, ClientRecord, oauth_client_key, name_field="client_id")
        # A sign-in session advances step by step, each step rewriting it.
        self.sessions = Records(self, SessionRecord, oauth_session_key, overwrite=True)
        self.codes = Records(self, CodeRecord, oauth_code_key)
        self.refresh_tokens = Records(self, RefreshRecord, oauth_refresh_key)

    def now(self) -> int:
        return int(self._clock())

    # --- generic ---------------------------------------------------------------------------------

    def _put(self, key: dict[str, str], record: BaseModel, new: bool = True, leave_out: str | None = None) -> bool:
        item = {**key, **record.model_dump(exclude={leave_out} if leave_out else None)}
        request: dict[str, Any] = {"TableName": self._table, "Item": to_attrs(item)}
        if new:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if new and _conditional_failed(exc):
                return False
            raise
        return True

    def _get(self, key: dict[str, str], model: type[_R], known: dict[str, str] | None = None) -> _R | None:
        response = self._client.get_item(TableName=self._table, Key=to_attrs(key), ConsistentRead=True)
        item = response.get("Item")
        if item is None:
            return None
        values = from_attrs(item)
        if int(values.get("expires_at", 0)) <= self.now():
            return None  # expired, waiting for TTL
        return _record(values | (known or {}), model)

    def _consume(self, key: dict[str, str]) -> bool:
        """Mark used once; False if it was already used (or is gone)."""
        return self._update_if(
            key,
            UpdateExpression="SET used_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at)",
            ExpressionAttributeValues=to_attrs({":now": self.now()}),
        )

    def _update_if(self, key: dict[str, str], **update: Any) -> bool:
        """One conditional UpdateItem; False (nothing written) when its condition does not hold."""
        try:
            self._client.update_item(TableName=self._table, Key=to_attrs(key), **update)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def _delete(self, key: dict[str, str]) -> None:
        self._client.delete_item(TableName=self._table, Key=to_attrs(key))

    # --- clients ---------------------------------------------------------------------------------

    def touch_client(self, record: ClientRecord, unused_seconds: int) -> None:
        """Push back the expiry of a client in use; at most one write a day per client."""
        now = self.now()
        if now - record.last_used_at < 86400:
            return
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(oauth_client_key(record.client_id)),
            UpdateExpression="SET last_used_at = :now, expires_at = :exp",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=to_attrs({":now": now, ":exp": now + unused_seconds}),
        )

    def count_registration(self, host: str, day: str, cap: int) -> bool:
        """Count one registration for `host` today; False (nothing counted) once `cap` is reached."""
        return self._count(oauth_registration_key(host, day), cap, self.now() + 2 * 86400)

    def hit_rate(self, endpoint: str, caller: str, limit_per_minute: int) -> bool:
        """Count one request from `caller` this minute; False once the minute's limit is reached."""
        now = self.now()
        minute = time.strftime("%Y%m%d%H%M", time.gmtime(now))
        return self._count(oauth_rate_key(endpoint, caller, minute), limit_per_minute, now + 120)

    def _count(self, key: dict[str, str], cap: int, expires_at: int) -> bool:
        """Add one to the counter at `key` unless it has reached `cap` (then False, nothing counted)."""
        return self._update_if(
            key,
            UpdateExpression="ADD n :one SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(n) OR n < :cap",
            ExpressionAttributeValues=to_attrs({":one": 1, ":cap": cap, ":exp": expires_at}),
        )

    # --- grants (token families) -----------------------------------------------------------------

    def put_grant(self, record: GrantRecord) -> bool:
        """Create the grant; False (nothing written) if the grant id exists, e.g. a reuse marker (below)."""
        return self._put(oauth_grant_key(record.tenant_id, record.grant_id), record)

    def revoke_grant_family(self, record: GrantRecord, reason: str) -> None:
        """Revoke the grant, writing it revoked if it does not exist yet (a reused code, redeemed concurrently).

        The code's winner may not have written its grant when the loser gets here: revoking only an
        existing grant would lose the revocation. This write does not care about order: before the
        winner's conditional put it leaves a revoked grant the put fails on, after it revokes the grant.
        """
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(oauth_grant_key(record.tenant_id, record.grant_id)),
            UpdateExpression=(
                "SET revoked = :yes, revoked_reason = :why, grant_id = if_not_exists(grant_id, :gid), "
                "tenant_id = if_not_exists(tenant_id, :tid), subject = if_not_exists(subject, :sub), "
                "client_id = if_not_exists(client_id, :cid), expires_at = if_not_exists(expires_at, :exp)"
            ),
            ExpressionAttributeValues=to_attrs(
                {
                    ":yes": True,
                    ":why": reason,
                    ":gid": record.grant_id,
                    ":tid": record.tenant_id,
                    ":sub": record.subject,
                    ":cid": record.client_id,
                    ":exp": record.expires_at,
                }
            ),
        )

    def get_grant(self, tenant_id: str, grant_id: str) -> GrantRecord | None:
        return self._get(oauth_grant_key(tenant_id, grant_id), GrantRecord)

    def revoke_grant(self, tenant_id: str, grant_id: str, reason: str) -> None:
        # A grant already gone (TTL) needs no revoking: a failed condition is not an error here.
        self._update_if(
            oauth_grant_key(tenant_id, grant_id),
            UpdateExpression="SET revoked = :yes, revoked_reason = :why",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=to_attrs({":yes": True, ":why": reason}),
        )

    def revoke_grants(self, tenant_id: str, reason: str, subject: str | None = None) -> list[GrantRecord]:
        """Revoke every live grant of the tenant (of one user when `subject` is given); returns them."""
        revoked: list[GrantRecord] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": to_attrs({":p": oauth_grants_partition(tenant_id)}),
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                grant = _record(from_attrs(item), GrantRecord)
                if grant.revoked or (subject is not None and grant.subject != subject):
                    continue
                self.revoke_grant(tenant_id, grant.grant_id, reason)
                revoked.append(grant)
            if "LastEvaluatedKey" not in page:
                return revoked
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Records(Generic[_R]):
    """One kind of record, found by one string (a client id, or a secret that dal/keys.py hashes).

    A put never overwrites (False if the key is taken) unless the kind is `overwrite`; a get
    returns None once `expires_at` has passed; a consume marks the record used exactly once.
    `name_field`: the record's field that holds the name itself, not stored (only its hash, in the
    key) and filled in again from the name a get was given.
    """

    def __init__(
        self,
        store: OAuthStore,
        model: type[_R],
        key: Callable[[str], dict[str, str]],
        *,
        overwrite: bool = False,
        name_field: str | None = None,
    ) -> None:
        self._store = store
        self._model = model
        self._key = key
        self._overwrite = overwrite
        self._name_field = name_field

    def put(self, name: str, record: _R) -> bool:
        return self._store._put(self._key(name), record, new=not self._overwrite, leave_out=self._name_field)

    def get(self, name: str) -> _R | None:
        known = {self._name_field: name} if self._name_field else None
        return self._store._get(self._key(name), self._model, known)

    def consume(self, name: str) -> bool:
        return self._store._consume(self._key(name))

    def delete(self, name: str) -> None:
        self._store._delete(self._key(name))
