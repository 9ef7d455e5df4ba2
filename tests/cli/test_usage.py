"""`tenantry tenants usage|health|usage-report`: the numbers an operator watches and bills from."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tenantry.errors import QuotaExceededError, RateLimitedError
from tenantry.metering.meter import UsageMeter
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error

MONTH = "2026-03"
NOON = datetime(2026, 3, 15, 12, 0, 5, tzinfo=UTC).timestamp()


def _tenant(tenantry: Any, tenant_id: str, plan: str, *update: str) -> None:
    assert (
        tenantry("tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Use", "--plan", plan).code == 0
    )
    if update:
        assert tenantry("tenants", "update", tenant_id, *update).code == 0


@pytest.fixture
def metered(tenantry: Any, tenant_id: str, platform: LocalPlatform) -> str:
    """A free tenant that made 4 calls in March (one failed), hit its rate limit once and its quota once."""
    _tenant(tenantry, tenant_id, "free", "--quota", "monthly_tool_calls=4", "--quota", "calls_per_minute=3")
    s = platform.services
    admin = TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "test")
    tenant = admin.context_for(admin.get(tenant_id))
    now = [NOON]
    meter = UsageMeter(s.dynamodb, platform.settings.usage_table, clock=lambda: now[0])
    for tool in ("list_customers", "list_customers", "get_customer"):
        meter.admit(tenant, tool)
    with pytest.raises(RateLimitedError):
        meter.admit(tenant, "list_customers")
    now[0] += 60
    meter.admit(tenant, "list_customers")
    with pytest.raises(QuotaExceededError):
        meter.admit(tenant, "list_customers")
    for ms in (5, 8, 20):
        meter.record(tenant_id, "list_customers", ms, error=False)
    meter.record(tenant_id, "get_customer", 300, error=True)
    meter.flush()
    return tenant_id


def test_usage_of_one_tenant(tenantry: Any, metered: str) -> None:
    usage = tenantry("tenants", "usage", metered, "--month", MONTH, "--json").json()
    assert (usage["calls"], usage["quota_denied"], usage["rate_denied"]) == (4, 1, 1)
    assert usage["tools"]["list_customers"] == {"calls": 3, "errors": 0, "total_ms": 33}
    assert usage["tools"]["get_customer"] == {"calls": 1, "errors": 1, "total_ms": 300}
    assert (usage["monthly_quota"], usage["customers"], usage["max_customers"]) == (4, 0, 100)
    text = tenantry("tenants", "usage", metered, "--month", MONTH).out
    assert "calls      4 of 4" in text and "1 over quota, 1 over rate" in text
    assert "list_customers" in text and "get_customer" in text


def test_health_of_one_tenant(tenantry: Any, metered: str) -> None:
    health = tenantry("tenants", "health", metered, "--month", MONTH, "--json").json()
    assert health["calls"] == 4 and health["errors"] == 1 and health["error_rate_percent"] == 25.0
    assert (health["p50_ms"], health["p99_ms"]) == (10, 500)  # histogram bucket upper bounds
    assert health["quota_used_percent"] == 100.0
    assert (health["rate_denied"], health["quota_denied"], health["calls_per_minute"]) == (1, 1, 3)
    text = tenantry("tenants", "health", metered, "--month", MONTH).out
    assert "errors 1 (25.0%)" in text and "p50 <= 10 ms   p99 <= 500 ms" in text and "(100.0%)" in text
    quiet = tenantry("tenants", "health", metered, "--month", "2026-01").out
    assert "p50 -   p99 -" in quiet


def test_usage_report_json_and_csv_to_bill_from(
    tenantry: Any, metered: str, platform: LocalPlatform, tmp_path: Path
) -> None:
    # A professional tenant whose quota was raised above its plan: 250,500 calls is 50,500 of overage.
    heavy = metered + "-heavy"
    _tenant(tenantry, heavy, "professional", "--quota", "monthly_tool_calls=300000")
    platform.services.dynamodb.update_item(
        TableName=platform.settings.usage_table,
        Key={"pk": {"S": heavy}, "sk": {"S": f"MONTH#{MONTH}"}},
        UpdateExpression="ADD calls :n, #t :n",
        ExpressionAttributeNames={"#t": "t#ec#c"},
        ExpressionAttributeValues={":n": {"N": "250500"}},
    )
    report = tenantry("tenants", "usage-report", "--month", MONTH).json()
    rows = {row["tenant_id"]: row for row in report["tenants"]}
    assert rows[heavy]["overage_calls"] == 50_500 and rows[heavy]["included_calls"] == 200_000
    assert rows[metered]["calls"] == 4 and rows[metered]["overage_calls"] == 0
    assert rows["ironworks-gym"]["customers"] >= 3  # the storage meter
    assert report["totals"]["calls"] >= 250_504 and report["totals"]["tenants"] == len(rows)

    out = tmp_path / "usage.csv"
    run = tenantry("tenants", "usage-report", "--month", MONTH, "--format", "csv", "--output", str(out))
    assert run.code == 0 and f"to {out} (csv)" in run.out
    table = {row["tenant_id"]: row for row in csv.DictReader(io.StringIO(out.read_text()))}
    assert table[heavy]["overage_calls"] == "50500" and table[heavy]["export_customers.calls"] == "250500"
    assert table[metered]["get_customer.errors"] == "1" and table[metered]["list_customers.ms"] == "33"
    assert table[metered]["month"] == MONTH and table[metered]["plan"] == "free"
    json_file = tmp_path / "usage.json"
    assert tenantry("tenants", "usage-report", "--month", MONTH, "--output", str(json_file)).code == 0
    assert json.loads(json_file.read_text())["month"] == MONTH


NOT_A_MONTH = "is not a month: use YYYY-MM, e.g. 2026-12."


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tenants", "usage-report", "--month", "2026-13"], f"'2026-13' {NOT_A_MONTH}"),
        (["tenants", "usage-report", "--month", "March"], f"'March' {NOT_A_MONTH}"),
        (["tenants", "usage-report", "--format", "xml"], "Unknown format 'xml': use json or csv."),
        (["tenants", "usage", "ironworks-gym", "--month", "26-3"], f"'26-3' {NOT_A_MONTH}"),
        (["tenants", "health", "ironworks-gym", "--month", "2026-3"], f"'2026-3' {NOT_A_MONTH}"),
    ],
)
def test_report_input_is_checked(tenantry: Any, argv: list[str], says: str) -> None:
    assert one_line_error(tenantry(*argv)) == f"tenantry: {says}"
