"""Tools are registered at build and built when first needed: tools/call builds only the tool it names.

An on-demand init (a caller waits for it) builds none; a SnapStart or provisioned init builds them
all (LambdaApp.from_env, tests/integration/test_import_diet.py). A tool built late passes the same
checks as one built at init.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import BaseModel

from tenantry.mcp_server.deferred import DeferredTools
from tenantry.mcp_server.server import TenantMCPServer, ToolMetadataError
from tenantry.mcp_server.tools.customers import READ_ONLY


class Answer(BaseModel):
    ok: bool


# Real tool names: the build check also wants each tool's usage code (metering/tool_codes.py).
NAMES = ("get_customer", "list_customers", "get_usage")


def _server() -> TenantMCPServer:
    server = TenantMCPServer(cast(Any, None), cast(Any, None), name="t")
    for name in NAMES:

        @server.tool(name, feature="customers", annotations=READ_ONLY)
        async def tool() -> Answer:
            return Answer(ok=True)

    return server


def test_the_build_check_without_building_builds_nothing() -> None:
    server = _server()
    server.check_tool_features(build=False)
    assert server.built_tools() == []


def test_a_tool_is_built_by_the_first_lookup_that_names_it() -> None:
    server = _server()
    tool = server._tool_manager.get_tool("list_customers")
    assert tool is not None and tool.output_schema is not None
    assert server.built_tools() == ["list_customers"]
    assert server._tool_manager.get_tool("list_customers") is tool  # built once
    assert server._tool_manager.get_tool("unknown") is None


def test_tools_list_builds_every_tool_in_registration_order() -> None:
    server = _server()
    server._tool_manager.get_tool("get_usage")
    assert [tool.name for tool in server._tool_manager.list_tools()] == list(NAMES)
    assert sorted(server.built_tools()) == sorted(NAMES)


def test_the_build_check_builds_every_tool() -> None:
    server = _server()
    server.check_tool_features()
    assert sorted(server.built_tools()) == sorted(NAMES)


def test_a_tool_built_late_is_checked_and_not_served_when_it_fails() -> None:
    server = _server()

    @server.tool("fetch", feature="customers", annotations=READ_ONLY, structured_output=False)
    async def text_only() -> str:
        return "ok"

    server.check_tool_features(build=False)  # names, features, hints and usage codes: fine
    for _ in range(2):  # still refused on a second try: never stored half-checked
        with pytest.raises(ToolMetadataError, match="fetch has no output schema"):
            server._tool_manager.get_tool("fetch")
    assert "fetch" not in server.built_tools()


def test_a_name_registered_twice_is_refused() -> None:
    server = _server()
    with pytest.raises(ValueError, match="get_customer is registered twice"):
        server.add_tool(lambda: Answer(ok=True), name="get_customer")


def test_removing_a_tool_forgets_it_built_or_not() -> None:
    server = _server()
    server._tool_manager.get_tool("get_customer")
    server.remove_tool("get_customer")
    server.remove_tool("list_customers")
    assert [tool.name for tool in server._tool_manager.list_tools()] == ["get_usage"]
    with pytest.raises(ToolError, match="Unknown tool"):
        server.remove_tool("list_customers")


def test_two_threads_building_one_tool_get_the_same_tool() -> None:
    """The local emulator serves a container from more than one thread: a tool built twice at once is stored once."""
    built = Tool.from_function(_answer, name="get_customer", annotations=READ_ONLY)
    both_inside = threading.Barrier(2, timeout=10)

    def build() -> Tool:
        both_inside.wait()  # both threads are building before either stores its tool
        return built.model_copy()

    tools = DeferredTools(check=lambda tool: None)
    tools.defer("get_customer", READ_ONLY, build)
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda _: tools.get_tool("get_customer"), range(2)))
    assert got[0] is not None and got[0] is got[1]
    assert tools.built() == ["get_customer"]


async def _answer() -> Answer:
    return Answer(ok=True)
