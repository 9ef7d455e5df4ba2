"""The tenant's own profile, as its users may see it."""

from __future__ import annotations

from pydantic import BaseModel

from tenantry.dal.branding import BrandingAssets
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
    def __init__(self, registry: TenantRegistry, assets: BrandingAssets | None = None) -> None:
        self._registry = registry
        self._assets = assets

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
            branding=self._branding(record.branding),
        )

    def _branding(self, branding: Branding) -> Branding:
        """An uploaded logo wins over none: it is served through a short-lived presigned URL."""
        if branding.logo_url or self._assets is None:
            return branding
        url = self._assets.presigned_logo_url(current_tenant())
        return branding.model_copy(update={"logo_url": url}) if url else branding
