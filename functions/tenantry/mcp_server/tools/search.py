"""`search` and `fetch`: the two tools ChatGPT's knowledge and deep-research connectors look for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from tenantry.dal.keys import ENTITY_ID_PATTERN
from tenantry.logic.search import FetchedCustomer, Query, SearchResults, SearchService
from tenantry.mcp_server.tools import user_errors
from tenantry.mcp_server.tools.customers import READ_ONLY

if TYPE_CHECKING:
    from tenantry.mcp_server.server import TenantMCPServer

__all__ = ["register"]


def register(server: TenantMCPServer, service: SearchService) -> None:
    # Plan feature "customers": the same records list_customers shows, so every plan that lists may search.
    @server.tool("search", feature="customers", title="Search customers", annotations=READ_ONLY)
    @user_errors
    async def search(query: Query) -> SearchResults:
        """Search your studio's customers by name, e-mail, phone or notes; returns ids to pass to fetch."""
        return service.search(query)

    @server.tool(feature="customers", title="Fetch customer", annotations=READ_ONLY)
    @user_errors
    async def fetch(
        id: Annotated[
            str,
            Field(pattern=ENTITY_ID_PATTERN.pattern, max_length=64, description="An id from search's results."),
        ],
    ) -> FetchedCustomer:
        """The full record of one of your studio's customers, as text, by the id search returned."""
        return service.fetch(id)
