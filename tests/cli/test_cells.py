"""`tenantry cells show|rebalance`: load per cell, and the fewest moves that even the cells out."""

from __future__ import annotations

from typing import Any

from tenantry_admin.lifecycle.cells import CellLoad, PlannedMove, rebalance_plan


def _load(cell: int, tenants: list[str]) -> CellLoad:
    return CellLoad(cell=cell, table=f"t{cell}", tenants=len(tenants), items=0, tenant_ids=tenants)


def test_a_new_empty_cell_is_filled_until_every_cell_is_within_one() -> None:
    loads = [_load(0, [f"a{i}" for i in range(5)]), _load(1, [f"b{i}" for i in range(4)]), _load(2, [])]
    moves = rebalance_plan(loads)
    assert moves == [PlannedMove("a4", 0, 2), PlannedMove("a3", 0, 2), PlannedMove("b3", 1, 2)]
    assert rebalance_plan([_load(0, ["a", "b"]), _load(1, ["c"])]) == []


def test_cells_show_and_a_dry_run_rebalance(tenantry: Any, tenant_id: str) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "starter",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0
    shown = tenantry("cells", "show", "--json")
    assert shown.code == 0, shown.err
    cells = shown.json()
    assert [c["cell"] for c in cells] == [0, 1] and tenant_id in cells[0]["tenant_ids"]
    assert all(c["items"] >= 0 for c in cells)
    text = tenantry("cells", "show").out
    assert text.startswith("CELL") and "tenantry-data-cell-1" in text
    before = tenantry("tenants", "show", tenant_id, "--json").json()["version"]
    run = tenantry("cells", "rebalance")
    assert run.code == 0, run.err
    assert "nothing to move" in run.out or "Dry run: pass --apply" in run.out
    assert tenantry("tenants", "show", tenant_id, "--json").json()["version"] == before  # a dry run writes nothing
