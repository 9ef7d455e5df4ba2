"""Fleet commands at any size: `tenants list` (paged, filtered), `usage-report` (every tenant), `top`."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from tenantry_admin import fleet
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error

MONTH = "2031-04"


@pytest.fixture
def fleet_of(tenantry: Any, tmp_path: Path) -> Any:
    """Import a small fleet (free, starter, business, a suspended one) under a fresh prefix."""

    def make() -> str:
        prefix = f"fl{uuid.uuid4().hex[:6]}"
        rows = [
            f"{prefix}-free,{prefix}-free,Free,free,pool",
            f"{prefix}-start,{prefix}-start,Start,starter,pool",
            f"{prefix}-biz,{prefix}-biz,Biz,business,silo",
            f"{prefix}-gone,{prefix}-gone,Gone,starter,pool",
        ]
        source = tmp_path / f"{prefix}.csv"
        source.write_text("id,slug,name,plan,placement\n" + "\n".join(rows) + "\n")
        assert tenantry("tenants", "import", str(source)).code == 0
        assert tenantry("tenants", "suspend", f"{prefix}-gone").code == 0
        return prefix

    return make


def _ids(rows: list[dict[str, Any]], prefix: str) -> list[str]:
    return sorted(r["tenant_id"] for r in rows if r["tenant_id"].startswith(prefix))


def test_list_pages_through_the_registry_with_filters(
    tenantry: Any, fleet_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = fleet_of()
    monkeypatch.setattr(fleet, "PAGE_SIZE", 3)  # many pages: every one is read and printed
    everyone = tenantry("tenants", "list", "--json").json()
    assert _ids(everyone, prefix) == sorted(f"{prefix}-{s}" for s in ("biz", "free", "gone", "start"))
    assert "ironworks-gym" in [r["tenant_id"] for r in everyone]
    assert _ids(tenantry("tenants", "list", "--plan", "business", "--json").json(), prefix) == [f"{prefix}-biz"]
    assert _ids(tenantry("tenants", "list", "--plan", "free,starter", "--json").json(), prefix) == [
        f"{prefix}-free",
        f"{prefix}-gone",
        f"{prefix}-start",
    ]
    assert _ids(tenantry("tenants", "list", "--status", "suspended", "--json").json(), prefix) == [f"{prefix}-gone"]
    assert _ids(tenantry("tenants", "list", "--placement", "silo", "--json").json(), prefix) == [f"{prefix}-biz"]
    both = tenantry("tenants", "list", "--plan", "starter", "--status", "active", "--json").json()
    assert _ids(both, prefix) == [f"{prefix}-start"]
    text = tenantry("tenants", "list", "--plan", "business")
    assert f"{prefix}-biz" in text.out and f"{prefix}-free" not in text.out
    assert text.out.splitlines()[0].startswith("TENANT") and text.out.rstrip().endswith("tenant(s)")
    assert tenantry("tenants", "list", "--plan", "gold", "--json").code == 2
    assert "Unknown placement 'moon'" in one_line_error(tenantry("tenants", "list", "--placement", "moon"))
    assert tenantry("tenants", "list", "--status", "asleep").code == 2


def test_usage_report_covers_every_tenant_with_zeros(
    tenantry: Any, fleet_of: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = fleet_of()
    monkeypatch.setattr(fleet, "PAGE_SIZE", 3)
    listed = tenantry("tenants", "list", "--json").json()
    report = tenantry("tenants", "usage-report", "--month", "2019-01").json()
    assert sorted(r["tenant_id"] for r in report["tenants"]) == sorted(r["tenant_id"] for r in listed)
    assert report["totals"]["tenants"] == len(listed)
    mine = {r["tenant_id"]: r for r in report["tenants"] if r["tenant_id"].startswith(prefix)}
    assert len(mine) == 4 and all(r["calls"] == 0 and r["customers"] == 0 for r in mine.values())
    out = tmp_path / "u.csv"
    assert tenantry("tenants", "usage-report", "--month", "2019-01", "--format", "csv", "--output", str(out)).code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(listed) and {r["calls"] for r in rows if r["tenant_id"].startswith(prefix)} == {"0"}


def _usage(platform: LocalPlatform, tenant_id: str, calls: int, errors: int, refused: int) -> None:
    platform.services.dynamodb.update_item(
        TableName=platform.settings.usage_table,
        Key={"pk": {"S": tenant_id}, "sk": {"S": f"MONTH#{MONTH}"}},
        UpdateExpression="ADD calls :c, #e :e, quota_denied :q",
        ExpressionAttributeNames={"#e": "t#gc#e"},
        ExpressionAttributeValues={":c": {"N": str(calls)}, ":e": {"N": str(errors)}, ":q": {"N": str(refused)}},
    )


def test_top_ranks_by_calls_errors_or_refusals(
    tenantry: Any, fleet_of: Any, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = fleet_of()
    base = 10**12  # far above anything else the session's tenants did in this month
    _usage(platform, f"{prefix}-free", base + 3, 1, 50)
    _usage(platform, f"{prefix}-start", base + 2, 90, 0)
    _usage(platform, f"{prefix}-biz", base + 1, 5, 7)
    monkeypatch.setattr(fleet, "PAGE_SIZE", 2)

    def top(by: str, limit: str = "3") -> list[str]:
        result = tenantry("tenants", "top", "--month", MONTH, "--by", by, "--limit", limit, "--json").json()
        return [r["tenant_id"] for r in result["tenants"] if r["tenant_id"].startswith(prefix)]

    assert top("calls") == [f"{prefix}-free", f"{prefix}-start", f"{prefix}-biz"]
    assert top("errors", "2") == [f"{prefix}-start", f"{prefix}-biz"]
    assert top("refusals", "1") == [f"{prefix}-free"]
    text = tenantry("tenants", "top", "--month", MONTH)
    assert text.out.startswith("Top ") and f"{prefix}-free" in text.out and "business" in text.out
    assert "Unknown --by 'latency'" in one_line_error(tenantry("tenants", "top", "--by", "latency"))
