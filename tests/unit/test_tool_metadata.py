"""App review needs every tool's three hints stated and an output schema: both fail the build if missing."""

from __future__ import annotations

from typing import Any, cast

import pytest
from mcp.types import ToolAnnotations
from pydantic import BaseModel

from tenantry.mcp_server.server import TenantMCPServer, ToolMetadataError
from tenantry.mcp_server.tools.customers import READ_ONLY


class Answer(BaseModel):
    ok: bool


def _server() -> TenantMCPServer:
    return TenantMCPServer(cast(Any, None), cast(Any, None), name="t")


@pytest.mark.parametrize("missing", ["readOnlyHint", "destructiveHint", "openWorldHint"])
def test_a_tool_without_one_of_the_three_hints_is_refused(missing: str) -> None:
    hints = {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False}
    del hints[missing]
    server = _server()
    with pytest.raises(ToolMetadataError, match=missing):

        @server.tool(feature="customers", annotations=ToolAnnotations(**hints))  # type: ignore[arg-type]
        async def half_described() -> Answer:
            return Answer(ok=True)


def test_a_tool_without_annotations_is_refused() -> None:
    with pytest.raises(ToolMetadataError, match="readOnlyHint, destructiveHint, openWorldHint"):

        @_server().tool(feature="customers")
        async def undescribed() -> Answer:
            return Answer(ok=True)


def test_a_tool_without_an_output_schema_fails_the_build_check() -> None:
    server = _server()

    @server.tool(feature="customers", annotations=READ_ONLY, structured_output=False)
    async def text_only() -> str:
        return "ok"

    with pytest.raises(ToolMetadataError, match="text_only has no output schema"):
        server.check_tool_features()


def test_a_tool_added_around_the_decorator_without_hints_fails_the_build_check() -> None:
    server = _server()
    server.add_tool(lambda: Answer(ok=True), name="sneaky")
    server.tool_features["sneaky"] = "customers"  # mapped, but never went through server.tool's checks
    with pytest.raises(ToolMetadataError, match="sneaky must declare"):
        server.check_tool_features()
