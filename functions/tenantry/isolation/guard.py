"""An in-process guard on every tenant-scoped DynamoDB client.

A botocore `before-parameter-build` hook inspects each request before it is
serialized and refuses it, before anything leaves the process, unless every
key, item and key condition it carries is in the tenant's partition of the
tenant's table. It fails closed: an operation it cannot check (Scan, PartiQL,
a secondary index, anything not listed) is refused too.

IAM's LeadingKeys condition enforces the same rule in AWS; this guard makes a
bug visible (audited, alarmed) and protects places where IAM cannot help,
such as local runs and moto.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tenantry.errors import CrossTenantAccessError

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["PARTITION_KEY", "CrossTenantAccessError", "install_guard"]

PARTITION_KEY = "pk"
_EQUALITY = re.compile(r"^\s*\(?\s*([#:\w.]+)\s*=\s*([#:\w.]+)\s*\)?\s*$")


Refusal = Callable[[str, str, str], None]  # (operation, table, reason)
# The member of a BatchWriteItem WriteRequest and where its key is.
_BATCH_WRITE_KEYS = {"PutRequest": "Item", "DeleteRequest": "Key"}


class _Guard:
    def __init__(self, tenant_id: str, tables: frozenset[str], on_refusal: Refusal | None) -> None:
        self.tenant_id = tenant_id
        self.tables = tables
        self.on_refusal = on_refusal
        self._own = {"S": tenant_id}

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        check = _CHECKS.get(operation)
        if check is None:
            self._refuse(operation, str(params.get("TableName", "")), f"{operation} cannot be checked; refused")
        else:
            check(self, operation, params)

    # -- helpers -----------------------------------------------------------------------
    def _refuse(self, operation: str, table: str, reason: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(f"dynamodb:{operation}", table, reason)
        # Deliberately vague for the caller: the audit record has the detail.
        raise CrossTenantAccessError("Access denied: that data is outside your organisation.")

    def _table(self, operation: str, table: Any) -> None:
        if table not in self.tables:
            self._refuse(operation, str(table), "table is not the tenant's")

    def _key(self, operation: str, table: str, key: Any) -> None:
        if not isinstance(key, Mapping) or key.get(PARTITION_KEY) != self._own:
            self._refuse(operation, table, "key outside the tenant's partition")

    # -- per operation -----------------------------------------------------------------
    def single(self, operation: str, params: dict[str, Any]) -> None:
        table = params.get("TableName")
        self._table(operation, table)
        self._key(operation, str(table), params.get("Item" if operation == "PutItem" else "Key"))

    def query(self, operation: str, params: dict[str, Any]) -> None:
        table = str(params.get("TableName"))
        self._table(operation, table)
        if params.get("IndexName"):
            self._refuse(operation, table, "queries on secondary indexes are not allowed")
        if "ExclusiveStartKey" in params:
            self._key(operation, table, params["ExclusiveStartKey"])
        if not self._partition_condition_is_own(params):
            self._refuse(operation, table, "key condition is not the tenant's partition")

    def _partition_condition_is_own(self, params: Mapping[str, Any]) -> bool:
        expression = params.get("KeyConditionExpression")
        if not isinstance(expression, str) or params.get("KeyConditions"):
            return False
        names: Mapping[str, str] = params.get("ExpressionAttributeNames") or {}
        values: Mapping[str, Any] = params.get("ExpressionAttributeValues") or {}
        for clause in re.split(r"\s+AND\s+", expression, flags=re.IGNORECASE):
            match = _EQUALITY.match(clause)
            if not match:
                continue
            left, right = match.groups()
            if names.get(left, left) == PARTITION_KEY and values.get(right) == self._own:
                return True
        return False

    def batch_get(self, operation: str, params: dict[str, Any]) -> None:
        for table, request in (params.get("RequestItems") or {}).items():
            self._table(operation, table)
            self._keys(operation, table, request.get("Keys") or [])

    def batch_write(self, operation: str, params: dict[str, Any]) -> None:
        for table, writes in (params.get("RequestItems") or {}).items():
            self._table(operation, table)
            for write in writes:
                # Exactly one member per WriteRequest (DynamoDB's rule), and that one checked: an entry
                # with a Put and a Delete must not pass on the Put's key alone.
                members = list(write) if isinstance(write, Mapping) else []
                if len(members) != 1 or members[0] not in _BATCH_WRITE_KEYS:
                    self._refuse(operation, table, "a batch write request must be one PutRequest or DeleteRequest")
                request = write[members[0]]
                self._key(
                    operation,
                    table,
                    request.get(_BATCH_WRITE_KEYS[members[0]]) if isinstance(request, Mapping) else None,
                )

    def transact(self, operation: str, params: dict[str, Any]) -> None:
        for entry in params.get("TransactItems") or []:
            for kind, request in entry.items():
                table = request.get("TableName")
                self._table(operation, table)
                self._key(operation, str(table), request.get("Item" if kind == "Put" else "Key"))

    def _keys(self, operation: str, table: str, keys: Iterable[Any]) -> None:
        for key in keys:
            self._key(operation, table, key)


_CHECKS: dict[str, Callable[[_Guard, str, dict[str, Any]], None]] = {
    "GetItem": _Guard.single,
    "PutItem": _Guard.single,
    "UpdateItem": _Guard.single,
    "DeleteItem": _Guard.single,
    "Query": _Guard.query,
    "BatchGetItem": _Guard.batch_get,
    "BatchWriteItem": _Guard.batch_write,
    "TransactGetItems": _Guard.transact,
    "TransactWriteItems": _Guard.transact,
}


def tenant_prefix(tenant_id: str) -> str:
    """The S3 key prefix of a tenant's objects (IAM: tenants/${aws:PrincipalTag/tenant_id}/*)."""
    return f"tenants/{tenant_id}/"


_S3_OBJECT_OPERATIONS = frozenset({"GetObject", "PutObject", "DeleteObject", "HeadObject"})
_S3_LIST_OPERATIONS = frozenset({"ListObjectsV2", "ListObjectVersions"})


class _S3Guard:
    def __init__(self, tenant_id: str, bucket: str, on_refusal: Refusal | None) -> None:
        self.prefix = tenant_prefix(tenant_id)
        self.bucket = bucket
        self.on_refusal = on_refusal

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        bucket = params.get("Bucket")
        if operation in _S3_OBJECT_OPERATIONS:
            value = params.get("Key")
        elif operation in _S3_LIST_OPERATIONS:
            value = params.get("Prefix")
        else:
            value = None
        if (
            bucket != self.bucket
            or not isinstance(value, str)
            or not value.startswith(self.prefix)
            or "/../" in value
            or "//" in value[len(self.prefix) - 1 :]
        ):
            if self.on_refusal is not None:
                self.on_refusal(f"s3:{operation}", str(bucket), "object outside the tenant's prefix")
            raise CrossTenantAccessError("Access denied: that data is outside your organisation.")


def install_s3_guard(client: S3Client, tenant_id: str, bucket: str, on_refusal: Refusal | None = None) -> S3Client:
    """Attach the prefix guard to an S3 client built for one tenant; returns the client."""
    client.meta.events.register("before-parameter-build.s3", _S3Guard(tenant_id, bucket, on_refusal))
    return client


def install_guard(
    client: DynamoDBClient, tenant_id: str, tables: Iterable[str], on_refusal: Refusal | None = None
) -> DynamoDBClient:
    """Attach the guard to a DynamoDB client built for one tenant; returns the client."""
    client.meta.events.register("before-parameter-build.dynamodb", _Guard(tenant_id, frozenset(tables), on_refusal))
    return client
