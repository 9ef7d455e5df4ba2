"""Operator logic: onboarding, changes, suspension, offboarding, usage reports, health.

Free of argparse and printing, so an admin Lambda can reuse it; the `tenantry`
CLI (local/tenantry_local/admin_cli.py) parses, calls this, and shapes the answer.
"""

from tenantry.admin.offboarding import Offboarder, OffboardReport
from tenantry.admin.reports import HealthReport, UsageLine, UsageReport, health, usage_line, usage_report
from tenantry.admin.tenants import AdminResult, TenantAdmin, TenantChanges

__all__ = [
    "AdminResult",
    "HealthReport",
    "OffboardReport",
    "Offboarder",
    "TenantAdmin",
    "TenantChanges",
    "UsageLine",
    "UsageReport",
    "health",
    "usage_line",
    "usage_report",
]
