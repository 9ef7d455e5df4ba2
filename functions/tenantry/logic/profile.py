"""The tenant's own profile, as its users may see it."""

from __future__ import annotations

from pydantic import BaseModel

from tenantry.errors import NotFoundError
from tenantry.tenancy.context import current_tenant
from tenantry.tenancy.registry import Branding, TenantRegistry

__all__ = ["ProfileService", "TenantProfile"]


class TenantProfile(BaseModel):
    tenant_id: str
    slug: str
    display_name: str
    plan: str
    status: str
    branding: Branding


class ProfileService:
    def __init__(self, registry: TenantRegistry) -> None:
        self._registry = registry

    def get(self) -> TenantProfile:
        tenant = current_tenant()
        record = self._registry.get(tenant.tenant_id)
        if record is None:  # offboarded between the gateway check and now
            raise NotFoundError("Your organisation's profile could not be found. Sign in again.")
        return TenantProfile(
            tenant_id=record.tenant_id,
            slug=record.slug,
            display_name=record.display_name,
            plan=record.plan,
            status=record.status,
            branding=record.branding,
        )
