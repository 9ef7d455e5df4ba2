"""Build the MCP server with every tool, once per container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer

from tenantry.mcp_server.tools import customers as customer_tools
from tenantry.mcp_server.tools import integrations as integration_tools
from tenantry.mcp_server.tools import profile as profile_tools

if TYPE_CHECKING:
    from tenantry.mcp_server.services import Services

__all__ = ["build_server"]

INSTRUCTIONS = (
    "Tools for one fitness studio's customer records. Every call acts for the studio of the signed-in "
    "user only; there is no way to reach another studio's data."
)


def build_server(services: Services) -> MCPServer:
    # WARNING: the SDK configures the root logger; INFO would log every request twice.
    server: MCPServer = MCPServer(
        name="tenantry", title="Tenantry", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )
    customer_tools.register(server, services.customers)
    profile_tools.register(server, services.profile)
    integration_tools.register(server, services.notifications, services.secrets)
    return server
