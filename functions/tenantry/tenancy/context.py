"""The tenant context of the request being served.

It lives in a ContextVar set by the gateway middleware for the duration of one
request, so a warm container never carries a tenant into the next request, and
concurrent requests on one event loop each see their own tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

from tenantry.errors import NoTenantContextError
from tenantry.tenancy.plans import PLANS, EffectiveConfig, Plan

__all__ = [
    "TENANT_ID_PATTERN",
    "Plan",
    "TenantContext",
    "current_tenant",
    "tenant_scope",
]

# Tenant ids are DNS-label-like: they appear in keys, IAM session tags and
# subdomains, so they are kept to characters that mean nothing in any of them.
TENANT_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")


class TenantContext(BaseModel):
    """The verified tenant of one request, plus who is acting for it."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    slug: str
    display_name: str
    plan: Plan
    principal: str
    request_id: str
    # The table holding this tenant's data (pool, cell or silo); keys are built the same in each.
    data_table: str = "tenantry-data"
    # Plan defaults plus the tenant's overrides, as read from the registry for this request.
    config: EffectiveConfig = Field(default_factory=lambda: _plan_defaults("free"))
    # The tenant's data is being copied to another table: its writes leave marks (isolation/tracking.py).
    moving: bool = False
    # The registry version `config` was read at, when it came from a container's cache: admission
    # refuses (uncounted) if the tenant's usage item carries a newer one (metering/meter.py). None: not
    # checked (a record just read from the table, or a context built outside the request path).
    registry_version: int | None = None


def _plan_defaults(plan: Plan) -> EffectiveConfig:
    defaults = PLANS[plan]
    return EffectiveConfig(
        plan=plan,
        features=defaults.features,
        monthly_tool_calls=defaults.monthly_tool_calls,
        calls_per_minute=defaults.calls_per_minute,
        max_customers=defaults.max_customers,
        max_members=defaults.max_members,
    )


_current: ContextVar[TenantContext | None] = ContextVar("tenantry_tenant", default=None)


def current_tenant() -> TenantContext:
    tenant = _current.get()
    if tenant is None:
        raise NoTenantContextError("no tenant context: tenant data accessed outside a verified request")
    return tenant


@contextmanager
def tenant_scope(tenant: TenantContext) -> Iterator[TenantContext]:
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)
