"""Metering, monthly quotas and per-minute rate limits, in the usage table.

Admission is one conditional UpdateItem on the tenant's month item: it checks
the tenant's status mark, the monthly quota and the per-minute rate and counts
the call in the same atomic write, so limits hold exactly under concurrency, a
refused call is not counted, and a suspended tenant is refused by DynamoDB in
every container at once. Errors and durations of a call are known only after
it ran; they ride along with the tenant's next admission from the same
container instead of costing a second write per call (the structured log has
every call too), and outcomes of a month that has ended go to that month.

A refusal is remembered in the container until it would certainly be refused
again (the rest of the minute for the rate, the rest of the month for the
quota, as long as the limit is unchanged): a tenant hammering past its limit
costs one write per container per window, and its refusals are counted in
memory and written with its next admission. What a container holds unwritten
when it dies is lost: the outcomes of its last call per tenant and the
refusal counts of open windows (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from cachetools import LRUCache
from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import usage_month_key
from tenantry.errors import (
    LimitExceededError,
    QuotaExceededError,
    RateLimitedError,
    TenantBlockedError,
    aws_error_code,
)
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
# The attribute suspend/offboard set on a tenant's usage items; admission is conditional on its absence.
_BLOCKED = "blocked"
# Per-container memory of tenants (last admitted minute, refusal windows): least recently used out first.
_MAX_TRACKED = 10_000


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
    """What this container knows about one tenant's month and has not written yet."""

    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_ms: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buckets: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refusals: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def merge(self, other: _Pending) -> None:
        for mine, theirs in (
            (self.errors, other.errors),
            (self.total_ms, other.total_ms),
            (self.buckets, other.buckets),
            (self.refusals, other.refusals),
        ):
            for name, n in theirs.items():
                mine[name] += n


@dataclass(frozen=True)
class _Window:
    """A refusal this container remembers until it would certainly be refused again (no write until then)."""

    attribute: str  # quota_denied | rate_denied
    limit: int  # the limit it was refused under: a changed limit ends the window
    until: float  # epoch seconds
    month: str
    message: str
    retry_after: int | None


