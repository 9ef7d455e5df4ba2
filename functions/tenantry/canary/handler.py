"""The canary Lambda's entry point (EventBridge schedule, or `tenantry canary run --stack`)."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from tenantry.canary.runner import run_canary
from tenantry.observability import get_logger, get_metrics
from tenantry.settings import get_settings
from tenantry.stores import open_stores

__all__ = ["handler"]

# A scheduled probe can wait for a retry: the next run is minutes away, and a throttled call must
# not be mistaken for a refusal (a throttle is an error, which the run reports as a failure).
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    stores = open_stores(get_settings(), botocore.session.get_session(), _CONFIG)
    try:
        run = run_canary(stores, mode="aws")
    finally:
        # The violation count (0 on a good run) goes out with this invocation: the alarm watches it.
        get_metrics().flush_metrics()
        stores.clients.clear()
    get_logger().info(
        "canary run",
        extra={"event": "canary.run", "run_id": run.run_id, "violations": [r.name for r in run.violations]},
    )
    return {"run_id": run.run_id, "at": run.at, "cases": len(run.results), "violations": len(run.violations)}
