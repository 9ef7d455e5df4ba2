"""First tools/call of a tenant new to a warm container, beside the same tenant's next (cached) call.

A tenant new to the container costs one AssumeRole, one registry read, and a guarded DynamoDB
client built from the container's botocore session on the assumed credentials. Its next call finds
all of them cached. Each fresh tenant is registered with `registry.put`, as the tests do.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any

import botocore.session
from botocore.config import Config

from bench.aws_calls import CallCounter, Tables
from bench.core import Options, Row
from bench.events import LIST_CUSTOMERS, TENANT, ToolCall, check_response, event_for
from bench.lambda_context import FakeLambdaContext
from bench.resources import Resources
from bench.tenants import new_tenant
from tenantry.isolation.guard import install_guard
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services

__all__ = ["run_first_call"]

WARMUP_CALLS = 10
# The runtime's client config (services.py): the client build cost does not depend on it much, but keep it equal.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
_EXPECTED_FIRST = {"sts": 1, "registry": 1, "metering": 1}


class _Series:
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.outside_aws: list[float] = []
        self.calls: Counter[str] = Counter()
        self.op_seconds: dict[str, list[float]] = {}

    def add(self, elapsed: float, delta: CallCounter) -> None:
        self.seconds.append(elapsed)
        self.outside_aws.append(elapsed - delta.aws_seconds)
        self.calls.update(delta.calls)
        for key, seconds in delta.op_seconds.items():
            self.op_seconds.setdefault(key, []).append(seconds)


def run_first_call(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    tables = Tables.of(aws.settings)
    counter = CallCounter()
    first, cached = _Series(), _Series()
    with counter.on_every_new_session():
        # One warm container of its own: SDK, pydantic models and botocore's loaders are already hot.
        app = LambdaApp(Services.create(aws.settings))
        for i in range(WARMUP_CALLS):
            _call(app, counter, LIST_CUSTOMERS, TENANT, i + 1)
        deadline = time.monotonic() + options.loop_seconds
        for i in range(options.fresh_tenants):
            tenant_id = new_tenant(aws.platform, plan="starter").tenant_id
            first.add(*_call(app, counter, LIST_CUSTOMERS, tenant_id, 2 * i + 1))
            cached.add(*_call(app, counter, LIST_CUSTOMERS, tenant_id, 2 * i + 2))
            if time.monotonic() > deadline:
                break
    session_build, client_only = _client_build_costs(len(first.seconds), aws.settings.data_table)
    return _rows(first, cached, tables, session_build, client_only)


def _call(
    app: LambdaApp, counter: CallCounter, call: ToolCall, tenant_id: str, rpc_id: int
) -> tuple[float, CallCounter]:
    before = counter.snapshot()
    event = event_for(call, rpc_id, tenant_id=tenant_id)
    started = time.perf_counter()
    result = app(event, FakeLambdaContext(aws_request_id=f"bench-first-{rpc_id}"))
    elapsed = time.perf_counter() - started
    check_response(call, result, rpc_id)
    return elapsed, counter.since(before)


def _client_build_costs(runs: int, table: str) -> tuple[list[float], list[float]]:
    """A guarded client from a new session per tenant (the design not taken), without any call.

    Beside it: what isolation/credentials.py + clients.py do after AssumeRole answers, one more
    client from the session that already exists, which reuses its loaded service model.
    """
    existing = _fake_session()
    _client(existing)
    new_session: list[float] = []
    same_session: list[float] = []
    for _ in range(max(3, runs)):
        started = time.perf_counter()
        session = _fake_session()
        install_guard(_client(session), "bench-tenant", [table])
        new_session.append(time.perf_counter() - started)
        started = time.perf_counter()
        install_guard(_client(existing), "bench-tenant", [table])
        same_session.append(time.perf_counter() - started)
    return new_session, same_session


def _fake_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.set_config_variable("region", "us-east-1")
    return session


def _client(session: botocore.session.Session) -> Any:
    # Keys as an AssumeRole answer gives them; they are never sent anywhere.
    return session.create_client(
        "dynamodb",
        config=_CONFIG,
        aws_access_key_id="ASIABENCH",
        aws_secret_access_key="bench",
        aws_session_token="bench",
    )


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _rows(
    first: _Series, cached: _Series, tables: Tables, session_build: list[float], client_only: list[float]
) -> list[Row]:
    n = len(first.seconds)
    spread = f"{min(first.seconds) * 1000:.1f}-{max(first.seconds) * 1000:.1f} ms"
    rows = [
        Row(
            "first",
            "first call, tenant new to the container",
            _median_ms(first.seconds),
            "ms",
            _median_ms(cached.seconds),
            f"median of n={n} fresh tenants ({spread}); baseline: each one's next call, all cached",
        ),
        Row(
            "first",
            "first call: time outside AWS calls",
            _median_ms(first.outside_aws),
            "ms",
            _median_ms(cached.outside_aws),
            "median; guarded client from the container's session, registry record, plan config",
        ),
    ]
    first_kinds, cached_kinds = tables.kinds(first.calls), tables.kinds(cached.calls)
    for key, count in sorted(first.calls.items()):
        kind = tables.kind(key)
        expected = _EXPECTED_FIRST.get(kind)
        check = "" if expected is None or count == expected * n else f"; MISS: expected {expected} per call"
        note = f"{kind}; {_median_ms(first.op_seconds.get(key, [0.0])):.2f} ms median each{check}"
        rows.append(Row("first", f"first call: {key}", count / n, "calls", cached.calls[key] / n, note))
    surprises = {k: v for k, v in cached_kinds.items() if k in ("sts", "registry")}
    verdict = "none" if not surprises else f"UNEXPECTED: {dict(surprises)}"
    rows.append(
        Row(
            "first",
            "next call: STS + registry calls",
            sum(surprises.values()) / n,
            "calls",
            note=f"expected 0 (cached); {verdict}; first call had {first_kinds['sts']} STS in {n}",
        )
    )
    rows.append(
        Row(
            "first",
            "a session per tenant + guarded client (not done)",
            _median_ms(session_build),
            "ms",
            _median_ms(client_only),
            f"median of n={len(session_build)}, no AWS call; baseline: a client from the existing session (done)",
        )
    )
    return rows
