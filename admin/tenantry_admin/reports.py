"""The operator's numbers: a monthly usage report to bill from, and one tenant's health.

Billing columns, per tenant and month:
- `calls`: tool calls admitted (refused calls are never counted);
- `included_calls`: what the plan includes; `overage_calls`: calls beyond it (only
  possible when an operator raised the tenant's quota above the plan's);
- `customers`: stored customers when the report runs (the storage meter);
- per tool: calls, errors and total milliseconds.
Errors and durations reach the usage table with a tenant's next call from the
same container, so the current month's error and latency figures lag slightly;
calls, refusals and customers are exact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from tenantry.dal.customers import CustomerStore
from tenantry.errors import InvalidInputError
from tenantry.metering.meter import MonthUsage, ToolUsage, month_of
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.plans import PLANS
from tenantry.tenancy.registry import TenantRecord

__all__ = [
    "CSV_COLUMNS",
    "HealthReport",
    "UsageLine",
    "UsageReport",
    "current_month",
    "customers_of",
    "health",
    "report_csv",
    "usage_line",
    "usage_report",
    "validate_month",
]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

CSV_COLUMNS = (
    "tenant_id",
    "slug",
    "display_name",
    "plan",
    "status",
    "month",
    "calls",
    "included_calls",
    "overage_calls",
    "monthly_quota",
    "quota_denied",
    "rate_denied",
    "errors",
    "total_ms",
    "customers",
    "max_customers",
)


def current_month() -> str:
    return month_of(datetime.now(UTC))


def validate_month(month: str | None) -> str:
    if month is None:
        return current_month()
    if not _MONTH.fullmatch(month):
        raise InvalidInputError(f"'{month[:20]}' is not a month: use YYYY-MM, e.g. {current_month()}.")
    return month


class UsageLine(BaseModel):
    tenant_id: str
    slug: str
    display_name: str
    plan: str
    status: str
    month: str
    calls: int
    included_calls: int
    overage_calls: int
    monthly_quota: int
    quota_denied: int
    rate_denied: int
    errors: int
    total_ms: int
    customers: int
    max_customers: int
    tools: dict[str, ToolUsage]


class UsageReport(BaseModel):
    month: str
    generated_at: str
    tenants: list[UsageLine]
    totals: dict[str, int]


class HealthReport(BaseModel):
    tenant_id: str
    status: str
    plan: str
    month: str
    calls: int
    errors: int
    error_rate_percent: float
    p50_ms: int | None
    p99_ms: int | None
    monthly_quota: int
    quota_used_percent: float
    quota_denied: int
    rate_denied: int
    calls_per_minute: int
    customers: int
    max_customers: int
    customers_used_percent: float


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def customers_of(store: CustomerStore, record: TenantRecord, tenant: TenantContext) -> int:
    """Stored customers now; an offboarded tenant has none (and maybe no table left to ask)."""
    if record.status in ("offboarding", "offboarded"):
        return 0
    return store.count(tenant)


def usage_line(record: TenantRecord, usage: MonthUsage, customers: int) -> UsageLine:
    config = record.config()
    included = PLANS[record.plan].monthly_tool_calls
    return UsageLine(
        tenant_id=record.tenant_id,
        slug=record.slug,
        display_name=record.display_name,
        plan=record.plan,
        status=record.status,
        month=usage.month,
        calls=usage.calls,
        included_calls=included,
        overage_calls=max(0, usage.calls - included),
        monthly_quota=config.monthly_tool_calls,
        quota_denied=usage.quota_denied,
        rate_denied=usage.rate_denied,
        errors=sum(t.errors for t in usage.tools.values()),
        total_ms=sum(t.total_ms for t in usage.tools.values()),
        customers=customers,
        max_customers=config.max_customers,
        tools=dict(sorted(usage.tools.items())),
    )


def usage_report(month: str, lines: Iterable[UsageLine]) -> UsageReport:
    rows = list(lines)
    totals = {
        name: sum(int(getattr(row, name)) for row in rows)
        for name in ("calls", "overage_calls", "quota_denied", "rate_denied", "errors", "customers")
    }
    return UsageReport(
        month=month,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tenants=rows,
        totals={"tenants": len(rows), **totals},
    )


def report_csv(report: UsageReport) -> str:
    """One row per tenant; a column per tool any tenant used this month (sorted), for spreadsheets."""
    tools = sorted({t for row in report.tenants for t in row.tools})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *(f"{tool}.{kind}" for tool in tools for kind in ("calls", "errors", "ms"))])
    for row in report.tenants:
        values: list[Any] = [getattr(row, name) for name in CSV_COLUMNS]
        for tool in tools:
            usage = row.tools.get(tool, ToolUsage())
            values += [usage.calls, usage.errors, usage.total_ms]
        writer.writerow(values)
    return out.getvalue()


def health(record: TenantRecord, usage: MonthUsage, customers: int) -> HealthReport:
    config = record.config()
    errors = sum(t.errors for t in usage.tools.values())
    return HealthReport(
        tenant_id=record.tenant_id,
        status=record.status,
        plan=record.plan,
        month=usage.month,
        calls=usage.calls,
        errors=errors,
        error_rate_percent=_percent(errors, usage.calls),
        p50_ms=usage.percentile_ms(0.5),
        p99_ms=usage.percentile_ms(0.99),
        monthly_quota=config.monthly_tool_calls,
        quota_used_percent=_percent(usage.calls, config.monthly_tool_calls),
        quota_denied=usage.quota_denied,
        rate_denied=usage.rate_denied,
        calls_per_minute=config.calls_per_minute,
        customers=customers,
        max_customers=config.max_customers,
        customers_used_percent=_percent(customers, config.max_customers),
    )
