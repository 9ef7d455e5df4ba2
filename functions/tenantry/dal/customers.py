"""Customers of a tenant (the members of one fitness studio), in the pooled table."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import PK, SK, counter_key, customer_key, customer_prefix, decode_cursor, encode_cursor
from tenantry.errors import ConflictError, NotFoundError, StorageQuotaError, aws_error_code
from tenantry.isolation.clients import TenantClients
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import TenantContext

__all__ = ["CustomerRecord", "CustomerStore", "Membership", "RecordPage", "StorageQuotaError"]

Membership = Literal["none", "drop_in", "class_pack", "monthly", "annual"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CustomerRecord(BaseModel):
    """A customer as stored (tools show logic.customers.Customer, which may hold less)."""

    customer_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    membership: Membership = "none"
    notes: str | None = None
    created_at: str
    updated_at: str
    version: int = Field(default=1, description="Increases by one on every update.")


class RecordPage(BaseModel):
    model_config = BUILT_WHEN_USED
    records: list[CustomerRecord]
    next_cursor: str | None = Field(default=None, description="Pass back to get the next page; absent on the last.")


def _is_conditional_failure(exc: ClientError) -> bool:
    return aws_error_code(exc) == "ConditionalCheckFailedException"


class CustomerStore:
    """Every method takes the tenant context and builds keys from it alone."""

    def __init__(self, clients: TenantClients) -> None:
        # Clients come per tenant, on the tenant's own credentials, behind the guard.
        self._clients = clients

    def create(self, tenant: TenantContext, customer_id: str, fields: dict[str, Any]) -> CustomerRecord:
        """Insert a customer and count it against the storage quota, atomically."""
        now = _now()
        customer = CustomerRecord(customer_id=customer_id, created_at=now, updated_at=now, version=1, **fields)
        item = {**customer_key(tenant, customer_id), **customer.model_dump()}
        limit = tenant.config.max_customers
        if limit <= 0:  # the counter condition admits the first item of an empty tenant; 0 must refuse it
            raise self._storage_full(tenant, limit)
        try:
            self._clients.dynamodb(tenant).transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": tenant.data_table,
                            "Item": to_attrs(item),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": PK},
                        }
                    },
                    {
                        "Update": {
                            "TableName": tenant.data_table,
                            "Key": to_attrs(counter_key(tenant, "customers")),
                            "UpdateExpression": "ADD #n :one",
                            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
                            "ExpressionAttributeNames": {"#n": "n"},
                            "ExpressionAttributeValues": to_attrs({":one": 1, ":limit": limit}),
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise ConflictError(f"A customer with id '{customer_id}' already exists.") from None
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise self._storage_full(tenant, limit) from None
            raise
        return customer

    @staticmethod
    def _storage_full(tenant: TenantContext, limit: int) -> StorageQuotaError:
        return StorageQuotaError(
            f"Customer limit reached: {limit:,} customers on the {tenant.plan} plan. Delete customers "
            "you no longer need, or ask your administrator to upgrade the plan or raise the limit."
        )

    def get(self, tenant: TenantContext, customer_id: str) -> CustomerRecord:
        item = (
            self._clients.dynamodb(tenant)
            .get_item(TableName=tenant.data_table, Key=to_attrs(customer_key(tenant, customer_id)), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            raise NotFoundError(f"No customer with id '{customer_id}'.")
        return self._to_customer(item)

    def list(self, tenant: TenantContext, limit: int, cursor: str | None) -> RecordPage:
        partition, prefix = customer_prefix(tenant)
        request: dict[str, Any] = {
            "TableName": tenant.data_table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": to_attrs({":pk": partition, ":prefix": prefix}),
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = to_attrs(decode_cursor(tenant, cursor, prefix))
        response = self._clients.dynamodb(tenant).query(**request)
        customers = [self._to_customer(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = encode_cursor(tenant, from_attrs(last)) if last else None
        return RecordPage(records=customers, next_cursor=next_cursor)

    def update(
        self, tenant: TenantContext, customer_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> CustomerRecord:
        names = {"#pk": PK, "#updated_at": "updated_at", "#version": "version"}
        values: dict[str, Any] = {":now": _now(), ":one": 1}
        sets = ["#updated_at = :now"]
        removes = []
        for i, (field, value) in enumerate(sorted(changes.items())):
            names[f"#f{i}"] = field
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = value
                sets.append(f"#f{i} = :v{i}")
        condition = "attribute_exists(#pk)"
        if expected_version is not None:
            condition += " AND #version = :expected"
            values[":expected"] = expected_version
        expression = "SET " + ", ".join(sets) + " ADD #version :one"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            response = self._clients.dynamodb(tenant).update_item(
                TableName=tenant.data_table,
                Key=to_attrs(customer_key(tenant, customer_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            if not exc.response.get("Item"):
                raise NotFoundError(f"No customer with id '{customer_id}'.") from None
            raise ConflictError(
                f"Customer '{customer_id}' was changed by someone else (expected version {expected_version}). "
                "Fetch it again and retry."
            ) from None
        return self._to_customer(response["Attributes"])

    def delete(self, tenant: TenantContext, customer_id: str) -> CustomerRecord:
        """Remove a customer and give its storage quota back, atomically."""
        existing = self.get(tenant, customer_id)
        try:
            self._clients.dynamodb(tenant).transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": tenant.data_table,
                            "Key": to_attrs(customer_key(tenant, customer_id)),
                            "ConditionExpression": "attribute_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": PK},
                        }
                    },
                    {
                        "Update": {
                            "TableName": tenant.data_table,
                            "Key": to_attrs(counter_key(tenant, "customers")),
                            "UpdateExpression": "ADD #n :minus",
                            "ExpressionAttributeNames": {"#n": "n"},
                            "ExpressionAttributeValues": to_attrs({":minus": -1}),
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFoundError(f"No customer with id '{customer_id}'.") from None
            raise
        return existing

    def count(self, tenant: TenantContext) -> int:
        item = (
            self._clients.dynamodb(tenant)
            .get_item(TableName=tenant.data_table, Key=to_attrs(counter_key(tenant, "customers")), ConsistentRead=True)
            .get("Item")
        )
        return int(from_attrs(item).get("n", 0)) if item else 0

    def all(self, tenant: TenantContext, limit: int) -> tuple[builtins.list[CustomerRecord], bool]:
        """Up to `limit` customers in id order, and whether there were more."""
        customers: builtins.list[CustomerRecord] = []
        cursor: str | None = None
        while len(customers) < limit:
            page = self.list(tenant, min(100, limit - len(customers)), cursor)
            customers += page.records
            cursor = page.next_cursor
            if not cursor:
                return customers, False
        return customers, True

    @staticmethod
    def _to_customer(item: dict[str, Any]) -> CustomerRecord:
        values = from_attrs(item)
        values.pop(PK, None)
        values.pop(SK, None)
        return CustomerRecord.model_validate(values)
