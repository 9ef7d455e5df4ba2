"""One container's worth of the MCP function: services, server, gateway, Mangum."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

from mangum import Mangum

from tenantry.lazymodels import build_deferred_models
from tenantry.mcp_server.assembly import build_server
from tenantry.mcp_server.gateway import Gateway
from tenantry.mcp_server.services import Services
from tenantry.observability import MetricsBatch
from tenantry.settings import Settings

__all__ = ["LambdaApp"]


def _on_demand_init() -> bool:
    """Lambda's own name for an init that a caller waits for (no SnapStart, no provisioned concurrency)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "on-demand"


class LambdaApp:
    """Callable as a Lambda handler; build one per container (or per emulated container)."""

    def __init__(self, services: Services, *, build_tools: bool = True) -> None:
        self.services = services
        self.server = server = build_server(services, build_tools=build_tools)
        # One refusal tally per container: the gateway's refusals (suspended, unknown tenant) and the
        # server's (quota, rate, feature) are flushed together.
        self.gateway = Gateway(server, services.resolver, services.settings, services.audit, server.refusals)
        # lifespan="off": the SDK's lifespan may run once per app, Mangum would run it per call.
        self._mangum = Mangum(self.gateway, lifespan="off")
        logging.getLogger("mangum").setLevel(logging.WARNING)  # it logs every request at INFO
        self._metrics = MetricsBatch()

    @classmethod
    def from_env(cls) -> LambdaApp:
        # Lambda names the kind of init it runs. On-demand, init is on the first caller's clock: build
        # only what every request needs; each tool is built by the first call that names it (deferred.py).
        # With SnapStart (or provisioned concurrency) init is nobody's wait: build everything now.
        return cls(Services.create(Settings.from_env()), build_tools=not _on_demand_init())

    def prime(self) -> None:
        """Do at init what the first request would otherwise do: models loaded, session manager running.

        Only for the Lambda entry point (handler.py), where init and every invocation share the
        main thread and Mangum's loop. Sends nothing to AWS and caches nothing about any tenant.
        """
        # On demand, load only the models every request needs (Services.create has built DynamoDB and
        # STS); otherwise every service's model, and every tool (from_env), into the snapshot.
        on_demand = _on_demand_init()
        if not on_demand:
            self.services.load_models()
            build_deferred_models()  # the models a first call would not need (lazymodels.py)
        self.services.prime_clients(tenant_like=not on_demand)
        # Mangum runs each invocation on this thread's loop (set up in its constructor); the manager's
        # task waits on it between invocations, and in a SnapStart snapshot.
        asyncio.get_event_loop().run_until_complete(self.gateway.start())

    def before_snapshot(self) -> None:
        """SnapStart: nothing tenant-bound or time-bound may be in the snapshot."""
        self.services.forget_tenants()

    def after_restore(self) -> None:
        """SnapStart: every restored container starts with no tenant state and its own randomness."""
        # Many containers resume from one snapshot: anything cached would be shared and stale.
        self.services.forget_tenants()
        # The random module's state is in the snapshot too: reseed from the OS (botocore's retry jitter uses it).
        random.seed()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return self._mangum(event, context)
        finally:
            # EMF documents batched per container (observability.MetricsBatch); no tenant_id dimension.
            self._metrics.after_invocation()
