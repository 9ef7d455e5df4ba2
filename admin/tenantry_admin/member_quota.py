"""The per-plan `max_members` quota: how many users may sign in for a tenant.

Checked by the operator's commands (`members add`, `members import`) against a count of the
tenant's memberships before writing. The members table has no per-tenant counter, so two
operators adding at the same moment could each pass the check; the quota is a commercial limit
an operator applies, not an isolation boundary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from tenantry.dal.items import from_attrs
from tenantry.errors import InvalidInputError
from tenantry.tenancy.plans import PLANS
from tenantry.tenancy.registry import TenantRecord

if TYPE_CHECKING:
    from tenantry.dal.members import MembershipStore

__all__ = ["limit_text", "member_counts", "require_room"]


def limit_text(record: TenantRecord) -> str:
    """Where the tenant's limit comes from, for the refusal: its plan's, or an override."""
    limit = record.config().max_members
    if record.quota_overrides.max_members is not None:
        return f"its quota override allows {limit:,} (the {record.plan} plan: {PLANS[record.plan].max_members:,})"
    return f"the {record.plan} plan allows {limit:,}"


def require_room(record: TenantRecord, current: int, adding: int) -> None:
    limit = record.config().max_members
    if current + adding > limit:
        raise InvalidInputError(
            f"{record.tenant_id} has {current:,} member(s) and {limit_text(record)}; nothing was written. "
            f"Raise it with `tenantry tenants update {record.tenant_id} --quota max_members=N` or a larger plan."
        )


def member_counts(client: Any, members: MembershipStore, tenants: AbstractSet[str]) -> Counter[str]:
    """Memberships per tenant, for these tenants: one Scan of the members table (operator path only)."""
    counts: Counter[str] = Counter()
    for page in client.get_paginator("scan").paginate(TableName=members.table_name, ProjectionExpression="tenant_id"):
        for item in page.get("Items", []):
            tenant = str(from_attrs(item)["tenant_id"])
            if tenant in tenants:
                counts[tenant] += 1
    return counts
