"""Lambda entry point: `tenantry.mcp_server.handler.handler`."""

from __future__ import annotations

from typing import Any

_app: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app
    if _app is None:  # once per container; imports stay off the cold path until needed
        from tenantry.mcp_server.app import LambdaApp

        _app = LambdaApp.from_env()
    result: dict[str, Any] = _app(event, context)
    return result
