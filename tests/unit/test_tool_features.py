"""Every tool declares its plan feature where it is registered; a tool without one fails the build."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import BaseModel

from tenantry.mcp_server import server as server_module
from tenantry.mcp_server.server import TenantMCPServer, ToolCodeError, ToolFeatureError
from tenantry.mcp_server.tools.customers import READ_ONLY
from tenantry.metering.meter import MonthUsage, ToolUsage


class Answer(BaseModel):
    ok: bool


async def _answer() -> Answer:
    return Answer(ok=True)


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

    @server.tool("get_usage", feature="customers", annotations=READ_ONLY)
    async def listed() -> str:
        return "ok"

    server.check_tool_features()  # every tool mapped: fine
    server.add_tool(lambda: "x", name="sneaky")
    with pytest.raises(ToolFeatureError, match="sneaky"):
        server.check_tool_features()
    assert server.tool_features == {"get_usage": "customers"}


def test_a_tool_without_a_usage_code_fails_the_build_check() -> None:
    server = _server()

    server.tool("charge_card", feature="customers", annotations=READ_ONLY)(_answer)

    with pytest.raises(ToolCodeError, match="without a usage code: charge_card; add each to TOOL_CODES"):
        server.check_tool_features()


def test_a_tool_named_like_another_tools_code_fails_the_build_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "TOOL_CODES", {"get_usage": "gu", "gu": "x"})
    server = _server()
    for name in ("get_usage", "gu"):
        server.tool(name, feature="usage", annotations=READ_ONLY)(_answer)
    with pytest.raises(ToolCodeError, match="tool gu is named like the usage code of get_usage"):
        server.check_tool_features()


def test_usage_items_read_by_tool_name_in_both_layouts() -> None:
    usage = MonthUsage.from_item(
        "t",
        "2026-12",
        {"calls": 5, "t#gc#c": 3, "t#gc#e": 1, "t#gc#m": 40, "t#get_customer#calls": 2, "t#custom_tool#c": 1},
    )
    assert usage.tools["get_customer"] == ToolUsage(calls=5, errors=1, total_ms=40)
    assert usage.tools["custom_tool"] == ToolUsage(calls=1)  # no code: stored under its own name
    assert set(usage.tools) == {"get_customer", "custom_tool"}
