"""The tenant's own profile, as its users may see it."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel

from tenantry.dal.branding import BrandingAssets
from tenantry.errors import NotFoundError
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import current_tenant
from tenantry.tenancy.registry import Branding, TenantRegistry

__all__ = ["ProfileService", "TenantProfile", "WidgetBranding"]


class TenantProfile(BaseModel):
    model_config = BUILT_WHEN_USED
    tenant_id: str
    slug: str
    display_name: str
    plan: str
    status: str
    branding: Branding


class WidgetBranding(BaseModel):
    """What the customer widget shows: only the signed-in tenant's own look, never another's."""

    name: str
    color: str | None = None
    logo_url: str | None = None


class ProfileService:
    def __init__(
        self, registry: TenantRegistry, assets: BrandingAssets | None = None, image_origins: tuple[str, ...] = ()
    ) -> None:
        self._registry = registry
        self._assets = assets
        self._image_origins = frozenset(image_origins)

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

    def widget_branding(self) -> dict[str, object]:
        """The current tenant's name, colour and logo for its widget results.

        The logo is sent only from an origin the widget's CSP names (Settings.widget_image_origins):
        a host blocks any other, so the widget shows a monogram instead of a broken image.
        """
        tenant = current_tenant()
        record = self._registry.get(tenant.tenant_id)
        if record is None:
            raise NotFoundError("Your organisation's profile could not be found. Sign in again.")
        branding = record.branding
        logo = None
        if self._image_origins:
            logo = self._branding(branding).logo_url
            if logo and _origin(logo) not in self._image_origins:
                logo = None
        name = branding.company_name or record.display_name
        return WidgetBranding(name=name, color=branding.primary_color, logo_url=logo).model_dump(exclude_none=True)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
