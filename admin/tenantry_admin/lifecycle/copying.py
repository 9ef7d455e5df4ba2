"""Copy, catch up and verify one tenant's partition between two tables, with the tenant's own clients.

Every request goes through the tenant's guarded clients (its role, its partition), one
client per table, so the copy cannot read or write outside the tenant's partition
whatever a table holds. Keys are rebuilt from the tenant id (dal/keys.py), never copied.

Items are read page by page (constant memory) and written with BatchWriteItem. The copy
itself may overwrite and may resurrect: it runs while the tenant writes to the source.
What the tenant wrote meanwhile is marked (isolation/tracking.py), and `catch_up`
re-copies each marked key from the source as it is *now* (or deletes it in the target
when the source no longer has it), so the target ends up equal to the source.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import PK, SK, move_mark_key, move_mark_prefix, moved_key
from tenantry.errors import aws_error_code
from tenantry.isolation.clients import TenantClients
from tenantry.tenancy.context import TenantContext

__all__ = ["KindDigest", "PartitionCopier", "VerifyReport"]

Progress = Callable[[int, int], None]
_BATCH = 25
_PAGE = 1000


def _kind(sort_key: str) -> str:
    """The item kind a sort key names: CUSTOMER, COUNTER, SECRET, ... (the part before the first '#')."""
    return sort_key.split("#", 1)[0] or "OTHER"


def _item_hash(item: dict[str, Any]) -> str:
    body = {k: v for k, v in item.items() if k != PK}  # the partition is the tenant's on both sides
    text = json.dumps(body, sort_keys=True, default=lambda b: base64.b64encode(bytes(b)).decode())
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class KindDigest:
    kind: str
    source_items: int
    target_items: int
    source_sha256: str
    target_sha256: str

    @property
    def equal(self) -> bool:
        return self.source_items == self.target_items and self.source_sha256 == self.target_sha256


@dataclass
class VerifyReport:
    kinds: list[KindDigest] = field(default_factory=list)
    # Keys that differ although nothing marked them: a copy that went wrong (never flipped on).
    unexplained: list[str] = field(default_factory=list)
    # Keys that differ because a write is in flight; re-copied and compared again in the pause.
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.unexplained


class PartitionCopier:
    def __init__(self, clients: TenantClients, tenant: TenantContext, source_table: str, target_table: str) -> None:
        self._clients = clients
        self._tenant = tenant
        self.source_table = source_table
        self.target_table = target_table
        self._mark_prefix = move_mark_prefix(tenant.tenant_id)[1]

    def client(self, table: str) -> Any:
        # One guarded client per table: the guard allows exactly the table its context names.
        return self._clients.dynamodb(self._tenant.model_copy(update={"data_table": table}))

    # -- reading ------------------------------------------------------------------------------
    def _pages(self, table: str, prefix: str | None = None, **extra: Any) -> Iterator[list[dict[str, Any]]]:
        condition = "#pk = :pk" + (" AND begins_with(#sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": self._tenant.tenant_id}
        names = {"#pk": PK}
        if prefix:
            values[":prefix"] = prefix
        if prefix or "ProjectionExpression" in extra:
            names["#sk"] = SK
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_attrs(values),
            "ConsistentRead": True,
            **extra,
        }
        client = self.client(table)
        while True:
            page = client.query(**request)
            yield list(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start

    def data_items(self, table: str) -> Iterator[dict[str, Any]]:
        """Every item of the tenant in `table`, marks left out."""
        # Pages of at most 1,000 items: each request stays short even on a slow (local) DynamoDB.
        for page in self._pages(table, Limit=_PAGE):
            for item in page:
                if not item[SK]["S"].startswith(self._mark_prefix):
                    yield item

    def count(self, table: str) -> int:
        return sum(1 for _ in self.data_items(table))

    def marks(self) -> list[tuple[str, str]]:
        """(sort key of the marked item, the mark's token) of every mark in the source."""
        found = []
        for page in self._pages(self.source_table, self._mark_prefix):
            for item in page:
                found.append((item[SK]["S"][len(self._mark_prefix) :], item["token"]["S"]))
        return found

    # -- writing ------------------------------------------------------------------------------
    def _rebuilt(self, item: dict[str, Any]) -> dict[str, Any]:
        key = moved_key(self._tenant.tenant_id, item[SK]["S"])
        return {**item, **to_attrs(key)}

    def batch(self, table: str, requests: list[dict[str, Any]]) -> None:
        client = self.client(table)
        pending = {table: requests}
        for _ in range(20):
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise RuntimeError(f"DynamoDB kept items of {table} unprocessed after 20 attempts; run the move again")

    def copy(self, progress: Progress | None = None, total: int = 0) -> int:
        copied = 0
        batch: list[dict[str, Any]] = []
        for item in self.data_items(self.source_table):
            batch.append({"PutRequest": {"Item": self._rebuilt(item)}})
            if len(batch) == _BATCH:
                self.batch(self.target_table, batch)
                copied += len(batch)
                batch = []
                if progress is not None:
                    progress(copied, max(total, copied))
        if batch:
            self.batch(self.target_table, batch)
            copied += len(batch)
        if progress is not None:
            progress(copied, max(total, copied))
        return copied

    def copy_key(self, sort_key: str) -> None:
        """The target's item becomes the source's as it is now: a put, or a delete if the source has none."""
        key = to_attrs(moved_key(self._tenant.tenant_id, sort_key))
        item = self.client(self.source_table).get_item(TableName=self.source_table, Key=key, ConsistentRead=True)
        target = self.client(self.target_table)
        if "Item" in item:
            target.put_item(TableName=self.target_table, Item=self._rebuilt(item["Item"]))
        else:
            target.delete_item(TableName=self.target_table, Key=key)

    def catch_up(self) -> list[str]:
        """Re-copy every marked key; a mark goes only if nobody re-marked it meanwhile. Returns the keys copied."""
        done = []
        source = self.client(self.source_table)
        for sort_key, token in self.marks():
            self.copy_key(sort_key)
            try:
                source.delete_item(
                    TableName=self.source_table,
                    Key=to_attrs(move_mark_key(self._tenant.tenant_id, sort_key)),
                    ConditionExpression="#t = :t",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues=to_attrs({":t": token}),
                )
            except ClientError as exc:
                if aws_error_code(exc) != "ConditionalCheckFailedException":
                    raise
            done.append(sort_key)
        return done

    def same(self, sort_key: str) -> bool:
        key = to_attrs(moved_key(self._tenant.tenant_id, sort_key))
        left = self.client(self.source_table).get_item(TableName=self.source_table, Key=key, ConsistentRead=True)
        right = self.client(self.target_table).get_item(TableName=self.target_table, Key=key, ConsistentRead=True)
        if "Item" not in left or "Item" not in right:
            return "Item" not in left and "Item" not in right
        return _item_hash(left["Item"]) == _item_hash(right["Item"])

    def delete_partition(self, table: str, progress: Progress | None = None) -> int:
        """Delete the tenant's items (marks too) from `table`, page by page from the start (so a re-run resumes)."""
        deleted = 0
        while True:
            page = next(self._pages(table, Limit=_BATCH, ProjectionExpression="#pk, #sk"), [])
            if not page:
                return deleted
            self.batch(table, [{"DeleteRequest": {"Key": {PK: i[PK], SK: i[SK]}}} for i in page])
            deleted += len(page)
            if progress is not None:
                progress(deleted, deleted)

    # -- verifying ----------------------------------------------------------------------------
    def _hashes(self, table: str) -> dict[str, str]:
        return {item[SK]["S"]: _item_hash(item) for item in self.data_items(table)}

    def verify(self) -> VerifyReport:
        """Item counts and a SHA-256 per item kind, source against target; differences must be marked writes.

        Marks are read after both sides: a write that changed either side while they were read
        wrote its mark before it was sent, so it is found here and compared again in the pause.
        """
        source, target = self._hashes(self.source_table), self._hashes(self.target_table)
        marked = {sort_key for sort_key, _ in self.marks()}
        report = VerifyReport()
        differing = {k for k in source.keys() | target.keys() if source.get(k) != target.get(k)}
        report.unexplained = sorted(differing - marked)
        report.pending = len(differing & marked)
        for kind in sorted({_kind(k) for k in source.keys() | target.keys()}):
            left = sorted((k, h) for k, h in source.items() if _kind(k) == kind)
            right = sorted((k, h) for k, h in target.items() if _kind(k) == kind)
            report.kinds.append(
                KindDigest(
                    kind=kind,
                    source_items=len(left),
                    target_items=len(right),
                    source_sha256=hashlib.sha256(json.dumps(left).encode()).hexdigest(),
                    target_sha256=hashlib.sha256(json.dumps(right).encode()).hexdigest(),
                )
            )
        return report
