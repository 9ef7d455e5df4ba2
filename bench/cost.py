"""Dollars per 10 million tools/call, from quantities measured here and a price table you can edit.

Measured in this run: AWS calls per tools/call by operation, time outside AWS calls, request and
response sizes, log bytes the runtime writes, and init (import) time. Everything else is an
assumption, printed with its value: prices (us-east-1, public list prices when written; edit
PRICES), AWS-side latency per call, cold starts per call, containers and how many tenants each
container sees. Nothing here asserts: the table is for people to read and argue with.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass

import botocore.session

from bench.aws_calls import CallCounter
from bench.core import BenchError, Options, Row
from bench.events import GET_CUSTOMER, LIST_CUSTOMERS, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry.observability import METRIC_NAMES

__all__ = ["PRICES", "run_cost"]

CALLS = 10_000_000
MONTH_SECONDS = 30 * 24 * 3600

# Edit freely: USD, us-east-1 list prices. Lambda arm64; DynamoDB on-demand (Nov 2024 prices).
PRICES: dict[str, float] = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "snapstart_cache_gb_second": 0.0000015046,  # per published version, billed 3 hours minimum
    "snapstart_restore_gb": 0.0001397998,  # per GB of memory, per restore
    "http_api_request": 1.00 / 1e6,  # first 300 million a month; each 512 KB counts as one
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "kms_request": 0.03 / 10_000,
    "sts_request": 0.0,  # AssumeRole is free
    "logs_ingest_gb": 0.50,
    "custom_metric_month": 0.30,  # EMF metrics: per metric name x dimension set, per month
    "agentcore_gateway_tool_call": 0.005 / 1_000,  # Bedrock AgentCore Gateway, the gateway alone
}
# Assumptions about the deployed world (none of it measurable on a laptop).
MEMORY_MB = 1024  # infra/config.py DEFAULTS["memory_mb"]
AWS_LATENCY_MS = {"DynamoDB": 6.0, "KMS": 8.0, "STS": 25.0, "S3": 15.0}
COLD_STARTS_PER_MILLION = 200  # new containers per million calls (scale-out, idle reaping)
CONTAINERS = 4  # warm containers at a time, month round (10 M a month is ~4 calls/s)
SNAPSHOT_VERSIONS = 1  # the MCP function's live version (the premium path, when deployed, adds one)
METRICS = len(METRIC_NAMES)  # one dimension set each (service), never tenant_id
REGISTRY_TTL_S, CREDENTIALS_REFRESH_S = 300, 900 - 120
CLIENT_BUILD_MS = 5.0  # a tenant's guarded client from the shared session (see the "first" section)
PLATFORM_LOG_BYTES = 350  # Lambda's START / END / REPORT lines per invocation
RESTORE_MS = 400  # billed restore duration per SnapStart restore (assumption)


@dataclass
class Measured:
    calls: int
    ops: Counter[str]
    outside_aws_ms: float
    request_bytes: float
    response_bytes: float
    log_bytes: float


def run_cost(resources: Resources, options: Options) -> list[Row]:
    measured = _measure(resources, min(options.count_calls, 200))
    return _rows(measured, options.tenants)


def _measure(resources: Resources, per_tool: int) -> Measured:
    aws = resources.aws()
    counter = CallCounter()
    log = io.StringIO()
    # powertools' logger does not propagate; the deployed level is INFO (the local platform's is WARNING).
    # Its own handlers are pointed at the buffer for the measured calls, so what is counted is exactly
    # what Lambda would ship to CloudWatch (the JSON lines, not just the messages) and nothing is printed.
    runtime_logger = logging.getLogger("tenantry")
    level = runtime_logger.level
    with counter.on_every_new_session():
        app = LambdaApp(Services.create(aws.settings, session=botocore.session.get_session()))
        for i, call in enumerate((GET_CUSTOMER, LIST_CUSTOMERS) * 5):  # warm caches; not counted
            check_response(call, app(event_for(call, i + 1), FakeLambdaContext()), i + 1)
        before = counter.snapshot()
        elapsed = request = response = 0.0
        streams = [h for h in runtime_logger.handlers if isinstance(h, logging.StreamHandler)]
        if not streams:
            raise BenchError("the runtime's logger has no stream handler: its log bytes cannot be measured")
        originals = [h.setStream(log) for h in streams]
        runtime_logger.setLevel(logging.INFO)
        try:
            for i in range(per_tool):
                for call in (GET_CUSTOMER, LIST_CUSTOMERS):
                    event = event_for(call, 100 + i)
                    started = time.perf_counter()
                    result = app(event, FakeLambdaContext())
                    elapsed += time.perf_counter() - started
                    check_response(call, result, 100 + i)
                    request += len(event.get("body") or "")
                    response += len(result.get("body") or "")
        finally:
            for h, original in zip(streams, originals, strict=True):
                h.setStream(original)
            runtime_logger.setLevel(level)
        delta = counter.since(before)
    n = 2 * per_tool
    return Measured(
        calls=n,
        ops=delta.calls,
        outside_aws_ms=(elapsed - delta.aws_seconds) / n * 1000,
        request_bytes=request / n,
        response_bytes=response / n,
        log_bytes=len(log.getvalue().encode()) / n,
    )


def _rows(m: Measured, tenants: int) -> list[Row]:
    gb = MEMORY_MB / 1024
    per_call = {op: count / m.calls for op, count in m.ops.items()}
    aws_ms = sum(n * AWS_LATENCY_MS.get(op.split(".")[0], 10.0) for op, n in per_call.items())
    # Tenant-bound caches: a container re-reads a tenant's registry entry and re-assumes its role once
    # per window in which that tenant calls it. Calls spread evenly (Poisson) over tenants, containers
    # and the month: the warm-call counts above (one tenant, always cached) leave these out.
    registry_miss = _miss_rate(tenants, REGISTRY_TTL_S)
    credentials_miss = _miss_rate(tenants, CREDENTIALS_REFRESH_S)
    registry_reads = registry_miss * CALLS
    assume_roles = credentials_miss * CALLS
    miss_ms = registry_miss * AWS_LATENCY_MS["DynamoDB"] + credentials_miss * (AWS_LATENCY_MS["STS"] + CLIENT_BUILD_MS)
    billed_ms = math.ceil(m.outside_aws_ms + aws_ms + miss_ms)
    cold = CALLS * COLD_STARTS_PER_MILLION / 1e6

    def ops_matching(prefix: str) -> float:
        return sum(n for op, n in per_call.items() if op.startswith(prefix)) * CALLS

    reads = sum(n for op, n in per_call.items() if op.split(" ")[0] in ("DynamoDB.GetItem", "DynamoDB.Query"))
    writes = sum(n for op, n in per_call.items() if op.split(" ")[0] in ("DynamoDB.UpdateItem", "DynamoDB.PutItem"))
    # Items here are under 4 KB (reads, eventually consistent: half a unit) and 1 KB (writes: one unit).
    read_units = reads * CALLS * 0.5 + registry_reads * 0.5
    write_units = writes * CALLS
    log_gb = CALLS * (m.log_bytes + PLATFORM_LOG_BYTES + 450) / 1e9  # 450: one EMF document per call
    p = PRICES
    items = [
        ("Lambda requests", CALLS * p["lambda_request"], "$0.20 per million"),
        (
            "Lambda duration",
            CALLS * billed_ms / 1000 * gb * p["lambda_gb_second_arm64"],
            f"{billed_ms} ms billed = {m.outside_aws_ms:.1f} ms measured outside AWS + {aws_ms:.1f} ms assumed "
            f"in AWS calls + {miss_ms:.1f} ms cache refreshes; {MEMORY_MB} MB arm64",
        ),
        (
            "SnapStart restores",
            cold * (gb * p["snapstart_restore_gb"] + RESTORE_MS / 1000 * gb * p["lambda_gb_second_arm64"]),
            f"{COLD_STARTS_PER_MILLION} restores per million calls (assumed), {RESTORE_MS} ms billed each",
        ),
        (
            "SnapStart snapshot cache",
            SNAPSHOT_VERSIONS * gb * MONTH_SECONDS * p["snapstart_cache_gb_second"],
            f"{SNAPSHOT_VERSIONS} live version for a month (10 M calls taken as one month); the premium path adds one",
        ),
        (
            "API Gateway HTTP API",
            CALLS * math.ceil(max(m.request_bytes, m.response_bytes) / (512 * 1024)) * p["http_api_request"],
            f"request {m.request_bytes:.0f} B, response {m.response_bytes:.0f} B (measured): one unit each",
        ),
        (
            "DynamoDB reads",
            read_units * p["dynamodb_read_unit"],
            f"{reads:.2f} data reads per call (measured) + registry refreshes on {registry_miss:.0%} of calls",
        ),
        ("DynamoDB writes", write_units * p["dynamodb_write_unit"], f"{writes:.2f} writes per call (measured)"),
        ("KMS", ops_matching("KMS.") * p["kms_request"], f"{ops_matching('KMS.') / CALLS:.2f} per call (measured)"),
        (
            "STS AssumeRole",
            assume_roles * p["sts_request"],
            f"on {credentials_miss:.0%} of calls ({assume_roles:,.0f}); free, its latency is in the duration",
        ),
        (
            "CloudWatch Logs",
            log_gb * p["logs_ingest_gb"],
            f"{m.log_bytes:.0f} B runtime logs per call (measured) + {PLATFORM_LOG_BYTES} B platform + 450 B EMF",
        ),
        (
            "CloudWatch metrics",
            METRICS * p["custom_metric_month"],
            f"{METRICS} EMF metrics for a month, no tenant dimension",
        ),
    ]
    agentcore = CALLS * p["agentcore_gateway_tool_call"]
    rows = [Row("cost", name, dollars, "$", note=note) for name, dollars, note in items]
    total = sum(dollars for _, dollars, _ in items)
    note = (
        f"per 10 M tools/call, {tenants:,} tenants, {CONTAINERS} containers; baseline: Amazon Bedrock AgentCore "
        f"Gateway at $5 per million tool calls (the gateway alone, no compute or data); goal: at most $40"
    )
    rows.append(Row("cost", "total per 10 M tools/call", total, "$", agentcore, note))
    ops = ", ".join(f"{op} {n:.2f}" for op, n in sorted(per_call.items()))
    rows.append(Row("cost", "measured AWS calls per tools/call", sum(per_call.values()), "calls", note=ops))
    return rows


def _miss_rate(tenants: int, window_s: int) -> float:
    """Share of calls that find a tenant's cache entry missing or expired in their container."""
    windows = tenants * CONTAINERS * (MONTH_SECONDS / window_s)
    per_window = CALLS / windows
    return (1 - math.exp(-per_window)) / per_window  # windows with a call, per call
