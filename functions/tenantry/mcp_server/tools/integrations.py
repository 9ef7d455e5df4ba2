"""Tools that use the studio's integrations; secrets stay server-side."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from tenantry.logic.notifications import NotificationResult, NotificationService
from tenantry.logic.secrets import SecretList, SecretService
from tenantry.mcp_server.tools import user_errors
from tenantry.mcp_server.tools.customers import CustomerId

__all__ = ["register"]


def register(server: MCPServer, notifications: NotificationService, secrets: SecretService) -> None:
    @server.tool(
        title="Send booking notification",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True),
    )
    @user_errors
    async def send_booking_notification(
        customer_id: CustomerId,
        class_name: Annotated[str, Field(min_length=1, max_length=120, description="The class booked.")],
        starts_at: Annotated[str, Field(min_length=1, max_length=40, description="Start time, ISO 8601.")],
    ) -> NotificationResult:
        """Tell the studio's booking system (its webhook) that a customer booked a class."""
        return notifications.booking(customer_id, class_name, starts_at)

    @server.tool(title="List integration secrets", annotations=ToolAnnotations(readOnlyHint=True))
    @user_errors
    async def list_integration_secrets() -> SecretList:
        """Names and fingerprints of the studio's stored integration secrets (never their values)."""
        return secrets.list()
