"""Tools that use the studio's integrations; secrets stay server-side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from tenantry.logic.customers import ONE_LINE_PATTERN
from tenantry.logic.notifications import NotificationResult, NotificationService
from tenantry.logic.secrets import SecretList, SecretService
from tenantry.mcp_server.tools import user_errors
from tenantry.mcp_server.tools.customers import READ_ONLY, CustomerId

if TYPE_CHECKING:
    from tenantry.mcp_server.server import TenantMCPServer

__all__ = ["register"]


def register(server: TenantMCPServer, notifications: NotificationService, secrets: SecretService) -> None:
    @server.tool(
        feature="integrations",
        title="Send booking notification",
        # Calls the studio's own webhook, outside Tenantry: open world; a repeat sends a second notice.
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True
        ),
    )
    @user_errors
    async def send_booking_notification(
        customer_id: CustomerId,
        class_name: Annotated[
            str, Field(min_length=1, max_length=120, pattern=ONE_LINE_PATTERN, description="The class booked.")
        ],
        starts_at: Annotated[
            str, Field(min_length=1, max_length=40, pattern=ONE_LINE_PATTERN, description="Start time, ISO 8601.")
        ],
    ) -> NotificationResult:
        """Tell the studio's booking system (its webhook) that a customer booked a class."""
        return notifications.booking(customer_id, class_name, starts_at)

    @server.tool(feature="integrations", title="List integration secrets", annotations=READ_ONLY)
    @user_errors
    async def list_integration_secrets() -> SecretList:
        """Names and fingerprints of the studio's stored integration secrets (never their values)."""
        return secrets.list()
