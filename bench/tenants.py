"""Tenants the benches register on the local platform, and quota overrides that take effect at once."""

from __future__ import annotations

import uuid

from bench.events import TENANT
from tenantry.mcp_server.app import LambdaApp
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.plans import QUOTA_MAX, Plan, QuotaOverrides
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.platform import LocalPlatform

__all__ = ["context_for", "lift_limits", "new_tenant", "set_quotas"]


def new_tenant(platform: LocalPlatform, plan: Plan = "starter", **quotas: int) -> TenantRecord:
    """Register a tenant no container has seen (the pattern of tests/conftest.py's new_tenant)."""
    suffix = uuid.uuid4().hex[:8]
    record = TenantRecord(
        tenant_id=f"bench-{suffix}",
        slug=f"bench{suffix}",
        display_name=f"Bench {suffix}",
        plan=plan,
        quota_overrides=QuotaOverrides(**quotas),
    )
    platform.services.registry.put(record)
    _invalidate(platform, record.tenant_id)
    return record


def set_quotas(platform: LocalPlatform, tenant_id: str, **quotas: int) -> TenantRecord:
    record = platform.services.registry.load(tenant_id)
    if record is None:
        raise LookupError(f"tenant {tenant_id} is not registered")
    record = record.model_copy(update={"quota_overrides": QuotaOverrides(**quotas)})
    platform.services.registry.put(record)
    _invalidate(platform, tenant_id)
    return record


def lift_limits(platform: LocalPlatform) -> TenantRecord:
    """Take the monthly quota and the per-minute rate out of the way of the seeded bench tenant."""
    return set_quotas(platform, TENANT, monthly_tool_calls=QUOTA_MAX, calls_per_minute=1_000_000)


def context_for(record: TenantRecord, platform: LocalPlatform) -> TenantContext:
    """The context the gateway would build for `record`, for calling runtime pieces directly."""
    return record.context("bench", "bench", platform.services.resolver.table_of(record))


def _invalidate(platform: LocalPlatform, tenant_id: str) -> None:
    # Each emulated container caches registry records for 5 minutes: an override would stay invisible.
    for container in platform.emulator.containers:
        if isinstance(container.app, LambdaApp):
            container.app.services.registry.invalidate(tenant_id)
