"""One container's worth of the MCP function: services, server, gateway, Mangum."""

from __future__ import annotations

import logging
from typing import Any

from mangum import Mangum

from tenantry.mcp_server.gateway import Gateway
from tenantry.mcp_server.server import build_server
from tenantry.mcp_server.services import Services
from tenantry.observability import get_metrics
from tenantry.settings import Settings

__all__ = ["LambdaApp"]


class LambdaApp:
    """Callable as a Lambda handler; build one per container (or per emulated container)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.server = server = build_server(services)
        self.gateway = Gateway(server, services.resolver, services.settings, services.audit)
        # lifespan="off": the SDK's lifespan may run once per app, Mangum would run it per call.
        self._mangum = Mangum(self.gateway, lifespan="off")
        logging.getLogger("mangum").setLevel(logging.WARNING)  # it logs every request at INFO

    @classmethod
    def from_env(cls) -> LambdaApp:
        return cls(Services.create(Settings.from_env()))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return self._mangum(event, context)
        finally:
            # One EMF document per invocation; no tenant_id dimension (see observability.py).
            metrics = get_metrics()
            if metrics.metric_set:  # tools/list and refusals at the door emit none
                metrics.flush_metrics()
                # With POWERTOOLS_METRICS_DISABLED, flush keeps the set; clear it or it grows and
                # auto-flushes to stdout every 100 values.
                metrics.clear_metrics()
