"""Dollars per 10 million tools/call, from quantities measured here and a price table you can edit.

Measured in this run: AWS calls per tools/call by operation, time outside AWS calls, request and
response sizes, log bytes the runtime writes (its sampled tool_call lines and the EMF documents'
size). The deployed settings come from the stack's defaults (infra/config.py: memory, log levels)
and the runtime's (credential and registry windows). Everything else is an
assumption, printed with its value: prices (us-east-1, public list prices when written; edit
PRICES), AWS-side latency per call, cold starts per call, containers and how many tenants each
container sees. Nothing here asserts: the table is for people to read and argue with.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass

import botocore.session

from bench.aws_calls import CallCounter
from bench.core import BenchError, Options, Row
from bench.events import GET_CUSTOMER, LIST_CUSTOMERS, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources
from infra.config import DEFAULTS
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry.observability import INCIDENT_METRICS, METRIC_NAMES, get_metrics
from tenantry.settings import Settings

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
MEMORY_MB = int(DEFAULTS["memory_mb"])
MEMORY_CHOICES = (256, 384, 512, 768, 1024, 1769)  # the sweep printed beside the chosen size
# Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB: time measured
# here on one core stretches by 1769 / memory below that.
FULL_VCPU_MB = 1769
AWS_LATENCY_MS = {"DynamoDB": 6.0, "KMS": 8.0, "STS": 25.0, "S3": 15.0}
COLD_STARTS_PER_MILLION = 200  # new containers per million calls (scale-out, idle reaping)
CONTAINERS = 4  # warm containers at a time, month round (10 M a month is ~4 calls/s)
SNAPSHOT_VERSIONS = 1  # the MCP function's live version (the premium path, when deployed, adds one)
METRICS = len(METRIC_NAMES)  # one dimension set each (service), never tenant_id
# The stack's setting (TENANTRY_REGISTRY_CACHE_SECONDS): a container re-reads a tenant's record once
# per window in which the tenant calls it (changes reach it through the admission write, not this).
REGISTRY_TTL_S = int(DEFAULTS["registry_cache_seconds"])
CREDENTIALS_REFRESH_S = int(Settings.model_fields["tenant_credentials_seconds"].default) - 120
CLIENT_BUILD_MS = 5.0  # a tenant's guarded client from the shared session (see the "first" section)
# Lambda's START / END / REPORT lines per invocation, ingested only at system log level INFO or below.
PLATFORM_LOG_BYTES = 350 if DEFAULTS["system_log_level"] != "WARN" else 0
# EMF: a container writes one document per minute of routine calls (observability.MetricsBatch, at most
# 100 values a metric), so a document's fixed bytes are shared by the calls of a container-minute.
EMF_VALUE_BYTES = 4  # "1.0," per value in the ToolCalls list
RESTORE_MS = 400  # billed restore duration per SnapStart restore (assumption)


@dataclass
class Measured:
    calls: int
    ops: Counter[str]
    outside_aws_ms: float
    request_bytes: float
    response_bytes: float
    log_bytes: float
    emf_document_bytes: float  # the fixed part of one EMF document (values excluded)


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
        emf = io.StringIO()
        get_metrics().clear_metrics()
        try:
            with redirect_stdout(emf):  # powertools prints EMF documents to stdout
                for i in range(per_tool):
                    for call in (GET_CUSTOMER, LIST_CUSTOMERS):
                        event = event_for(call, 100 + i)
                        started = time.perf_counter()
                        result = app(event, FakeLambdaContext())
                        elapsed += time.perf_counter() - started
                        check_response(call, result, 100 + i)
                        request += len(event.get("body") or "")
                        response += len(result.get("body") or "")
                get_metrics().flush_metrics()  # what the batch still holds, as the next minute would write it
                get_metrics().clear_metrics()
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
        emf_document_bytes=_emf_fixed_bytes(emf.getvalue()),
    )


def _emf_fixed_bytes(printed: str) -> float:
    """Mean bytes of an EMF document without its values: what batching spreads over many calls."""
    fixed = []
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        values = sum(
            len(v) if isinstance(v, list) else 1
            for k, v in document.items()
            if k in {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        )
        fixed.append(len(line.encode()) + 1 - values * EMF_VALUE_BYTES)
    if not fixed:
        raise BenchError("the measured calls wrote no EMF document: the metrics bytes cannot be measured")
    return sum(fixed) / len(fixed)


def _rows(m: Measured, tenants: int) -> list[Row]:
    items, total, per_call = _items(m, tenants, MEMORY_MB)
    agentcore = CALLS * PRICES["agentcore_gateway_tool_call"]
    rows = [Row("cost", name, dollars, "$", note=note) for name, dollars, note in items]
    note = (
        f"per 10 M tools/call, {tenants:,} tenants, {CONTAINERS} containers, {MEMORY_MB} MB; baseline: Amazon "
        f"Bedrock AgentCore Gateway at $5 per million tool calls (the gateway alone, no compute or data); "
        f"goal: at most $25"
    )
    rows.append(Row("cost", "total per 10 M tools/call", total, "$", agentcore, note))
    ops = ", ".join(f"{op} {n:.2f}" for op, n in sorted(per_call.items()))
    rows.append(Row("cost", "measured AWS calls per tools/call", sum(per_call.values()), "calls", note=ops))
    # The memory trade-off: duration and the snapshot cache fall with memory, CPU time grows below 1,769 MB.
    for memory in MEMORY_CHOICES:
        swept, swept_total, _ = _items(m, tenants, memory)
        by_name = {name: dollars for name, dollars, _ in swept}
        note = (
            f"duration ${by_name['Lambda duration']:.2f} + snapshot cache ${by_name['SnapStart snapshot cache']:.2f}"
            f" + restores ${by_name['SnapStart restores']:.2f}"
            + ("  (the stack's default)" if memory == MEMORY_MB else "")
        )
        rows.append(Row("cost", f"total at {memory} MB", swept_total, "$", note=note))
    return rows


def _items(m: Measured, tenants: int, memory_mb: int) -> tuple[list[tuple[str, float, str]], float, dict[str, float]]:
    gb = memory_mb / 1024
    cpu_stretch = max(1.0, FULL_VCPU_MB / memory_mb)
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
    outside_ms = m.outside_aws_ms * cpu_stretch
    billed_ms = math.ceil(outside_ms + aws_ms + miss_ms)
    cold = CALLS * COLD_STARTS_PER_MILLION / 1e6

    def ops_matching(prefix: str) -> float:
        return sum(n for op, n in per_call.items() if op.startswith(prefix)) * CALLS

    reads = sum(n for op, n in per_call.items() if op.split(" ")[0] in ("DynamoDB.GetItem", "DynamoDB.Query"))
    writes = sum(n for op, n in per_call.items() if op.split(" ")[0] in ("DynamoDB.UpdateItem", "DynamoDB.PutItem"))
    # Items here are under 4 KB (reads, eventually consistent: half a unit) and 1 KB (writes: one unit).
    # Registry refreshes too: tools/call re-reads an expired record eventually consistent (TenantRegistry.get;
    # the admission write catches a stale one), so half a unit each.
    read_units = reads * CALLS * 0.5 + registry_reads * 0.5
    write_units = writes * CALLS
    calls_per_document = min(100.0, max(1.0, CALLS / (MONTH_SECONDS / 60) / CONTAINERS))
    emf_bytes = m.emf_document_bytes / calls_per_document + EMF_VALUE_BYTES
    log_gb = CALLS * (m.log_bytes + PLATFORM_LOG_BYTES + emf_bytes) / 1e9
    p = PRICES
    items = [
        ("Lambda requests", CALLS * p["lambda_request"], "$0.20 per million"),
        (
            "Lambda duration",
            CALLS * billed_ms / 1000 * gb * p["lambda_gb_second_arm64"],
            f"{billed_ms} ms billed = {m.outside_aws_ms:.1f} ms measured outside AWS x {cpu_stretch:.2f} (CPU share at "
            f"{memory_mb} MB) + {aws_ms:.1f} ms assumed in AWS calls + {miss_ms:.1f} ms cache refreshes; arm64",
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
            f"{reads:.2f} data reads per call (measured) + registry refreshes on {registry_miss:.0%} of calls "
            f"(cache {REGISTRY_TTL_S} s, the stack's registry_cache_seconds; eventually consistent)",
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
            f"{m.log_bytes:.0f} B runtime logs per call (measured, successes sampled) + {PLATFORM_LOG_BYTES} B "
            f"platform (system log level {DEFAULTS['system_log_level']}) + {emf_bytes:.0f} B EMF "
            f"({m.emf_document_bytes:.0f} B a document, {calls_per_document:.0f} calls each)",
        ),
        (
            "CloudWatch metrics",
            METRICS * p["custom_metric_month"],
            f"{METRICS} EMF metrics for a month, no tenant dimension; the {len(INCIDENT_METRICS)} incident metrics "
            f"(errors, contention, moves...) are billed only in the hours they fire, not counted",
        ),
    ]
    return items, sum(dollars for _, dollars, _ in items), per_call


def _miss_rate(tenants: int, window_s: int) -> float:
    """Share of calls that find a tenant's cache entry missing or expired in their container."""
    windows = tenants * CONTAINERS * (MONTH_SECONDS / window_s)
    per_window = CALLS / windows
    return (1 - math.exp(-per_window)) / per_window  # windows with a call, per call
