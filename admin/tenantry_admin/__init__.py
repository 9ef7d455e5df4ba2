"""The operator package: onboarding, changes, suspension, offboarding, usage reports, health, and the CLI.

Not shipped to Lambda. tenants.py, offboarding.py and reports.py are free of argparse and
printing (an admin Lambda could reuse them); cli.py is the `tenantry` console script and
commands.py parses, calls them and shapes the answer; target.py finds where to act
(the running local server or a deployed stack).
"""

from tenantry_admin.offboarding import Offboarder, OffboardReport
from tenantry_admin.reports import HealthReport, UsageLine, UsageReport, health, usage_line, usage_report
from tenantry_admin.tenants import AdminResult, TenantAdmin, TenantChanges

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
