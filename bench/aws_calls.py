"""AWS API calls per tools/call, counted by botocore event hooks on an injected session."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore import handlers

from bench.core import Options, Row
from bench.events import GET_CUSTOMER, LIST_CUSTOMERS, ToolCall, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services

__all__ = ["CallCounter", "run_aws_calls"]


@dataclass
class CallCounter:
    """API calls by "Service.Operation [table]", HTTP attempts (retries show up here) and time spent."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    aws_seconds: float = 0.0

    def _hooks(self) -> list[tuple[str, Any]]:
        # provide-client-params fires once per API call with the caller's params (TableName is
        # readable there); before-send fires once per HTTP attempt; after-call closes the timing.
        return [
            ("provide-client-params", self._on_params),
            ("before-send", self._on_send),
            ("after-call", self._on_after_call),
        ]

    def install(self, session: boto3.Session) -> None:
        for event, hook in self._hooks():
            session.events.register(event, hook)

    @contextmanager
    def on_every_new_session(self) -> Iterator[None]:
        """Also count calls of sessions the runtime creates itself (per-tenant assumed credentials).

        Hooks on the injected session cannot see those: a new boto3.Session has its own
        event emitter. Every botocore session registers botocore's builtin handler list
        when it is created, so entries added to it reach sessions created until exit.
        """
        added = self._hooks()
        handlers.BUILTIN_HANDLERS.extend(added)
        try:
            yield
        finally:
            for spec in added:
                handlers.BUILTIN_HANDLERS.remove(spec)

    @property
    def _started_key(self) -> str:
        return f"bench_started_{id(self)}"  # ours in botocore's per-request context dict

    def snapshot(self) -> CallCounter:
        return CallCounter(Counter(self.calls), self.attempts, self.aws_seconds)

    def since(self, before: CallCounter) -> CallCounter:
        return CallCounter(
            self.calls - before.calls, self.attempts - before.attempts, self.aws_seconds - before.aws_seconds
        )

    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        key = f"{model.service_model.service_id}.{model.name}"
        table = params.get("TableName")
        self.calls[f"{key} [{table}]" if table else key] += 1
        context[self._started_key] = time.perf_counter()

    def _on_send(self, **_: Any) -> None:
        self.attempts += 1

    def _on_after_call(self, context: dict[str, Any], **_: Any) -> None:
        started = context.get(self._started_key)
        if started is not None:
            self.aws_seconds += time.perf_counter() - started


@dataclass
class ToolTally:
    """Per tool: every call the process made, and the share of it seen on the injected session."""

    invocations: int = 0
    seconds: float = 0.0
    everywhere: CallCounter = field(default_factory=CallCounter)
    injected: CallCounter = field(default_factory=CallCounter)

    def add(self, everywhere: CallCounter, injected: CallCounter, seconds: float) -> None:
        self.invocations += 1
        self.seconds += seconds
        for total, delta in ((self.everywhere, everywhere), (self.injected, injected)):
            total.calls.update(delta.calls)
            total.attempts += delta.attempts
            total.aws_seconds += delta.aws_seconds


@dataclass
class Counting:
    everywhere: CallCounter = field(default_factory=CallCounter)
    injected: CallCounter = field(default_factory=CallCounter)


def run_aws_calls(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    counting = Counting()
    with counting.everywhere.on_every_new_session():
        session = boto3.Session()
        counting.injected.install(session)
        # A fresh container, so its first call shows what empty caches cost.
        app = LambdaApp(Services.create(aws.settings, session=session))
        first = ToolTally()
        _invoke(app, counting, GET_CUSTOMER, 1, first)
        tallies = {call.name: ToolTally() for call in (GET_CUSTOMER, LIST_CUSTOMERS)}
        deadline = time.monotonic() + options.loop_seconds
        for i in range(options.count_calls):
            for call in (GET_CUSTOMER, LIST_CUSTOMERS):
                _invoke(app, counting, call, i + 2, tallies[call.name])
            if time.monotonic() > deadline:
                break
    return _rows(first, tallies, aws.settings.registry_table)


def _invoke(app: LambdaApp, counting: Counting, call: ToolCall, rpc_id: int, tally: ToolTally) -> None:
    everywhere, injected = counting.everywhere.snapshot(), counting.injected.snapshot()
    started = time.perf_counter()
    result = app(event_for(call, rpc_id), FakeLambdaContext(aws_request_id=f"bench-{rpc_id}"))
    elapsed = time.perf_counter() - started
    check_response(call, result, rpc_id)
    tally.add(counting.everywhere.since(everywhere), counting.injected.since(injected), elapsed)


def _rows(first: ToolTally, tallies: dict[str, ToolTally], registry_table: str) -> list[Row]:
    rows = [
        Row("aws", f"first call, fresh container: {key}", count, "calls", note="get_customer" + _seen(first, key))
        for key, count in sorted(first.everywhere.calls.items())
    ]
    for name, tally in tallies.items():
        rows += _tool_rows(name, tally, registry_table)
    return rows


def _seen(tally: ToolTally, key: str) -> str:
    """Say when a call bypassed the injected session, so a session-only count would have missed it."""
    total, injected = tally.everywhere.calls[key], tally.injected.calls[key]
    return "" if injected == total else f"; {total - injected} of {total} NOT on the injected session"


def _tool_rows(name: str, tally: ToolTally, registry_table: str) -> list[Row]:
    n = tally.invocations
    calls = tally.everywhere.calls
    rows = [
        Row("aws", f"{name}: {key}", count / n, "calls", note=f"per warm call, n={n}{_seen(tally, key)}")
        for key, count in sorted(calls.items())
    ]
    if not calls:  # every tool here reads the data table: nothing counted means the hooks lost sight of it
        rows.append(Row("aws", f"{name}: all AWS calls", 0, "calls", note="NONE COUNTED: hooks missed a client?"))
    registry_reads = sum(c for key, c in calls.items() if key.endswith(f"[{registry_table}]")) / n
    verdict = "cached" if registry_reads == 0 else "NOT CACHED: registry reads on warm calls"
    rows.append(Row("aws", f"{name}: registry reads", registry_reads, "calls", note=verdict))
    if tally.everywhere.attempts != sum(calls.values()):
        rows.append(Row("aws", f"{name}: HTTP attempts", tally.everywhere.attempts / n, "calls", note="retries"))
    aws_ms, total_ms = tally.everywhere.aws_seconds / n * 1000, tally.seconds / n * 1000
    note = f"mean of {total_ms:.2f} ms, {aws_ms:.2f} ms of it in botocore+moto"
    rows.append(Row("aws", f"{name}: time outside AWS calls", total_ms - aws_ms, "ms", note=note))
    return rows
