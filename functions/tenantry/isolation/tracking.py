"""Marks the keys a tenant writes while its data is being moved to another table.

A move copies the tenant's partition while the tenant keeps being served from the
source. Every write a tool makes in that window leaves a mark beside the item
(`dal/keys.py` move marks): once before the write is sent, so a write that lands
is never unmarked even if the container dies right after, and once after it, so a
mark the mover removed while the write was in flight is set again. The mover
re-copies each marked key from the source (the item, or its absence for a delete)
and removes the mark only if nobody re-marked it meanwhile (a conditional delete on
the mark's token). What the copy needs to catch up is therefore what was written
during the copy, never the tenant's whole size.

The hooks act only when the request's tenant context says `moving` (admission told
the container so, in the same write that counts the call); otherwise they cost a
dictionary lookup.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tenantry.dal.keys import PK, SK, move_mark_key, move_mark_prefix
from tenantry.errors import NoTenantContextError
from tenantry.tenancy.context import current_tenant

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["install_tracking", "written_keys"]

_CONTEXT_KEY = "tenantry_move_marks"
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def written_keys(operation: str, params: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(table, partition, sort key) of every item a write request changes."""
    if operation == "PutItem":
        yield _key(params.get("TableName"), params.get("Item"))
    elif operation in ("UpdateItem", "DeleteItem"):
        yield _key(params.get("TableName"), params.get("Key"))
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            for kind, request in entry.items():
                if kind != "ConditionCheck":
                    yield _key(request.get("TableName"), request.get("Item" if kind == "Put" else "Key"))
    elif operation == "BatchWriteItem":
        for table, writes in (params.get("RequestItems") or {}).items():
            for write in writes:
                for request in write.values():
                    yield _key(table, request.get("Item") or request.get("Key"))


def _key(table: Any, key: Any) -> tuple[str, str, str]:
    key = key or {}
    return str(table), str((key.get(PK) or {}).get("S", "")), str((key.get(SK) or {}).get("S", ""))


class _Tracker:
    def __init__(self, client: DynamoDBClient, tenant_id: str) -> None:
        self._client = client
        self._tenant_id = tenant_id
        self._prefix = move_mark_prefix(tenant_id)[1]

    def _moving(self) -> bool:
        try:
            tenant = current_tenant()
        except NoTenantContextError:  # an operator's call (the mover itself): nothing to mark
            return False
        return tenant.moving and tenant.tenant_id == self._tenant_id

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name not in _WRITES or not self._moving():
            return
        keys = [
            (table, sk)
            for table, pk, sk in written_keys(model.name, params)
            if pk == self._tenant_id and sk and not sk.startswith(self._prefix)
        ]
        if keys:
            context[_CONTEXT_KEY] = keys
            self._mark(keys)

    def after(self, context: dict[str, Any], **_: Any) -> None:
        keys = context.pop(_CONTEXT_KEY, None)
        if keys:
            self._mark(keys)

    def _mark(self, keys: list[tuple[str, str]]) -> None:
        at = int(time.time())
        for table, sort_key in keys:
            item = {
                **{k: {"S": v} for k, v in move_mark_key(self._tenant_id, sort_key).items()},
                "token": {"S": uuid.uuid4().hex},
                "at": {"N": str(at)},
            }
            self._client.put_item(TableName=table, Item=item)


def install_tracking(client: DynamoDBClient, tenant_id: str) -> DynamoDBClient:
    """Mark the keys this tenant client writes while the request's tenant is being moved."""
    tracker = _Tracker(client, tenant_id)
    client.meta.events.register("before-parameter-build.dynamodb", tracker.before)
    client.meta.events.register("after-call.dynamodb", tracker.after)
    return client
