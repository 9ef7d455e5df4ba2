"""The tenant's own profile and usage: who the model is working for, and how much is left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.logic.profile import ProfileService, TenantProfile
from tenantry.logic.usage import UsageReport, UsageService
from tenantry.mcp_server.tools import user_errors
from tenantry.mcp_server.tools.customers import READ_ONLY

if TYPE_CHECKING:
    from tenantry.mcp_server.server import TenantMCPServer

__all__ = ["register"]


def register(server: TenantMCPServer, profile: ProfileService, usage: UsageService) -> None:
    @server.tool(feature="profile", title="Studio profile", annotations=READ_ONLY)
    @user_errors
    async def get_tenant_profile() -> TenantProfile:
        """Your organisation's name, plan, status and branding."""
        return profile.get()

    @server.tool(feature="usage", title="Usage this month", annotations=READ_ONLY)
    @user_errors
    async def get_usage() -> UsageReport:
        """Tool calls used this month against your plan's limit, per tool, and your customer count."""
        return usage.report()
