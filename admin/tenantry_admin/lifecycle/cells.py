"""`tenantry cells show|rebalance`: tenants and items per pooled cell, and the moves that even them out."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from tenantry.tenancy.placement import Placement
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.tenants import TenantAdmin

__all__ = ["CellLoad", "PlannedMove", "cell_loads", "rebalance_plan"]

_SERVED = ("active", "suspended")


class CellLoad(BaseModel):
    cell: int
    table: str
    tenants: int
    # DescribeTable's ItemCount: every tenant's items in the table (AWS refreshes it about every six hours).
    items: int
    tenant_ids: list[str]


@dataclass(frozen=True)
class PlannedMove:
    tenant_id: str
    source: int
    target: int


def _cell_of(record: TenantRecord) -> int | None:
    if record.status not in _SERVED or record.move is not None or record.placement.mode == "silo":
        return None
    return record.placement.cell


def cell_loads(admin: TenantAdmin) -> list[CellLoad]:
    cells = admin.settings.cells()
    records = admin.tenants()
    loads = []
    for number, table in enumerate(cells):
        ids = sorted(r.tenant_id for r in records if _cell_of(r) == number)
        count = int(admin.dynamodb.describe_table(TableName=table)["Table"].get("ItemCount", 0))
        loads.append(CellLoad(cell=number, table=table, tenants=len(ids), items=count, tenant_ids=ids))
    return loads


def rebalance_plan(loads: list[CellLoad]) -> list[PlannedMove]:
    """Fewest moves that leave every cell within one tenant of the others (a new, empty cell fills first)."""
    counts = {load.cell: list(load.tenant_ids) for load in loads}
    moves: list[PlannedMove] = []
    while True:
        fullest = max(counts, key=lambda c: (len(counts[c]), -c))
        emptiest = min(counts, key=lambda c: (len(counts[c]), c))
        if len(counts[fullest]) - len(counts[emptiest]) <= 1:
            return moves
        tenant_id = counts[fullest].pop()  # the last by id: stable, so a dry run and --apply agree
        counts[emptiest].append(tenant_id)
        moves.append(PlannedMove(tenant_id, fullest, emptiest))


def target_of(move: PlannedMove) -> Placement:
    return Placement(mode="cell", cell=move.target)
