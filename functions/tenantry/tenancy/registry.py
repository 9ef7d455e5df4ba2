"""The tenant registry: one DynamoDB item per tenant, cached per container."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import is_slug_reservation, registry_key, slug_reservation_key
from tenantry.errors import ConflictError, DependencyError, aws_error_code
from tenantry.isolation.cache import tenant_cache_key
from tenantry.tenancy.context import Plan, TenantContext
from tenantry.tenancy.placement import Placement
from tenantry.tenancy.plans import EffectiveConfig, QuotaOverrides, effective_config

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["Branding", "TenantRecord", "TenantRegistry", "TenantStatus"]

TenantStatus = Literal["active", "suspended", "offboarding", "offboarded"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Branding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_name: str | None = Field(default=None, max_length=120)
    primary_color: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$")
    logo_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    custom_domain: str | None = Field(default=None, max_length=253, pattern=r"^[a-z0-9.-]+$")


class TenantRecord(BaseModel):
    tenant_id: str
    slug: str
    display_name: str
    plan: Plan
    status: TenantStatus = "active"
    branding: Branding = Field(default_factory=Branding)
    placement: Placement = Field(default_factory=Placement)
    feature_overrides: dict[str, bool] = Field(default_factory=dict)
    quota_overrides: QuotaOverrides = Field(default_factory=QuotaOverrides)
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    # When the status (and the mark admission checks) last changed: offboarding drains from it.
    status_since: str | None = None
    # Optimistic concurrency: every admin write is conditional on the version it read.
    version: int = 1
    # A running move's journal (tenantry_admin/lifecycle owns its shape); absent when none runs.
    move: dict[str, Any] | None = None

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def config(self) -> EffectiveConfig:
        return effective_config(self.plan, self.feature_overrides, self.quota_overrides)

    def context(
        self, principal: str, request_id: str, data_table: str, registry_version: int | None = None
    ) -> TenantContext:
        """The tenant context of a request (or admin action) acting for this tenant.

        `registry_version`: this record's version when it came from a container's cache, so
        admission can tell it is stale (TenantContext.registry_version).
        """
        return TenantContext(
            tenant_id=self.tenant_id,
            slug=self.slug,
            display_name=self.display_name,
            plan=self.plan,
            principal=principal,
            request_id=request_id,
            data_table=data_table,
            config=self.config(),
            registry_version=registry_version,
        )


# A cached miss (no such tenant) is trusted at most this long, whatever the TTL: a tenant created
# meanwhile has no usage item yet that could tell a container its cached miss is stale.
MISS_SECONDS = 300.0


class TenantRegistry:
    """Reads tenant records; caches each (hits and misses) for `ttl_seconds`, least recently used out first.

    The cache is keyed by tenant id alone, so one tenant's lookup can never be
    answered with another's record. A cached record whose status is not active
    is never trusted: a refused tenant's request re-reads it, so a resume is
    seen at once (a refused request costs one read).

    Every change of a record (save, save_with) is followed by `on_change(tenant_id, version)`: the
    function's stores stamp the tenant's usage items with the new version there, and the admission
    write of the tenant's next call in any container refuses a context read at an older version
    (UsageMeter.stamp, metering/meter.py). That is what lets a container cache a record for an
    hour: the TTL is only the safety net for a stamp that failed.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._clock = clock
        self._on_change = on_change
        # Entries remember when they were read, so a caller may ask for a fresher one than the TTL.
        self._cache: TTLCache[tuple[Hashable, ...], tuple[float, TenantRecord | None]] = TTLCache(
            maxsize=max_entries, ttl=ttl_seconds, timer=clock
        )
        self._lock = threading.Lock()

    def get(self, tenant_id: str, max_age: float | None = None) -> TenantRecord | None:
        """The record as of at most `ttl_seconds` (or `max_age`, if smaller) ago: the request path."""
        key = tenant_cache_key(tenant_id, "registry")
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            read_at, record = cached
            limit = self._ttl if max_age is None else min(max_age, self._ttl)
            if record is None:
                limit = min(limit, MISS_SECONDS)
            fresh_enough = now - read_at < limit
            if fresh_enough and (record is None or record.status == "active"):
                return record
        # tools/call (no max_age) re-reads an expired record eventually consistent, at half a read unit:
        # its admission write checks the record's version against the stamp on the usage item, and a
        # stale read is refused there and read again, consistently (max_age=0). A refusal is decided on a
        # consistent read (a tenant created or resumed a moment ago must not be refused as unknown or
        # suspended).
        record = self.load(tenant_id, consistent=max_age is not None)
        if max_age is None and (record is None or record.status != "active"):
            record = self.load(tenant_id)
        if self._ttl > 0:
            with self._lock:
                self._cache[key] = (now, record)
        return record

    def load(self, tenant_id: str, consistent: bool = True) -> TenantRecord | None:
        """The record as stored now (admin paths), bypassing the cache; `consistent=False`: maybe a second older."""
        item = self._client.get_item(
            TableName=self._table, Key=to_attrs(registry_key(tenant_id)), ConsistentRead=consistent
        ).get("Item")
        return TenantRecord.model_validate(from_attrs(item)) if item else None

    def put(self, record: TenantRecord) -> None:
        """Unconditional write, no stamp: seeding and tests only. Operators go through create/save."""
        self._client.put_item(TableName=self._table, Item=to_attrs(record.to_item()))
        self.invalidate(record.tenant_id)

    def create(self, record: TenantRecord) -> TenantRecord:
        """Write a new tenant; its id and its slug must both be unused (one transaction)."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_attrs(record.to_item()),
                            "ConditionExpression": "attribute_not_exists(tenant_id)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_attrs({**slug_reservation_key(record.slug), "owner": record.tenant_id}),
                            "ConditionExpression": "attribute_not_exists(tenant_id)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                which = "tenant id" if reasons and reasons[0] == "ConditionalCheckFailed" else "slug"
                value = record.tenant_id if which == "tenant id" else record.slug
                raise ConflictError(f"The {which} '{value}' is already taken.") from None
            raise
        self.invalidate(record.tenant_id)
        return record

    def save(self, record: TenantRecord, expected_version: int) -> TenantRecord:
        """Replace a tenant's record if nobody changed it since `expected_version` was read."""
        self._stamper(record.tenant_id)
        updated = record.model_copy(update={"version": expected_version + 1, "updated_at": _now()})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attrs(updated.to_item()),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=to_attrs({":v": expected_version}),
            )
        except ClientError as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"Tenant '{record.tenant_id}' was changed by someone else since version {expected_version}; "
                    "show it again and retry."
                ) from None
            raise
        self.invalidate(record.tenant_id)
        self._changed(updated)
        return updated

    def save_with(
        self, record: TenantRecord, expected_version: int, also: Sequence[Mapping[str, Any]], token: str
    ) -> TenantRecord:
        """`save`, and the TransactItems `also` in the same transaction: all of it is written or none.

        `token` is the ClientRequestToken: a resend of this change within 10 minutes (a retry after a
        lost response) is answered as done instead of failing the version it already bumped.
        ConflictError if the version moved on or any of `also` refused its condition.
        """
        self._stamper(record.tenant_id)
        updated = record.model_copy(update={"version": expected_version + 1, "updated_at": _now()})
        put = {"Put": {"TableName": self._table, "Item": to_attrs(updated.to_item()), **_version_is(expected_version)}}
        self._transact(record.tenant_id, expected_version, [put, *also], token)
        self._changed(updated)
        return updated

    def confirm_with(self, record: TenantRecord, also: Sequence[Mapping[str, Any]], token: str) -> None:
        """Write `also` only if the stored record is still at `record.version` (one transaction)."""
        check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_attrs(registry_key(record.tenant_id)),
                **_version_is(record.version),
            }
        }
        self._transact(record.tenant_id, record.version, [check, *also], token)

    def _stamper(self, tenant_id: str) -> Callable[[str, int], None]:
        """on_change, checked before anything is written: a registry that changes records must have one."""
        if self._on_change is None:
            # A programming error: a registry that writes must tell the containers (tenantry/stores.py
            # wires UsageMeter.stamp); one that only reads needs none.
            raise RuntimeError(f"registry write of tenant {tenant_id} without on_change: see TenantRegistry")
        return self._on_change

    def _changed(self, record: TenantRecord) -> None:
        """Tell running containers (through the tenant's usage items) that `record` is the new version.

        After the write, not in its transaction: the status marks already share that transaction
        and the same usage items, and a transaction may touch an item once. A stamp that fails
        leaves containers on the old record until their cache TTL; the error says so.
        """
        try:
            self._stamper(record.tenant_id)(record.tenant_id, record.version)
        except ClientError as exc:
            code = aws_error_code(exc) or "error"
            raise DependencyError(
                f"Tenant '{record.tenant_id}' was saved (version {record.version}), but running containers could "
                f"not be told ({code}); each sees the change when its cached copy expires (registry_cache_seconds).",
                retryable=False,
                aws_code=code,
            ) from exc

    def _transact(self, tenant_id: str, version: int, items: list[Mapping[str, Any]], token: str) -> None:
        try:
            self._client.transact_write_items(TransactItems=items, ClientRequestToken=token)  # type: ignore[arg-type]
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise ConflictError(
                    f"Tenant '{tenant_id}' was changed by someone else since version {version}."
                ) from None
            raise
        finally:
            self.invalidate(tenant_id)

    def all(self) -> list[TenantRecord]:
        """Every tenant (operator listing; the function's role cannot Scan)."""
        records: list[TenantRecord] = []
        for page in self._client.get_paginator("scan").paginate(TableName=self._table):
            for item in page.get("Items", []):
                values = from_attrs(item)
                if not is_slug_reservation(str(values.get("tenant_id", ""))):
                    records.append(TenantRecord.model_validate(values))
        return sorted(records, key=lambda r: r.tenant_id)

    def invalidate(self, tenant_id: str | None = None) -> None:
        with self._lock:
            if tenant_id is None:
                self._cache.clear()
            else:
                self._cache.pop(tenant_cache_key(tenant_id, "registry"), None)

    def cached(self) -> int:
        """How many records this container holds (tests and benchmarks)."""
        with self._lock:
            return len(self._cache)


def _version_is(version: int) -> dict[str, Any]:
    """The condition of every registry write: the record is still at the version that was read."""
    return {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": to_attrs({":v": version}),
    }
