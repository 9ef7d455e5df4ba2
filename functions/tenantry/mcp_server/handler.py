"""Lambda entry point: `tenantry.mcp_server.handler.handler`.

The container's whole object graph is built here, at import: Lambda runs this in its
init phase (and, with SnapStart, once per published version, into the snapshot), so
the first invocation only serves its request. A misconfigured deployment fails at
init, naming the setting. The SnapStart hooks keep tenant credentials, registry
entries and clock-bound state out of the snapshot (mcp_server/snapstart.py).
"""

from __future__ import annotations

from typing import Any

from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.snapstart import register_hooks

__all__ = ["app", "handler"]

app = LambdaApp.from_env()
app.prime()
register_hooks(app)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = app(event, context)
    return result
