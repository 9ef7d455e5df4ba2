"""The tenant's own profile: who the model is working for."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from tenantry.logic.profile import ProfileService, TenantProfile
from tenantry.mcp_server.tools import user_errors

__all__ = ["register"]


def register(server: MCPServer, profile: ProfileService) -> None:
    @server.tool(title="Studio profile", annotations=ToolAnnotations(readOnlyHint=True))
    @user_errors
    async def get_tenant_profile() -> TenantProfile:
        """Your organisation's name, plan, status and branding."""
        return profile.get()
