"""Plan changes that need another placement: an upgrade to a silo plan, a downgrade out of one."""

from __future__ import annotations

from tenantry.tenancy.placement import Placement, place_tenant
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.tenants import TenantAdmin

__all__ = ["placement_for_plan"]


def placement_for_plan(admin: TenantAdmin, record: TenantRecord, plan: str) -> Placement | None:
    """Where a tenant on `plan` belongs, if not where it is: its silo, or (leaving one) the pool or its hashed cell.

    A tenant placed by hand in a cell or the pool stays there while its plan needs no silo.
    """
    if plan in admin.silo_plans:
        return None if record.placement.mode == "silo" else Placement(mode="silo")
    if record.placement.mode != "silo":
        return None
    return place_tenant(record.tenant_id, plan, len(admin.settings.cells()))
