"""Memberships: which tenants a user may act for (partition `user`, sort key `tenant_id`).

`user` is the identity the upstream identity provider asserts (by default its verified email,
lower-cased; see OAuthSettings.user_claim). The authorization server reads memberships at
sign-in and again at every refresh; operators write them with `tenantry members`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import member_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["MembershipStore"]


class MembershipStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @property
    def table_name(self) -> str:
        """The members table (bulk imports and exports read and write it in batches)."""
        return self._table

    def tenants_of(self, user: str) -> list[str]:
        tenants: list[str] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#u = :u",
            "ExpressionAttributeNames": {"#u": "user"},
            "ExpressionAttributeValues": to_attrs({":u": user}),
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            tenants += [str(from_attrs(item)["tenant_id"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(tenants)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def is_member(self, user: str, tenant_id: str) -> bool:
        response = self._client.get_item(
            TableName=self._table, Key=to_attrs(member_key(user, tenant_id)), ConsistentRead=True
        )
        return "Item" in response

    def add(self, user: str, tenant_id: str, added_by: str) -> bool:
        """True if added, False if the membership already existed."""
        item = {**member_key(user, tenant_id), "added_at": int(time.time()), "added_by": added_by}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attrs(item),
                ConditionExpression="attribute_not_exists(#u)",
                ExpressionAttributeNames={"#u": "user"},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def remove(self, user: str, tenant_id: str) -> bool:
        """True if a membership was removed."""
        response = self._client.delete_item(
            TableName=self._table, Key=to_attrs(member_key(user, tenant_id)), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def members_of(self, tenant_id: str) -> list[str]:
        """Every user of a tenant: a Scan, for the operator CLI only (never on a request path)."""
        users: list[str] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "tenant_id = :t",
            "ExpressionAttributeValues": to_attrs({":t": tenant_id}),
        }
        while True:
            page = self._client.scan(**request)
            users += [str(from_attrs(item)["user"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(users)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
