"""Lambda entry point: `tenantry.mcp_server.handler.handler`.

The container's whole object graph is built here, at import: Lambda runs this in its
init phase (and, with SnapStart, once per published version, into the snapshot), so
the first invocation only serves its request. A misconfigured deployment fails at
init, naming the setting. The SnapStart hooks keep tenant credentials, registry
entries and clock-bound state out of the snapshot (tenantry/snapstart.py). Init runs
without the cyclic garbage collector and freezes what it built (tenantry/initphase.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenantry.initphase import init_phase

if TYPE_CHECKING:
    from tenantry.mcp_server.app import LambdaApp

__all__ = ["app", "handler"]


def _init() -> LambdaApp:
    # Imported here, inside the init phase, so the import work runs without the collector too.
    from tenantry.mcp_server.app import LambdaApp
    from tenantry.snapstart import register_hooks

    built = LambdaApp.from_env()
    built.prime()
    register_hooks(built)
    return built


with init_phase():
    app = _init()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = app(event, context)
    return result
