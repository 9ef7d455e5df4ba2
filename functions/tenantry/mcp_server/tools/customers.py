"""Customer tools for a studio's staff: create, read, list, update, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from tenantry.dal.customers import Membership
from tenantry.dal.keys import ENTITY_ID_PATTERN
from tenantry.logic.customers import (
    ClearableField,
    Customer,
    CustomerAnalytics,
    CustomerChanges,
    CustomerExport,
    CustomerFields,
    CustomerInsights,
    CustomerPage,
    CustomerService,
    DeletedCustomer,
    Email,
    Name,
    Notes,
    Phone,
    Version,
)
from tenantry.mcp_server.tools import user_errors
from tenantry.mcp_server.widgets import CUSTOMERS_WIDGET, widget_meta

if TYPE_CHECKING:
    from tenantry.mcp_server.server import TenantMCPServer

__all__ = ["READ_ONLY", "register"]

# Every tool states all three review hints (docs/chatgpt.md). No customer tool reaches outside Tenantry.
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

CustomerId = Annotated[
    str,
    Field(
        pattern=ENTITY_ID_PATTERN.pattern,
        max_length=64,
        description="The customer's id, e.g. 'cus_1a2b3c4d5e6f' (letters, digits, '_' and '-').",
    ),
]


def register(server: TenantMCPServer, customers: CustomerService) -> None:
    @server.tool(
        feature="customers",
        title="Create customer",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
        ),
        meta=widget_meta(CUSTOMERS_WIDGET),
    )
    @user_errors
    async def create_customer(
        name: Name,
        email: Email | None = None,
        phone: Phone | None = None,
        membership: Membership = "none",
        notes: Notes | None = None,
        customer_id: Annotated[
            CustomerId | None, Field(description="Optional id of your choosing; one is generated if omitted.")
        ] = None,
    ) -> Customer:
        """Add a customer (a member or client) to your studio."""
        fields = CustomerFields(name=name, email=email, phone=phone, membership=membership, notes=notes)
        return customers.create(fields, customer_id)

    @server.tool(feature="customers", title="Get customer", annotations=READ_ONLY, meta=widget_meta(CUSTOMERS_WIDGET))
    @user_errors
    async def get_customer(customer_id: CustomerId) -> Customer:
        """Look up one of your studio's customers by id."""
        return customers.get(customer_id)

    @server.tool(feature="customers", title="List customers", annotations=READ_ONLY, meta=widget_meta(CUSTOMERS_WIDGET))
    @user_errors
    async def list_customers(
        limit: Annotated[int, Field(ge=1, le=100, description="Page size, 1-100.")] = 20,
        cursor: Annotated[
            str | None, Field(max_length=512, description="next_cursor from the previous page, to continue.")
        ] = None,
    ) -> CustomerPage:
        """List your studio's customers, a page at a time, oldest id first."""
        return customers.list(limit, cursor)

    @server.tool(
        feature="customers",
        title="Update customer",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
        meta=widget_meta(CUSTOMERS_WIDGET),
    )
    @user_errors
    async def update_customer(
        customer_id: CustomerId,
        name: Name | None = None,
        email: Email | None = None,
        phone: Phone | None = None,
        membership: Membership | None = None,
        notes: Notes | None = None,
        clear: Annotated[
            list[ClearableField] | None,
            Field(max_length=4, description="Optional fields to remove, e.g. ['phone']; membership clears to 'none'."),
        ] = None,
        expected_version: Version | None = None,
    ) -> Customer:
        """Change some of a customer's details; fields you leave out stay as they are, fields in `clear` are removed."""
        given = {"name": name, "email": email, "phone": phone, "membership": membership, "notes": notes}
        return customers.update(customer_id, CustomerChanges.of(given, clear), expected_version)

    @server.tool(
        feature="customers",
        title="Delete customer",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False
        ),
    )
    @user_errors
    async def delete_customer(customer_id: CustomerId) -> DeletedCustomer:
        """Remove a customer from your studio permanently."""
        return customers.delete(customer_id)


def register_insights(server: TenantMCPServer, insights: CustomerInsights) -> None:
    @server.tool(feature="export", title="Export customers", annotations=READ_ONLY)
    @user_errors
    async def export_customers() -> CustomerExport:
        """All your customers as CSV (up to 5,000 rows; `truncated` says if there were more)."""
        return insights.export()

    @server.tool(feature="analytics", title="Customer analytics", annotations=READ_ONLY)
    @user_errors
    async def customer_analytics() -> CustomerAnalytics:
        """Your customers by membership type and by month joined."""
        return insights.analytics()
