"""Where a tenant's data lives: the pool, one of N cells, or its own silo table.

Tools never see this: the tenant context carries the table, and keys are built
the same way in every mode.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel

__all__ = ["IsolationMode", "Placement", "is_home", "place_tenant", "table_for"]

IsolationMode = Literal["pool", "cell", "silo"]


class Placement(BaseModel):
    mode: IsolationMode = "pool"
    cell: int = 0


def place_tenant(tenant_id: str, plan: str, cell_count: int, silo_plans: frozenset[str] = frozenset()) -> Placement:
    """Placement at onboarding: silo for the plans that get one, else a stable hash over the cells.

    The result is stored in the registry, so changing the cell count later does
    not move existing tenants; moving one is an explicit migration.
    """
    if plan in silo_plans:
        return Placement(mode="silo")
    if cell_count <= 1:
        return Placement(mode="pool", cell=0)
    digest = int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:8], "big")
    return Placement(mode="cell", cell=digest % cell_count)


def table_for(tenant_id: str, placement: Placement, cells: list[str], silo_prefix: str) -> str:
    if placement.mode == "silo":
        return silo_prefix + tenant_id
    if not 0 <= placement.cell < len(cells):
        raise LookupError(f"tenant {tenant_id} is placed in cell {placement.cell}, which this deployment lacks")
    return cells[placement.cell]


def is_home(tenant_id: str, table: str, cells: list[str], silo_prefix: str) -> bool:
    """Whether `table` is one a tenant may live in: a cell of this deployment or its own silo."""
    return table in cells or table == silo_prefix + tenant_id
