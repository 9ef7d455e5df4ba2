"""Tools registered when the server is built, and built themselves when first needed.

Building an SDK tool is most of the cost of building the server: the SDK reads the function's
signature, creates a pydantic model for its arguments and renders the input and output JSON
schemas. tools/call needs only the tool it names, so a container initialised on demand (its
init is on the first caller's clock) builds one tool, not all of them; tools/list builds every
tool, and so does `build_all`, which LambdaApp runs at a SnapStart or provisioned init, so the
snapshot holds every tool built. A built tool passes `check` before it is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp.types import Icon, ToolAnnotations

__all__ = ["DeferredTools"]


class DeferredTools(ToolManager):
    def __init__(self, check: Callable[[Tool], None]) -> None:
        super().__init__()
        self._check = check
        self._pending: dict[str, Callable[[], Tool]] = {}
        # Registration order (tools/list keeps it) and every tool's hints, known without building it.
        self._annotations: dict[str, ToolAnnotations | None] = {}

    def defer(self, name: str, annotations: ToolAnnotations | None, build: Callable[[], Tool]) -> None:
        if name in self._annotations:
            raise ValueError(f"tool {name} is registered twice")
        self._pending[name] = build
        self._annotations[name] = annotations

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> Tool:
        """The SDK's eager registration, for a caller that reaches the manager itself: built and checked now."""
        tool = Tool.from_function(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        self.defer(tool.name, tool.annotations, lambda: tool)
        built = self.get_tool(tool.name)
        assert built is not None
        return built

    def names(self) -> list[str]:
        return list(self._annotations)

    def annotations(self, name: str) -> ToolAnnotations | None:
        return self._annotations.get(name)

    def built(self) -> list[str]:
        return list(self._tools)

    def get_tool(self, name: str) -> Tool | None:
        build = self._pending.get(name)
        if build is not None:
            tool = build()
            self._check(tool)  # a tool that fails the check stays unbuilt and unserved
            # Two threads of one process (the local emulator's) may both build it: the first one stored wins.
            self._tools.setdefault(name, tool)
            self._pending.pop(name, None)
        return super().get_tool(name)

    def list_tools(self) -> list[Tool]:
        return [tool for name in self.names() if (tool := self.get_tool(name)) is not None]

    def build_all(self) -> None:
        self.list_tools()

    def remove_tool(self, name: str) -> None:
        if self._pending.pop(name, None) is None:
            super().remove_tool(name)  # the SDK's ToolError for a name never registered
        del self._annotations[name]
