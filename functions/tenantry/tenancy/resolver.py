"""Turn the authorizer's verified claims into a TenantContext, or refuse.

The tenant comes from the token and nowhere else. A Host subdomain or an
`X-Tenant-ID` header may only confirm it; a disagreement is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tenantry.errors import CrossTenantAttemptError, TenantAccessError
from tenantry.tenancy.context import TENANT_ID_PATTERN, TenantContext
from tenantry.tenancy.registry import TenantRecord, TenantRegistry

__all__ = ["CrossTenantAttemptError", "TenantResolver", "tenant_host"]


@dataclass(frozen=True)
class TenantResolver:
    registry: TenantRegistry
    tenant_claim: str = "tenant_id"
    base_domain: str | None = None
    table_of: Callable[[TenantRecord], str] = lambda record: "tenantry-data"
    serve_plans: frozenset[str] = frozenset()

    def resolve(
        self, claims: Mapping[str, str], headers: Mapping[str, str], request_id: str, max_age: float | None = None
    ) -> TenantContext:
        """The tenant of a request; `max_age` bounds how old a cached registry record may be (None: the cache TTL)."""
        tenant_id = claims.get(self.tenant_claim)
        if not tenant_id:
            raise TenantAccessError(
                f"Your access token has no '{self.tenant_claim}' claim, so it does not say which "
                "organisation you act for. Sign in again through your organisation's connector."
            )
        if not TENANT_ID_PATTERN.fullmatch(tenant_id):
            raise TenantAccessError("Your access token names a tenant id that is not valid. Sign in again.")

        self._confirm_header(tenant_id, headers)
        record = self._usable(tenant_id, self.registry.get(tenant_id, max_age))
        self._confirm_host(record.slug, headers)
        principal = claims.get("sub") or claims.get("client_id") or "unknown"
        return record.context(principal, request_id, self.table_of(record), registry_version=record.version)

    def refreshed(self, tenant: TenantContext, max_age: float = 0.0) -> TenantContext:
        """`tenant` again from a record at most `max_age` seconds old (0: read now), for the same request.

        The call it serves already passed the token, header and host checks, which a record
        change cannot alter (a tenant's slug is fixed at creation); the record's own are re-made.
        """
        record = self._usable(tenant.tenant_id, self.registry.get(tenant.tenant_id, max_age))
        return record.context(
            tenant.principal, tenant.request_id, self.table_of(record), registry_version=record.version
        )

    def _usable(self, tenant_id: str, record: TenantRecord | None) -> TenantRecord:
        if record is None or record.status in ("offboarding", "offboarded"):
            raise TenantAccessError(
                f"Tenant '{tenant_id}' is not registered with this service. Ask your administrator to onboard it."
            )
        if record.status == "suspended":
            raise TenantAccessError(
                f"Tenant '{tenant_id}' is suspended, so no tools can run. Ask your administrator to resume it."
            )
        if self.serve_plans and record.plan not in self.serve_plans:
            raise TenantAccessError(
                f"This endpoint is reserved for {', '.join(sorted(self.serve_plans))} plan tenants; your "
                f"organisation is on the {record.plan} plan. Use the shared MCP URL your administrator gave you."
            )
        return record

    def _confirm_header(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        claimed = headers.get("x-tenant-id")
        if claimed is not None and claimed.strip() != tenant_id:
            raise CrossTenantAttemptError(
                "The X-Tenant-ID header does not match the tenant of your access token. "
                "Remove the header or use a token for that tenant."
            )

    def _confirm_host(self, slug: str, headers: Mapping[str, str]) -> None:
        label = tenant_host(headers.get("host", ""), self.base_domain)
        if label is None:
            return  # the shared hostname: nothing to confirm
        if label != slug:
            raise CrossTenantAttemptError(
                "This hostname belongs to a different organisation than your access token. "
                "Use the URL your administrator gave you, or the shared one."
            )


def tenant_host(host: str, base_domain: str | None) -> str | None:
    """The `<slug>` of a `<slug>.<base_domain>` Host header (port ignored), or None for any other host."""
    if not base_domain:
        return None
    name = host.split(":", 1)[0].lower().rstrip(".")
    base = base_domain.lower().strip(".")
    if name == base or not name.endswith("." + base):
        return None
    return name[: -len(base) - 1] or None
