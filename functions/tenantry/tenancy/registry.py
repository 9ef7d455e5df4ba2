"""The tenant registry: one DynamoDB item per tenant, cached per container."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tenantry.ddb_items import from_attrs, to_attrs
from tenantry.tenancy.context import Plan
from tenantry.tenancy.placement import Placement

__all__ = ["Branding", "TenantRecord", "TenantRegistry", "TenantStatus"]

TenantStatus = Literal["active", "suspended", "offboarded"]


class Branding(BaseModel):
    company_name: str | None = None
    primary_color: str | None = None
    logo_url: str | None = None


class TenantRecord(BaseModel):
    tenant_id: str
    slug: str
    display_name: str
    plan: Plan
    status: TenantStatus = "active"
    branding: Branding = Field(default_factory=Branding)
    placement: Placement = Field(default_factory=Placement)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class TenantRegistry:
    """Reads tenant records; caches each (hits and misses) for `ttl_seconds`.

    The cache is keyed by tenant id alone, so one tenant's lookup can never be
    answered with another's record.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, TenantRecord | None]] = {}

    def get(self, tenant_id: str) -> TenantRecord | None:
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        item = self._client.get_item(
            TableName=self._table, Key=to_attrs({"tenant_id": tenant_id}), ConsistentRead=True
        ).get("Item")
        record = TenantRecord.model_validate(from_attrs(item)) if item else None
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[tenant_id] = (now, record)
        return record

    def put(self, record: TenantRecord) -> None:
        self._client.put_item(TableName=self._table, Item=to_attrs(record.to_item()))
        self._cache.pop(record.tenant_id, None)

    def invalidate(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)
