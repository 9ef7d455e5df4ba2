"""What the botocore guard on tenant DynamoDB clients adds per call.

Two views: the `before-parameter-build` hook alone on the parameters the dal really
sends (microseconds per check, beside a hook that does nothing), and end to end, a
guarded and an unguarded client doing the same GetItem against the embedded moto.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.session import get_session

from bench.core import BenchError, Options, Row, iqr
from bench.events import TENANT
from bench.resources import Resources
from bench.tenants import context_for
from tenantry.dal.items import to_attrs
from tenantry.dal.keys import PK, SK, counter_key, customer_key, customer_prefix
from tenantry.errors import CrossTenantAccessError
from tenantry.isolation.guard import install_guard
from tenantry.tenancy.context import TenantContext

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["run_guard"]

Hook = Callable[..., None]
INNER = 200  # checks per timed run: long enough for perf_counter, short enough to give many runs
WARMUP_CALLS = 20
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


class _HookCatcher:
    """Stands in for a client so install_guard hands over the hook it would register."""

    def __init__(self) -> None:
        self.meta = self
        self.events = self
        self.hooks: list[tuple[str, Hook]] = []

    def register(self, event: str, hook: Hook) -> None:
        self.hooks.append((event, hook))


def _noop(params: dict[str, Any], model: Any, **_: Any) -> None:
    return None


def run_guard(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    record = aws.platform.services.registry.get(TENANT)
    if record is None:
        raise BenchError(f"the seeded tenant {TENANT} is not in the registry")
    tenant = context_for(record, aws.platform)
    rows = _micro(tenant, options)
    rows += _end_to_end(tenant, options)
    return rows


def _cases(tenant: TenantContext) -> dict[str, dict[str, Any]]:
    """Parameters as tenantry.dal.customers builds them (get, list with a cursor, create)."""
    table = tenant.data_table
    partition, prefix = customer_prefix(tenant)
    item = {**customer_key(tenant, "cus_0042"), "name": "Bench Person", "email": "b@example.com", "version": 1}
    return {
        "GetItem": {"TableName": table, "Key": to_attrs(customer_key(tenant, "cus_0001")), "ConsistentRead": True},
        "Query": {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": to_attrs({":pk": partition, ":prefix": prefix}),
            "Limit": 20,
            "ExclusiveStartKey": to_attrs(customer_key(tenant, "cus_0002")),
        },
        "TransactWriteItems": {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": table,
                        "Item": to_attrs(item),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": PK},
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": to_attrs(counter_key(tenant, "customers")),
                        "UpdateExpression": "ADD #n :one",
                        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
                        "ExpressionAttributeNames": {"#n": "n"},
                        "ExpressionAttributeValues": to_attrs({":one": 1, ":limit": 2000}),
                    }
                },
            ]
        },
    }


def _micro(tenant: TenantContext, options: Options) -> list[Row]:
    catcher = _HookCatcher()
    install_guard(cast(Any, catcher), tenant.tenant_id, [tenant.data_table])
    if [event for event, _ in catcher.hooks] != ["before-parameter-build.dynamodb"]:
        raise BenchError(f"install_guard registered {catcher.hooks}; the bench expects one before-parameter-build hook")
    guard = catcher.hooks[0][1]
    service = get_session().get_service_model("dynamodb")
    cases = {name: (params, service.operation_model(name)) for name, params in _cases(tenant).items()}
    for name, (params, model) in cases.items():  # a refusal here would time the error path, not the check
        try:
            guard(params=params, model=model, context={})
        except CrossTenantAccessError as exc:
            raise BenchError(f"the guard refused the bench's own {name} parameters: {exc}") from exc
    samples: dict[tuple[str, str], list[float]] = {(n, h): [] for n in cases for h in ("guard", "noop")}
    deadline = time.monotonic() + options.loop_seconds
    for _ in range(options.guard_runs):
        for name, (params, model) in cases.items():
            for label, hook in (("guard", guard), ("noop", _noop)):  # interleaved: drift hits both alike
                samples[name, label].append(_per_check(hook, params, model))
        if time.monotonic() > deadline:
            break
    rows = []
    for name in cases:
        guarded, noop = samples[name, "guard"], samples[name, "noop"]
        added = statistics.median(guarded) - statistics.median(noop)
        note = f"median of {len(guarded)} runs x {INNER} checks; +{added:.2f} us over a no-op hook"
        rows.append(
            Row("guard", f"hook alone: {name}", statistics.median(guarded), "us", statistics.median(noop), note)
        )
    return rows


def _per_check(hook: Hook, params: dict[str, Any], model: Any) -> float:
    context: dict[str, Any] = {}
    started = time.perf_counter()
    for _ in range(INNER):
        hook(params=params, model=model, context=context)
    return (time.perf_counter() - started) / INNER * 1e6


def _end_to_end(tenant: TenantContext, options: Options) -> list[Row]:
    session = botocore.session.get_session()  # the environment points it at the embedded moto
    plain: Any = session.create_client("dynamodb", config=_CONFIG)
    guarded = install_guard(
        cast("DynamoDBClient", session.create_client("dynamodb", config=_CONFIG)), tenant.tenant_id, [tenant.data_table]
    )
    params = _cases(tenant)["GetItem"]
    for _ in range(WARMUP_CALLS):
        for client in (plain, guarded):
            if "Item" not in client.get_item(**params):
                raise BenchError(f"GetItem found no seeded customer in {tenant.data_table}")
    timings: dict[str, list[float]] = {"guarded": [], "plain": []}
    deadline = time.monotonic() + options.loop_seconds
    for _ in range(options.guard_calls):
        for label, client in (("guarded", guarded), ("plain", plain)):
            started = time.perf_counter()
            client.get_item(**params)
            timings[label].append(time.perf_counter() - started)
        if time.monotonic() > deadline:
            break
    guarded_ms = statistics.median(timings["guarded"]) * 1000
    plain_ms = statistics.median(timings["plain"]) * 1000
    spread_ms = iqr(timings["plain"]) * 1000
    diff_us = (guarded_ms - plain_ms) * 1000
    noise = abs(diff_us) < spread_ms * 1000 / 2
    verdict = f"moto's noise dominates (IQR {spread_ms * 1000:.0f} us)" if noise else f"IQR {spread_ms * 1000:.0f} us"
    note = f"n={len(timings['guarded'])} each, interleaved; {diff_us:+.0f} us; {verdict}"
    return [Row("guard", "GetItem via guarded vs unguarded client", guarded_ms, "ms", plain_ms, note)]