class UsageMeter:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], float] = time.time,
        max_tenants: int = _MAX_TRACKED,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        # Per tenant: pending outcomes by month (a month's outcomes are written to that month's item).
        # Past max_tenants the longest-pending tenants are written out (_spill_over_cap).
        self._pending: dict[tuple[Any, ...], dict[str, _Pending]] = {}
        self._max_tenants = max_tenants
        self._last_minute: LRUCache[tuple[Any, ...], str] = LRUCache(maxsize=max_tenants)
        self._windows: LRUCache[tuple[Any, ...], _Window] = LRUCache(maxsize=max_tenants)
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
    def admit(self, tenant: TenantContext, tool: str) -> str:
        """Count one call of `tool` and return its month, or raise and count nothing.

        QuotaExceededError / RateLimitedError: over a limit. TenantBlockedError: the tenant's
        usage item is marked (suspended or offboarding); DynamoDB refuses it in the same write.
        """
        now_ts = self._clock()
        now = datetime.fromtimestamp(now_ts, UTC)
        month, minute = month_of(now), now.strftime("%Y-%m-%dT%H:%M")
        self._refuse_within_window(tenant, now_ts, month)
        if tenant.config.monthly_tool_calls <= 0:
            # The conditional write would admit a tenant's first call (no counter yet): 0 refuses here.
            self._note_refusal(tenant.tenant_id, month, "quota_denied")
            raise QuotaExceededError(self._quota_message(tenant, now))
        self._write_earlier_months(tenant.tenant_id, month)
        pending = self._take_pending(tenant.tenant_id, month)
        # Start with the form most likely to succeed: "same minute" only if this container saw this
        # tenant admitted in this minute. A tenant calling less than once a minute then costs one write.
        minute_key = tenant_cache_key(tenant.tenant_id, "usage-minute")
        with self._lock:
            same_minute_first = self._last_minute.get(minute_key) == minute
        admitted = False
        try:
            for _ in range(_ATTEMPTS):
                old = self._try_admit(tenant, tool, month, minute, pending, same_minute_first)
                if old is None:
                    admitted = True
                    with self._lock:
                        self._last_minute[minute_key] = minute
                    return month
                if old.get(_BLOCKED):
                    raise TenantBlockedError(tenant.tenant_id, str(old[_BLOCKED]))
                if int(old.get("calls", 0)) >= tenant.config.monthly_tool_calls:
                    window = _Window(
                        "quota_denied",
                        tenant.config.monthly_tool_calls,
                        _next_month(now).timestamp(),
                        month,
                        self._quota_message(tenant, now),
                        None,
                    )
                    self._open_window(tenant.tenant_id, window)
                    raise QuotaExceededError(window.message)
                if old.get("minute") == minute and int(old.get("minute_calls", 0)) >= tenant.config.calls_per_minute:
                    retry = 60 - now.second
                    window = _Window(
                        "rate_denied",
                        tenant.config.calls_per_minute,
                        now_ts + retry - now.microsecond / 1e6,
                        month,
                        f"Rate limit reached: {tenant.config.calls_per_minute} tool calls per minute on the "
                        f"{tenant.plan} plan.",
                        retry,
                    )
                    self._open_window(tenant.tenant_id, window)
                    raise RateLimitedError(f"{window.message} Retry in {retry} seconds.", retry)
                # The minute rolled over (or another container started it): try the other form.
                same_minute_first = old.get("minute") == minute
            raise LimitExceededError("Too much contention on your usage counter; retry in a moment.")
        finally:
            if not admitted:  # whatever the failure (a limit, a block, an AWS error), outcomes are kept
                self._restore_pending(tenant.tenant_id, month, pending)

    def _refuse_within_window(self, tenant: TenantContext, now_ts: float, month: str) -> None:
        """Refuse without a write while a remembered refusal still holds (the limits only tighten in it)."""
        key = tenant_cache_key(tenant.tenant_id, "usage-window")
        with self._lock:
            window = self._windows.get(key)
        if window is None:
            return
        limit = (
            tenant.config.monthly_tool_calls if window.attribute == "quota_denied" else tenant.config.calls_per_minute
        )
        if window.until <= now_ts or window.month != month or window.limit != limit:
            with self._lock:
                self._windows.pop(key, None)
            return
        self._note_refusal(tenant.tenant_id, month, window.attribute)
        if window.retry_after is None:
            raise QuotaExceededError(window.message)
        retry = max(1, int(window.until - now_ts + 0.999))
        raise RateLimitedError(f"{window.message} Retry in {retry} seconds.", retry)

    def _open_window(self, tenant_id: str, window: _Window) -> None:
        with self._lock:
            self._windows[tenant_cache_key(tenant_id, "usage-window")] = window
        self._note_refusal(tenant_id, window.month, window.attribute)

    def _note_refusal(self, tenant_id: str, month: str, attribute: str) -> None:
        """Count a refusal; written with the tenant's next admission (or flush), not a write of its own."""
        with self._lock:
            self._pending_for(tenant_id, month).refusals[attribute] += 1
        self._spill_over_cap()

    def _try_admit(
        self, tenant: TenantContext, tool: str, month: str, minute: str, pending: _Pending | None, same_minute: bool
    ) -> dict[str, Any] | None:
        names = {
            "#calls": "calls",
            "#minute": "minute",
            "#mc": "minute_calls",
            "#tc": f"t#{tool}#calls",
            "#blocked": _BLOCKED,
        }
        values: dict[str, Any] = {
            ":one": 1,
            ":quota": tenant.config.monthly_tool_calls,
            ":rate": tenant.config.calls_per_minute,
            ":minute": minute,
            ":expires": int(self._clock()) + _RETENTION_SECONDS,
        }
        adds = ["#calls :one", "#tc :one"]
        sets = ["expires_at = :expires"]
        # The tenant's status rides in the admission write: suspend and offboard mark the usage item.
        allowed = "attribute_not_exists(#blocked) AND (attribute_not_exists(#calls) OR #calls < :quota)"
        if same_minute:
            adds.append("#mc :one")
            condition = f"#minute = :minute AND #mc < :rate AND {allowed}"
        else:
            sets += ["#minute = :minute", "#mc = :one"]
            condition = f"(attribute_not_exists(#minute) OR #minute <> :minute) AND {allowed}"
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
            *pending.refusals.items(),
        ]
        for i, (attribute, amount) in enumerate(counters):
            if amount:
                names[f"#p{i}"] = attribute
                values[f":p{i}"] = amount
                adds.append(f"#p{i} :p{i}")

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

    # -- status marks ----------------------------------------------------------------------
    def block(self, tenant_id: str, status: str) -> None:
        """Mark the tenant's usage items (this month and next) so admission refuses it in any container."""
        for month in self._marked_months():
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(usage_month_key(tenant_id, month)),
                UpdateExpression="SET #b = :status, expires_at = if_not_exists(expires_at, :expires)",
                ExpressionAttributeNames={"#b": _BLOCKED},
                ExpressionAttributeValues=to_attrs(
                    {":status": status, ":expires": int(self._clock()) + _RETENTION_SECONDS}
                ),
            )

    def unblock(self, tenant_id: str) -> None:
        """Remove the marks `block` wrote; the next admission in any container succeeds again."""
        for month in self._marked_months():
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=to_attrs(usage_month_key(tenant_id, month)),
                    UpdateExpression="REMOVE #b",
                    ConditionExpression="attribute_exists(#b)",
                    ExpressionAttributeNames={"#b": _BLOCKED},
                )
            except ClientError as exc:
                if aws_error_code(exc) != "ConditionalCheckFailedException":
                    raise

    def blocked(self, tenant_id: str) -> str | None:
        """The mark on this month's usage item, if any (operators and tests)."""
        item = self._client.get_item(
            TableName=self._table,
            Key=to_attrs(usage_month_key(tenant_id, self._marked_months()[0])),
            ConsistentRead=True,
        ).get("Item")
        value = from_attrs(item).get(_BLOCKED) if item else None
        return None if value is None else str(value)

    def _marked_months(self) -> list[str]:
        # This month and the next: a container whose registry cache predates a suspension near the
        # end of a month still meets the mark after the rollover (the cache lives at most an hour).
        now = datetime.fromtimestamp(self._clock(), UTC)
        return [month_of(now), month_of(_next_month(now))]

    # -- outcomes ----------------------------------------------------------------------------
    def record(self, tenant_id: str, tool: str, duration_ms: float, error: bool, month: str | None = None) -> None:
        """Remember a finished call's outcome for `month` (its admission's); written with a later admission."""
        month = month or month_of(datetime.fromtimestamp(self._clock(), UTC))
        with self._lock:
            pending = self._pending_for(tenant_id, month)
            pending.errors[tool] += int(error)
            pending.total_ms[tool] += round(duration_ms)
            pending.buckets[_bucket(duration_ms)] += 1
        self._spill_over_cap()

    def _spill_over_cap(self) -> None:
        """Past the cap, write the tenants pending longest now: memory stays bounded and no count is lost.

        A warm container that has served more tenants than the cap pays one write per tenant
        pushed out, instead of holding every tenant it ever saw until that tenant calls again.
        """
        with self._lock:
            over = len(self._pending) - self._max_tenants
            if over <= 0:
                return
            oldest = list(itertools.islice(self._pending, over))
            spilled = [(str(key[0]), m, p) for key in oldest for m, p in self._pending.pop(key).items()]
        # A failed write keeps (restores) what it did not write; it must not fail the call it follows.
        with contextlib.suppress(ClientError):
            self._write_pending(spilled)

    def _pending_for(self, tenant_id: str, month: str) -> _Pending:
        """Caller holds the lock."""
        months = self._pending.setdefault(tenant_cache_key(tenant_id, "usage-pending"), {})
        return months.setdefault(month, _Pending())

    def _take_pending(self, tenant_id: str, month: str) -> _Pending | None:
        with self._lock:
            key = tenant_cache_key(tenant_id, "usage-pending")
            months = self._pending.get(key, {})
            taken = months.pop(month, None)
            if not months:
                # Nothing left: the tenant's next outcome re-enters at the end (oldest spilled first).
                self._pending.pop(key, None)
            return taken

    def _restore_pending(self, tenant_id: str, month: str, pending: _Pending | None) -> None:
        if pending is None:
            return
        with self._lock:
            self._pending_for(tenant_id, month).merge(pending)

    def _write_earlier_months(self, tenant_id: str, month: str) -> None:
        """Outcomes of a month that has ended go to that month's item (one write per tenant per rollover)."""
        key = tenant_cache_key(tenant_id, "usage-pending")
        with self._lock:
            months = self._pending.get(key)
            earlier = [(m, months.pop(m)) for m in sorted(months) if m < month] if months else []
        self._write_pending([(tenant_id, m, p) for m, p in earlier])

    def flush_tenant(self, tenant_id: str) -> None:
        """Write one tenant's pending outcomes now (before showing it its usage)."""
        with self._lock:
            months = self._pending.pop(tenant_cache_key(tenant_id, "usage-pending"), {})
        self._write_pending([(tenant_id, m, p) for m, p in sorted(months.items())])

    def flush(self) -> None:
        """Write every pending outcome now (tests, the CLI, a container about to stop)."""
        with self._lock:
            items = [(str(key[0]), m, p) for key, months in self._pending.items() for m, p in months.items()]
            self._pending.clear()
        self._write_pending(items)

    def _write_pending(self, items: list[tuple[str, str, _Pending]]) -> None:
        for i, (tenant_id, month, pending) in enumerate(items):
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            adds: list[str] = []
            self._pending_updates(pending, names, values, adds)
            if not adds:
                continue
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=to_attrs(usage_month_key(tenant_id, month)),
                    UpdateExpression="ADD " + ", ".join(adds),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_attrs(values),
                )
            except ClientError:
                # Keep what was not written (this one and the rest) for the next attempt.
                for rest_tenant, rest_month, rest in items[i:]:
                    self._restore_pending(rest_tenant, rest_month, rest)
                raise

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
