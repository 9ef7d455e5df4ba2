"""The bare baseline: the MCP SDK behind Mangum with one echo tool and nothing of Tenantry.

It uses the same container pattern as the real function (app built at import,
`session_manager.run()` kept open on Mangum's persistent loop, lifespan off,
stateless JSON, no DNS-rebinding protection), so a ratio against it shows what
Tenantry itself costs, not what the SDK or Mangum cost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mangum import Mangum
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

__all__ = ["handler"]


class BareApp:
    def __init__(self) -> None:
        self._server: MCPServer = MCPServer(name="bare", log_level="WARNING")

        @self._server.tool()
        async def echo(text: str) -> str:
            """Return the text unchanged."""
            return text

        self._app = self._server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._started: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None  # held so the task is not garbage-collected

    async def start(self) -> None:
        await self._ensure_running()

    async def _ensure_running(self) -> None:
        if self._started is None:
            self._started = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run_manager())
        await self._started.wait()

    async def _run_manager(self) -> None:
        assert self._started is not None
        async with self._server.session_manager.run():
            self._started.set()
            await asyncio.Event().wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._ensure_running()
        await self._app(scope, receive, send)


# Built at import, like tenantry.mcp_server.handler: app and Mangum's loop in init, manager started.
_app = BareApp()
_mangum = Mangum(_app, lifespan="off")
logging.getLogger("mangum").setLevel(logging.WARNING)
asyncio.get_event_loop().run_until_complete(_app.start())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _mangum(event, context)
    return result
