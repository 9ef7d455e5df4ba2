"""Every tool declares its plan feature where it is registered; a tool without one fails the build."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tenantry.mcp_server.server import TenantMCPServer, ToolFeatureError
from tenantry.mcp_server.tools.customers import READ_ONLY


def _server() -> TenantMCPServer:
    return TenantMCPServer(cast(Any, None), cast(Any, None), name="t")


def test_registering_needs_a_feature() -> None:
    with pytest.raises(TypeError, match="feature"):
        _server().tool(title="No plan")  # type: ignore[call-arg]


def test_an_unknown_feature_is_refused_at_registration() -> None:
    with pytest.raises(ToolFeatureError, match="'billing'"):
        _server().tool("charge", feature="billing")  # type: ignore[arg-type]


def test_a_tool_added_around_the_decorator_fails_the_build_check() -> None:
    server = _server()

    @server.tool(feature="customers", annotations=READ_ONLY)
    async def listed() -> str:
        return "ok"

    server.check_tool_features()  # every tool mapped: fine
    server.add_tool(lambda: "x", name="sneaky")
    with pytest.raises(ToolFeatureError, match="sneaky"):
        server.check_tool_features()
    assert server.tool_features == {"listed": "customers"}
