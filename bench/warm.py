"""Warm: per-call latency through one handler instance, interleaved with the bare baseline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import baseline
from bench.core import Options, Row, ms
from bench.events import BASELINE_CALL, GET_CUSTOMER, LIST_CUSTOMERS, ToolCall, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources

__all__ = ["run_warm"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
WARMUP_CALLS = 20


def run_warm(resources: Resources, options: Options) -> list[Row]:
    resources.aws()
    # The real Lambda entry point, reading its settings from the environment like a container does.
    from tenantry.mcp_server.handler import handler

    targets: list[tuple[Handler, ToolCall]] = [
        (handler, GET_CUSTOMER),
        (handler, LIST_CUSTOMERS),
        (baseline.handler, BASELINE_CALL),
    ]
    for fn, call in targets:  # the first call builds the app: that is the cold section's business
        for i in range(WARMUP_CALLS):
            _timed_call(fn, call, i + 1)
    samples: dict[str, list[float]] = {call.name: [] for _, call in targets}
    deadline = time.monotonic() + options.loop_seconds
    for i in range(options.warm_calls):
        # Round-robin, so drift on the machine (moto's heap, GC, neighbours) touches every series alike.
        for fn, call in targets:
            samples[call.name].append(_timed_call(fn, call, i + 1))
        if time.monotonic() > deadline:
            break
    return _rows(samples)


def _timed_call(fn: Handler, call: ToolCall, rpc_id: int) -> float:
    event = event_for(call, rpc_id)
    context = FakeLambdaContext(aws_request_id=f"bench-{rpc_id}")
    started = time.perf_counter()
    result = fn(event, context)
    elapsed = time.perf_counter() - started
    check_response(call, result, rpc_id)
    return elapsed


def _rows(samples: dict[str, list[float]]) -> list[Row]:
    base_median, base_p99 = ms(samples[BASELINE_CALL.name])
    rows = []
    for call in (GET_CUSTOMER, LIST_CUSTOMERS):
        median, p99 = ms(samples[call.name])
        n = len(samples[call.name])
        note = f"n={n}; moto on loopback, same process"
        rows.append(Row("warm", f"{call.name} median", median, "ms", base_median, note))
        rows.append(Row("warm", f"{call.name} p99", p99, "ms", base_p99, note))
    return rows
