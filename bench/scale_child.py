"""`python -m bench.scale_child IDS_FILE SECONDS`: one warm container serving many distinct tenants.

A process of its own, so its RSS is the container's alone (the bench's process holds moto and the
fleet). It builds the function's services from the TENANTRY_* environment as a Lambda container
does, sends one tools/call (list_customers) for each tenant in IDS_FILE (one id a line), in order,
and prints a JSON line {"tenants": n, "rss_mb": ..., "seconds": ...} after the first 10 and at the
end (every tenant, or as many as SECONDS allowed). RSS is the current resident set (VmRSS) after a
garbage collection: what the container holds, not a peak.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

from bench.events import LIST_CUSTOMERS, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry.settings import Settings

# Where the first reading is taken: a container that has seen a handful of tenants.
FEW = 10


def rss_mb() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def main(argv: list[str]) -> int:
    ids = Path(argv[0]).read_text().split()
    deadline = time.monotonic() + float(argv[1])
    app = LambdaApp(Services.create(Settings.from_env()))
    started = time.monotonic()
    served = 0
    for served, tenant_id in enumerate(ids, start=1):
        event = event_for(LIST_CUSTOMERS, served, tenant_id=tenant_id)
        check_response(LIST_CUSTOMERS, app(event, FakeLambdaContext(aws_request_id=f"scale-{served}")), served)
        if served == FEW:
            print(json.dumps({"tenants": served, "rss_mb": rss_mb(), "seconds": time.monotonic() - started}))
            sys.stdout.flush()
        if time.monotonic() > deadline:
            break
    print(json.dumps({"tenants": served, "rss_mb": rss_mb(), "seconds": time.monotonic() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
