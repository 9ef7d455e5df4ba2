"""Assemble the container's MCP server: the TenantMCPServer, the widget resource and every tool.

Kept apart from server.py so the tools (which type against TenantMCPServer) and the server class
do not import each other: this module is the only one that knows both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.apps import Apps, ResourceCsp

from tenantry.mcp_server.server import INSTRUCTIONS, PRIVATE_LISTS, TenantMCPServer
from tenantry.mcp_server.tools import customers as customer_tools
from tenantry.mcp_server.tools import integrations as integration_tools
from tenantry.mcp_server.tools import profile as profile_tools
from tenantry.mcp_server.tools import search as search_tools
from tenantry.mcp_server.widgets import CUSTOMERS_WIDGET, customers_widget_html

if TYPE_CHECKING:
    from tenantry.mcp_server.services import Services

__all__ = ["build_server"]


def build_server(services: Services, *, build_tools: bool = True) -> TenantMCPServer:
    """The server with every tool registered; `build_tools=False` leaves each tool to be built when first
    needed (an on-demand Lambda init: tools/call then builds only its own tool, deferred.py).
    """
    # One widget template for every tenant (MCP Apps, io.modelcontextprotocol/ui); it loads nothing
    # but, when an operator allows logo origins, the tenants' logos (docs/chatgpt.md).
    apps = Apps()
    apps.add_html_resource(
        CUSTOMERS_WIDGET,
        customers_widget_html(),
        name="customers-widget",
        title="Customers",
        description="Shows a customer card or a customer list in your studio's colours.",
        csp=ResourceCsp(resource_domains=list(services.settings.widget_image_origins)),
        prefers_border=True,
    )
    # WARNING: the SDK configures the root logger; INFO would log every request twice.
    server = TenantMCPServer(
        services.usage,
        services.audit,
        tracing=services.settings.tracing,
        branding=services.profile.widget_branding,
        extensions=[apps],
        cache_hints=PRIVATE_LISTS,
        # No subscriptions/listen: its answer is a stream held open, which an HTTP API integration
        # cannot carry. Without it the SDK declares no listChanged/subscribe at 2026-07-28 either
        # (the handshake era already declared none); the gateway answers listen itself (gateway.py).
        subscriptions=False,
        on_blocked=services.registry.invalidate,
        refresh=services.resolver.refreshed,
        status_cache_seconds=services.settings.status_cache_seconds,
        placement=services.placement,
        home_allowed=services.home_allowed,
        success_log_sample=services.settings.success_log_sample,
        name="tenantry",
        title="Tenantry",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        log_level="WARNING",
    )
    customer_tools.register(server, services.customers)
    customer_tools.register_insights(server, services.insights)
    search_tools.register(server, services.search)
    profile_tools.register(server, services.profile, services.usage_report)
    integration_tools.register(server, services.notifications, services.secrets)
    server.check_tool_features(build=build_tools)
    return server
