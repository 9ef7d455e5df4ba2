"""The tenant's own view of its usage this month."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from tenantry.dal.customers import CustomerStore
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.metering.meter import ToolUsage, UsageMeter, month_of
from tenantry.tenancy.context import current_tenant

__all__ = ["UsageReport", "UsageService"]


class UsageReport(BaseModel):
    model_config = BUILT_WHEN_USED
    month: str
    plan: str
    tool_calls: int
    monthly_tool_calls_limit: int
    remaining_tool_calls: int
    resets_at: str
    calls_per_minute_limit: int
    customers: int
    max_customers: int
    tools: dict[str, ToolUsage]


class UsageService:
    def __init__(self, meter: UsageMeter, customers: CustomerStore, clock: Callable[[], float] = time.time) -> None:
        self._meter = meter
        self._customers = customers
        self._clock = clock

    def report(self) -> UsageReport:
        tenant = current_tenant()
        now = datetime.fromtimestamp(self._clock(), UTC)
        self._meter.flush_tenant(tenant.tenant_id)
        usage = self._meter.month(tenant.tenant_id, month_of(now))
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        resets = (first + timedelta(days=32)).replace(day=1)
        limit = tenant.config.monthly_tool_calls
        return UsageReport(
            month=usage.month,
            plan=tenant.plan,
            tool_calls=usage.calls,
            monthly_tool_calls_limit=limit,
            remaining_tool_calls=max(0, limit - usage.calls),
            resets_at=resets.isoformat(),
            calls_per_minute_limit=tenant.config.calls_per_minute,
            customers=self._customers.count(tenant),
            max_customers=tenant.config.max_customers,
            tools=usage.tools,
        )
