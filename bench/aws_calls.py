"""AWS API calls per tools/call, counted by botocore event hooks, and checked against the target.

Target for a warm call of a tenant whose credentials and registry record are cached:
the tool's own data access plus at most one metering write (the usage UpdateItem that
admits the call); no STS, no registry read, nothing else.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore import handlers

from bench.core import BenchError, Options, Row
from bench.events import GET_CUSTOMER, LIST_CUSTOMERS, TENANT, ToolCall, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources
from bench.tenants import context_for
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry.settings import Settings

__all__ = ["TARGET", "CallCounter", "Tables", "run_aws_calls"]

TARGET = "data + <=1 metering write"
IDLE = "get_customer, minute begun by another container"
IDLE_CALLS = 20


@dataclass
class CallCounter:
    """API calls by "Service.Operation [table]", HTTP attempts (retries show up here) and time spent."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    aws_seconds: float = 0.0
    op_seconds: dict[str, float] = field(default_factory=dict)

    def _hooks(self) -> list[tuple[str, Any]]:
        # provide-client-params fires once per API call with the caller's params (TableName is
        # readable there); before-send fires once per HTTP attempt; after-call closes the timing.
        return [
            ("provide-client-params", self._on_params),
            ("before-send", self._on_send),
            ("after-call", self._on_after_call),
        ]

    def install(self, session: botocore.session.Session) -> None:
        for event, hook in self._hooks():
            session.register(event, hook)

    def install_on_client(self, client: Any) -> None:
        for event, hook in self._hooks():
            client.meta.events.register(event, hook)

    @contextmanager
    def on_every_new_session(self) -> Iterator[None]:
        """Also count calls of sessions the runtime creates itself (per-tenant assumed credentials).

        Hooks on the injected session cannot see those: a new botocore session has its own
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
        return CallCounter(Counter(self.calls), self.attempts, self.aws_seconds, dict(self.op_seconds))

    def since(self, before: CallCounter) -> CallCounter:
        calls = self.calls - before.calls
        seconds = {k: self.op_seconds.get(k, 0.0) - before.op_seconds.get(k, 0.0) for k in calls}
        return CallCounter(calls, self.attempts - before.attempts, self.aws_seconds - before.aws_seconds, seconds)

    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        key = f"{model.service_model.service_id}.{model.name}"
        table = params.get("TableName")
        key = f"{key} [{table}]" if table else key
        self.calls[key] += 1
        context[self._started_key] = (key, time.perf_counter())

    def _on_send(self, **_: Any) -> None:
        self.attempts += 1

    def _on_after_call(self, context: dict[str, Any], **_: Any) -> None:
        started = context.get(self._started_key)
        if started is not None:
            key, at = started
            elapsed = time.perf_counter() - at
            self.aws_seconds += elapsed
            self.op_seconds[key] = self.op_seconds.get(key, 0.0) + elapsed


@dataclass(frozen=True)
class Tables:
    """Which table plays which part, so a call can be judged against the target."""

    registry: str
    usage: str
    audit: str
    data: frozenset[str]
    silo_prefix: str

    @classmethod
    def of(cls, settings: Settings) -> Tables:
        return cls(
            registry=settings.registry_table,
            usage=settings.usage_table,
            audit=settings.audit_table,
            data=frozenset(settings.cells()),
            silo_prefix=settings.silo_table_prefix,
        )

    def kind(self, key: str) -> str:
        """sts, registry, metering, usage (other), audit, data or other, for a "Service.Op [table]" key."""
        operation, _, rest = key.partition(" [")
        table = rest.rstrip("]")
        if operation.startswith("STS."):
            return "sts"
        if operation.startswith("KMS."):
            return "data"  # tenant secrets: the tool's own data access, on the tenant's credentials
        if table == self.registry:
            return "registry"
        if table == self.usage:
            return "metering" if operation == "DynamoDB.UpdateItem" else "usage (other)"
        if table == self.audit:
            return "audit"
        if table in self.data or (self.silo_prefix and table.startswith(self.silo_prefix)):
            return "data"
        return "other"

    def kinds(self, calls: Counter[str]) -> Counter[str]:
        counted: Counter[str] = Counter()
        for key, n in calls.items():
            counted[self.kind(key)] += n
        return counted

    def misses(self, calls: Counter[str]) -> list[str]:
        """Why one warm call misses the target (empty: it meets it)."""
        kinds = self.kinds(calls)
        reasons = [f"{kinds[k]} {k}" for k in ("sts", "registry", "audit", "usage (other)", "other") if kinds[k]]
        if kinds["metering"] > 1:
            reasons.append(f"{kinds['metering']} metering writes")
        return reasons


@dataclass
class ToolTally:
    """Per tool: every call the process made, the share seen on the injected session, per-call verdicts."""

    tables: Tables
    invocations: int = 0
    seconds: float = 0.0
    everywhere: CallCounter = field(default_factory=CallCounter)
    injected: CallCounter = field(default_factory=CallCounter)
    misses: Counter[str] = field(default_factory=Counter)
    missed_calls: int = 0
    unmetered_calls: int = 0

    def add(self, everywhere: CallCounter, injected: CallCounter, seconds: float) -> None:
        self.invocations += 1
        self.seconds += seconds
        for total, delta in ((self.everywhere, everywhere), (self.injected, injected)):
            total.calls.update(delta.calls)
            total.attempts += delta.attempts
            total.aws_seconds += delta.aws_seconds
        reasons = self.tables.misses(everywhere.calls)
        self.missed_calls += bool(reasons)
        self.misses.update(reasons)
        self.unmetered_calls += self.tables.kinds(everywhere.calls)["metering"] == 0


@dataclass
class Counting:
    everywhere: CallCounter = field(default_factory=CallCounter)
    injected: CallCounter = field(default_factory=CallCounter)


def run_aws_calls(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    tables = Tables.of(aws.settings)
    counting = Counting()
    direct = CallCounter()  # hooks on the runtime's own cached tenant client: a second opinion
    with counting.everywhere.on_every_new_session():
        session = botocore.session.get_session()
        counting.injected.install(session)
        # A fresh container, so its first call shows what empty caches cost.
        services = Services.create(aws.settings, session=session)
        app = LambdaApp(services)
        first = ToolTally(tables)
        _invoke(app, counting, GET_CUSTOMER, 1, first)
        record = services.registry.get(TENANT)  # cached by the first call: no AWS call here
        if record is None:
            raise BenchError(f"the seeded tenant {TENANT} is not in the registry")
        # The same object the dal gets: credentials and client are cached, so no AssumeRole here either.
        direct.install_on_client(services.clients.dynamodb(context_for(record, aws.platform)))
        assumed_before_warm = services.credentials.assumed
        tallies = {call.name: ToolTally(tables) for call in (GET_CUSTOMER, LIST_CUSTOMERS)}
        deadline = time.monotonic() + options.loop_seconds
        for i in range(options.count_calls):
            for call in (GET_CUSTOMER, LIST_CUSTOMERS):
                _invoke(app, counting, call, i + 2, tallies[call.name])
            if time.monotonic() > deadline:
                break
        # The usage item's minute disagrees with what this container remembers: in production,
        # another container admitted the tenant in a different minute. The meter's first guess is
        # then wrong and a second conditional write follows. (An idle tenant whose last call was in
        # an earlier minute costs one write: see the "first" section's metering row.)
        idle = tallies[IDLE] = ToolTally(tables)
        deadline = time.monotonic() + options.loop_seconds
        for i in range(min(options.count_calls, IDLE_CALLS)):
            _age_minute(aws.platform.services.dynamodb, aws.settings.usage_table)
            _invoke(app, counting, GET_CUSTOMER, options.count_calls + i + 2, idle)
            if time.monotonic() > deadline:
                break
    rows = _rows(first, tallies, tables)
    rows += _cross_checks(tallies, tables, direct, services.credentials.assumed - assumed_before_warm)
    return rows


def _age_minute(function_client: Any, usage_table: str) -> None:
    """Make the tenant's usage item look as if its last call was long ago (the function's own client)."""
    month = datetime.now(UTC).strftime("%Y-%m")
    function_client.update_item(
        TableName=usage_table,
        Key={"pk": {"S": TENANT}, "sk": {"S": f"MONTH#{month}"}},
        UpdateExpression="SET #minute = :old",
        ExpressionAttributeNames={"#minute": "minute"},
        ExpressionAttributeValues={":old": {"S": "2000-01-01T00:00"}},
    )


def _invoke(app: LambdaApp, counting: Counting, call: ToolCall, rpc_id: int, tally: ToolTally) -> None:
    everywhere, injected = counting.everywhere.snapshot(), counting.injected.snapshot()
    started = time.perf_counter()
    result = app(event_for(call, rpc_id), FakeLambdaContext(aws_request_id=f"bench-{rpc_id}"))
    elapsed = time.perf_counter() - started
    check_response(call, result, rpc_id)
    tally.add(counting.everywhere.since(everywhere), counting.injected.since(injected), elapsed)


def _rows(first: ToolTally, tallies: dict[str, ToolTally], tables: Tables) -> list[Row]:
    rows = [
        Row("aws", f"first call, fresh container: {key}", count, "calls", note="get_customer" + _seen(first, key))
        for key, count in sorted(first.everywhere.calls.items())
    ]
    for name, tally in tallies.items():
        rows += _tool_rows(name, tally, tables)
    return rows


def _seen(tally: ToolTally, key: str) -> str:
    """Say when a call bypassed the injected session, so a session-only count would have missed it."""
    total, injected = tally.everywhere.calls[key], tally.injected.calls[key]
    return "" if injected == total else f"; {total - injected} of {total} NOT on the injected session"


def _tool_rows(name: str, tally: ToolTally, tables: Tables) -> list[Row]:
    n = tally.invocations
    calls = tally.everywhere.calls
    rows = [
        Row("aws", f"{name}: {key}", count / n, "calls", note=f"per warm call, n={n}{_seen(tally, key)}")
        for key, count in sorted(calls.items())
    ]
    kinds = tables.kinds(calls)
    if not kinds["data"]:  # every tool here reads the data table: nothing counted means the hooks lost sight of it
        rows.append(Row("aws", f"{name}: data calls", 0, "calls", note="NONE COUNTED: hooks missed a client?"))
    sts = kinds["sts"] / n
    rows.append(Row("aws", f"{name}: STS calls", sts, "calls", note="credentials cached" if sts == 0 else "MISS"))
    registry_reads = kinds["registry"] / n
    verdict = "cached" if registry_reads == 0 else "NOT CACHED: registry reads on warm calls"
    rows.append(Row("aws", f"{name}: registry reads", registry_reads, "calls", note=verdict))
    split = ", ".join(f"{kinds[k] / n:.2f} {k}" for k in sorted(kinds))
    if tally.missed_calls and name == IDLE:
        # By design: the container's guess of "same minute" is wrong once, so admission tries the other form.
        verdict = (
            f"as designed: {tally.missed_calls} of {n} calls needed a second admission write "
            "(the container's minute was stale); not counted against the target"
        )
    elif tally.missed_calls:
        why = ", ".join(f"{reason} x{count}" for reason, count in tally.misses.most_common(3))
        verdict = f"MISS on {tally.missed_calls} of {n} calls ({why})"
    else:
        verdict = f"PASS on all {n} calls"
    if tally.unmetered_calls:
        verdict += f"; {tally.unmetered_calls} calls had NO metering write (expected exactly 1)"
    note = f"target: {TARGET}; {split}; {verdict}"
    rows.append(Row("aws", f"{name}: AWS calls per warm call", sum(calls.values()) / n, "calls", note=note))
    if tally.everywhere.attempts != sum(calls.values()):
        rows.append(Row("aws", f"{name}: HTTP attempts", tally.everywhere.attempts / n, "calls", note="retries"))
    aws_ms, total_ms = tally.everywhere.aws_seconds / n * 1000, tally.seconds / n * 1000
    note = f"mean of {total_ms:.2f} ms, {aws_ms:.2f} ms of it in botocore+moto"
    rows.append(Row("aws", f"{name}: time outside AWS calls", total_ms - aws_ms, "ms", note=note))
    return rows


def _cross_checks(tallies: dict[str, ToolTally], tables: Tables, direct: CallCounter, assumed: int) -> list[Row]:
    """Do the process-wide hooks see what the per-tenant clients really do? Two independent counts."""
    n = sum(t.invocations for t in tallies.values())
    everywhere: Counter[str] = Counter()
    for tally in tallies.values():  # every tally here is a warm call of the seeded tenant
        everywhere.update(tally.everywhere.calls)
    data = tables.kinds(everywhere)["data"]
    seen = sum(direct.calls.values())
    same = "matches" if seen == data else f"MISMATCH: the process-wide hooks counted {data}"
    sts = tables.kinds(everywhere)["sts"]
    same_sts = "matches" if sts == assumed else f"MISMATCH: the hooks counted {sts}"
    return [
        Row("aws", "check: data calls on the tenant's own client", seen / n, "calls", note=f"per warm call; {same}"),
        Row("aws", "check: TenantCredentials.assumed on warm calls", assumed, "calls", note=f"total; {same_sts}"),
    ]
