"""Metering, monthly quotas and per-minute rate limits, in the usage table.

Admission is one conditional UpdateItem on the tenant's month item: it checks
the monthly quota and the per-minute rate and counts the call in the same
atomic write, so limits hold exactly under concurrency and a refused call is
not counted. Errors and durations of a call are known only after it ran; they
ride along with the tenant's next admission from the same container instead
of costing a second write per call (the structured log has every call too).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import usage_month_key
from tenantry.errors import LimitExceededError, QuotaExceededError, RateLimitedError, aws_error_code
from tenantry.isolation.cache import tenant_cache_key
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.plans import PLAN_ORDER, PLANS

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "LATENCY_BUCKETS_MS",
    "MonthUsage",
    "ToolUsage",
    "UsageMeter",
    "month_of",
]

LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_RETENTION_SECONDS = 400 * 86400
_ATTEMPTS = 4


class ToolUsage(BaseModel):
    calls: int = 0
    errors: int = 0
    total_ms: int = 0


class MonthUsage(BaseModel):
    tenant_id: str
    month: str
    calls: int = 0
    quota_denied: int = 0
    rate_denied: int = 0
    tools: dict[str, ToolUsage] = {}
    latency_histogram_ms: dict[str, int] = {}

    def percentile_ms(self, fraction: float) -> int | None:
        """Upper bound of the bucket holding the given fraction of recorded calls."""
        total = sum(self.latency_histogram_ms.values())
        if not total:
            return None
        running = 0
        for bound in [*map(str, LATENCY_BUCKETS_MS), "inf"]:
            running += self.latency_histogram_ms.get(bound, 0)
            if running >= fraction * total:
                return LATENCY_BUCKETS_MS[-1] * 2 if bound == "inf" else int(bound)
        return None


def month_of(now: datetime) -> str:
    return now.strftime("%Y-%m")


def _next_month(now: datetime) -> datetime:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _bucket(duration_ms: float) -> str:
    for bound in LATENCY_BUCKETS_MS:
        if duration_ms <= bound:
            return str(bound)
    return "inf"


@dataclass
class _Pending:
    """Outcomes of finished calls not yet written (per tenant, per container)."""

    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_ms: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buckets: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    month: str = ""


class UsageMeter:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._pending: dict[tuple[Any, ...], _Pending] = {}
        self._last_minute: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    def forget_container_state(self) -> None:
        """Drop this container's per-tenant memory (last admitted minute, refusals not yet written).

        Called before a SnapStart snapshot and after a restore: a snapshot seeds many containers,
        and each would otherwise write the same pending refusals and trust the same stale minute.
        """
        with self._lock:
            self._pending.clear()
            self._last_minute.clear()

    # -- admission -------------------------------------------------------------------------
    def admit(self, tenant: TenantContext, tool: str) -> None:
        """Count one call of `tool`, or raise QuotaExceededError / RateLimitedError and count nothing."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        month, minute = month_of(now), now.strftime("%Y-%m-%dT%H:%M")
        pending = self._take_pending(tenant.tenant_id, month)
        # Start with the form most likely to succeed: "same minute" only if this container saw this
        # tenant admitted in this minute. A tenant calling less than once a minute then costs one write.
        minute_key = tenant_cache_key(tenant.tenant_id, "usage-minute")
        same_minute_first = self._last_minute.get(minute_key) == minute
        try:
            for _ in range(_ATTEMPTS):
                old = self._try_admit(tenant, tool, month, minute, pending, same_minute_first)
                if old is None:
                    if len(self._last_minute) > 10_000:
                        self._last_minute.clear()
                    self._last_minute[minute_key] = minute
                    return
                pending_kept = pending
                if int(old.get("calls", 0)) >= tenant.config.monthly_tool_calls:
                    self._count_refusal(tenant.tenant_id, month, "quota_denied")
                    raise QuotaExceededError(self._quota_message(tenant, now))
                if old.get("minute") == minute and int(old.get("minute_calls", 0)) >= tenant.config.calls_per_minute:
                    self._count_refusal(tenant.tenant_id, month, "rate_denied")
                    retry = 60 - now.second
                    raise RateLimitedError(
                        f"Rate limit reached: {tenant.config.calls_per_minute} tool calls per minute on the "
                        f"{tenant.plan} plan. Retry in {retry} seconds.",
                        retry,
                    )
                # The minute rolled over (or another container started it): try the other form.
                same_minute_first = old.get("minute") == minute
                pending = pending_kept
            raise LimitExceededError("Too much contention on your usage counter; retry in a moment.")
        except LimitExceededError:
            self._restore_pending(tenant.tenant_id, pending)
            raise

    def _try_admit(
        self, tenant: TenantContext, tool: str, month: str, minute: str, pending: _Pending | None, same_minute: bool
    ) -> dict[str, Any] | None:
        names = {"#calls": "calls", "#minute": "minute", "#mc": "minute_calls", "#tc": f"t#{tool}#calls"}
        values: dict[str, Any] = {
            ":one": 1,
            ":quota": tenant.config.monthly_tool_calls,
            ":rate": tenant.config.calls_per_minute,
            ":minute": minute,
            ":expires": int(self._clock()) + _RETENTION_SECONDS,
        }
        adds = ["#calls :one", "#tc :one"]
        sets = ["expires_at = :expires"]
        quota_ok = "(attribute_not_exists(#calls) OR #calls < :quota)"
        if same_minute:
            adds.append("#mc :one")
            condition = f"#minute = :minute AND #mc < :rate AND {quota_ok}"
        else:
            sets += ["#minute = :minute", "#mc = :one"]
            condition = f"(attribute_not_exists(#minute) OR #minute <> :minute) AND {quota_ok}"
            del values[":rate"]
        if pending is not None:
            self._pending_updates(pending, names, values, adds)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(usage_month_key(tenant.tenant_id, month)),
                UpdateExpression="SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs(values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if aws_error_code(exc) != "ConditionalCheckFailedException":
                raise
            old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return from_attrs(old)
        return None

    @staticmethod
    def _pending_updates(pending: _Pending, names: dict[str, str], values: dict[str, Any], adds: list[str]) -> None:
        counters = [
            *((f"t#{tool}#errors", n) for tool, n in pending.errors.items()),
            *((f"t#{tool}#ms", n) for tool, n in pending.total_ms.items()),
            *((f"lat#{bucket}", n) for bucket, n in pending.buckets.items()),
        ]
        for i, (attribute, amount) in enumerate(counters):
            if amount:
                names[f"#p{i}"] = attribute
                values[f":p{i}"] = amount
                adds.append(f"#p{i} :p{i}")

    def _count_refusal(self, tenant_id: str, month: str, attribute: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(usage_month_key(tenant_id, month)),
            UpdateExpression="ADD #a :one",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues=to_attrs({":one": 1}),
        )

    @staticmethod
    def _quota_message(tenant: TenantContext, now: datetime) -> str:
        resets = _next_month(now).strftime("%Y-%m-%d 00:00 UTC")
        limit = tenant.config.monthly_tool_calls
        higher = [p for p in PLAN_ORDER[PLAN_ORDER.index(tenant.plan) + 1 :] if PLANS[p].monthly_tool_calls > limit]
        raise_it = (
            f"Upgrade to the {higher[0]} plan ({PLANS[higher[0]].monthly_tool_calls:,} calls a month) "
            "or ask your administrator to raise the quota."
            if higher
            else "Ask your administrator to raise the quota."
        )
        return (
            f"Monthly limit reached: {limit:,} tool calls on the {tenant.plan} plan. It resets on {resets}. {raise_it}"
        )

    # -- outcomes ----------------------------------------------------------------------------
    def record(self, tenant_id: str, tool: str, duration_ms: float, error: bool) -> None:
        """Remember a finished call's outcome; written with the tenant's next admission."""
        month = month_of(datetime.fromtimestamp(self._clock(), UTC))
        key = tenant_cache_key(tenant_id, "usage-pending")
        with self._lock:
            pending = self._pending.get(key)
            if pending is None or pending.month != month:
                pending = self._pending[key] = _Pending(month=month)
            pending.errors[tool] += int(error)
            pending.total_ms[tool] += round(duration_ms)
            pending.buckets[_bucket(duration_ms)] += 1

    def _take_pending(self, tenant_id: str, month: str) -> _Pending | None:
        with self._lock:
            pending = self._pending.pop(tenant_cache_key(tenant_id, "usage-pending"), None)
        return pending if pending is not None and pending.month == month else None

    def _restore_pending(self, tenant_id: str, pending: _Pending | None) -> None:
        if pending is None:
            return
        with self._lock:
            key = tenant_cache_key(tenant_id, "usage-pending")
            current = self._pending.get(key)
            if current is None:
                self._pending[key] = pending
                return
            for tool, n in pending.errors.items():
                current.errors[tool] += n
            for tool, n in pending.total_ms.items():
                current.total_ms[tool] += n
            for bucket, n in pending.buckets.items():
                current.buckets[bucket] += n

    def flush_tenant(self, tenant_id: str) -> None:
        """Write one tenant's pending outcomes now (before showing it its usage)."""
        key = tenant_cache_key(tenant_id, "usage-pending")
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is not None:
            self._write_pending([(key, pending)])

    def flush(self) -> None:
        """Write every pending outcome now (tests, the CLI, a container about to stop)."""
        with self._lock:
            items = list(self._pending.items())
            self._pending.clear()
        self._write_pending(items)

    def _write_pending(self, items: list[tuple[tuple[Any, ...], _Pending]]) -> None:
        for key, pending in items:
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            adds: list[str] = []
            self._pending_updates(pending, names, values, adds)
            if not adds:
                continue
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(usage_month_key(str(key[0]), pending.month)),
                UpdateExpression="ADD " + ", ".join(adds),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs(values),
            )

    # -- reading -------------------------------------------------------------------------------
    def month(self, tenant_id: str, month: str) -> MonthUsage:
        item = self._client.get_item(
            TableName=self._table, Key=to_attrs(usage_month_key(tenant_id, month)), ConsistentRead=True
        ).get("Item")
        values = from_attrs(item) if item else {}
        usage = MonthUsage(
            tenant_id=tenant_id,
            month=month,
            calls=int(values.get("calls", 0)),
            quota_denied=int(values.get("quota_denied", 0)),
            rate_denied=int(values.get("rate_denied", 0)),
        )
        for attribute, value in values.items():
            if attribute.startswith("t#"):
                _, tool, kind = attribute.split("#", 2)
                entry = usage.tools.setdefault(tool, ToolUsage())
                setattr(entry, {"calls": "calls", "errors": "errors", "ms": "total_ms"}[kind], int(value))
            elif attribute.startswith("lat#"):
                usage.latency_histogram_ms[attribute[4:]] = int(value)
        return usage
