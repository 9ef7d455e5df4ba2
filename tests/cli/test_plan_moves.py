"""`tenants update --plan`: a plan that needs another placement moves the tenant (said first; --no-move keeps it)."""

from __future__ import annotations

from typing import Any

from tenantry.tenancy.placement import place_tenant
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error
from tests.cli.test_move import _create, _partition


def _show(tenantry: Any, tenant_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = tenantry("tenants", "show", tenant_id, "--json").json()
    return shown


def test_an_upgrade_moves_into_a_silo_and_a_downgrade_moves_back(
    platform: LocalPlatform, tenantry: Any, tenant_id: str
) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "professional",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0
    _create(platform, tenant_id, 30)
    before = _partition("tenantry-data", tenant_id)
    silo = platform.settings.silo_table_prefix + tenant_id

    run = tenantry("tenants", "update", tenant_id, "--plan", "business", "--yes")
    assert run.code == 0, run.err
    assert (
        f"The business plan places {tenant_id} in silo. Move {tenant_id} from pool (tenantry-data) to silo" in run.err
    )
    assert "31 item(s)" in run.err
    assert f"Moved {tenant_id} to silo ({silo})" in run.out
    shown = _show(tenantry, tenant_id)
    assert shown["plan"] == "business" and shown["placement"]["mode"] == "silo" and shown["data_table"] == silo
    assert _partition(silo, tenant_id) == before and _partition("tenantry-data", tenant_id) == {}

    run = tenantry("tenants", "update", tenant_id, "--plan", "starter", "--yes")
    assert run.code == 0, run.err
    home = place_tenant(tenant_id, "starter", len(platform.settings.cells()))
    table = platform.settings.cells()[home.cell]
    assert f"Moved {tenant_id} to {home.mode}" in run.out and f"({table})" in run.out
    shown = _show(tenantry, tenant_id)
    assert shown["plan"] == "starter" and shown["data_table"] == table
    assert _partition(table, tenant_id) == before
    assert silo not in local_client("dynamodb").list_tables()["TableNames"]


def test_no_move_keeps_the_placement_and_says_so(platform: LocalPlatform, tenantry: Any, tenant_id: str) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "starter",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0
    run = tenantry("tenants", "update", tenant_id, "--plan", "business", "--no-move")
    assert run.code == 0, run.err
    assert f"Kept {tenant_id} in pool (tenantry-data) as asked (--no-move)" in run.out
    assert f"tenantry tenants move {tenant_id} --to silo" in run.out
    shown = _show(tenantry, tenant_id)
    assert shown["plan"] == "business" and shown["placement"]["mode"] == "pool"
    # Running the plan change again (without --no-move) now moves it: the placement follows the plan.
    run = tenantry("tenants", "update", tenant_id, "--plan", "business", "--yes")
    assert run.code == 0, run.err
    assert _show(tenantry, tenant_id)["placement"]["mode"] == "silo"


def test_an_unconfirmed_plan_move_changes_nothing(platform: LocalPlatform, tenantry: Any, tenant_id: str) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "starter",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0
    version = _show(tenantry, tenant_id)["version"]
    line = one_line_error(tenantry("tenants", "update", tenant_id, "--plan", "business"))
    assert "places" in line and "pass --yes" in line
    shown = _show(tenantry, tenant_id)
    assert shown["plan"] == "starter" and shown["version"] == version
    # A plan change that needs no move needs no confirmation.
    assert tenantry("tenants", "update", tenant_id, "--plan", "professional").code == 0
