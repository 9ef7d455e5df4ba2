"""Metering, monthly quotas and per-minute rate limits, in the usage table.

Admission is one conditional UpdateItem on the tenant's month item: it checks
the tenant's status mark, the monthly quota and the per-minute rate and counts
the call in the same atomic write, so limits hold exactly under concurrency, a
refused call is not counted, and a suspended tenant is refused by DynamoDB in
every container at once. Errors and durations of a call are known only after
it ran; they ride along with the tenant's next admission from the same
container instead of costing a second write per call (the structured log has
every call too), and outcomes of a month that has ended go to that month.

The same write carries the tenant's registry version: every change of the tenant's record
(plan, features, quotas, branding, placement) stamps it on the usage items, and a write from a
container whose cached record is older is refused uncounted (RegistryChangedError), so the
container re-reads the record and no call runs on settings an operator has changed.

A refusal is remembered in the container until it would certainly be refused
again (the rest of the minute for the rate; for the quota, five minutes at most, so a raised
quota is met by a write, as long as the limit is unchanged): a tenant hammering past its limit
costs one write per container per window, and its refusals are counted in
memory and written with its next admission. What a container holds unwritten
when it dies is lost: the outcomes of its last call per tenant and the
refusal counts of open windows (docs/reliability.md).

Exact under lost responses: every call's admission carries a random token, stored on the item
under the call's lane (this meter's id plus a slot no other in-flight admission of this meter
holds) in the map of the minute it counted in (`tk0`/`tk1` by the minute's parity). The write
is conditional on its slot not holding that token already, so a resend of a write DynamoDB had
applied fails its condition, and the old image (ReturnValuesOnConditionCheckFailure=ALL_OLD,
no extra cost) shows the token: the call was admitted, once, outcomes included. The meter
resends a lost or 5xx-answered write itself with the same token (botocore's retries are off on
its admission client). Each map holds one entry per lane that admitted in its minute and is
replaced by the minute's first admission, so the item stays small (write units follow its size).
Minutes only move forward: the "new minute" form requires the stored minute to be earlier, and
a write stamped with an earlier minute than the stored one counts against the stored one.

Adding a clause to the admission write (one UpdateItem, never a transaction: it would double the
write units): write a `Clause` (a build function that adds names, values and a `require(...)` to
the UpdateBuilder from what the `Attempt` carries, and, if its failure is a refusal of its own, a
`refusal` reading the old image) and add it to ADMISSION_CLAUSES (or pass `clauses=` to the
meter). Refusals are read in that order after the call's own token; quota and rate come last.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from cachetools import LRUCache
from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import usage_month_key
from tenantry.errors import (
    AdmissionContentionError,
    QuotaExceededError,
    RateLimitedError,
    RegistryChangedError,
    TenantBlockedError,
    TenantMovingError,
    TenantryError,
    aws_error_code,
)
from tenantry.isolation.cache import tenant_cache_key
from tenantry.metering.placement import HOME, MOVE, Placed
from tenantry.metering.tool_codes import code_of, name_of
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.plans import PLAN_ORDER, PLANS

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "ADMISSION_CLAUSES",
    "LATENCY_BUCKETS_MS",
    "Attempt",
    "Clause",
    "MonthUsage",
    "ToolUsage",
    "UpdateBuilder",
    "UsageMeter",
    "admission_update",
    "is_history",
    "month_of",
]

LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_RETENTION_SECONDS = 400 * 86400
# Conditional attempts per admission (each after reading the old image), and sends per attempt while
# its response is lost or AWS is busy (the same token each time; the budget botocore had: 3).
_ATTEMPTS = 4
_SEND_ATTEMPTS = 3
_BACKOFF_SECONDS = 0.05
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
# Per-call tokens live in one of two maps, by the parity of the minute they counted in: a minute's
# first admission replaces its map, the previous minute's stays readable for a late retry.
_TOKEN_MAPS = ("tk0", "tk1")
_TOKEN_BYTES = 6
# The attribute suspend/offboard set on a tenant's usage items; admission is conditional on its absence.
_BLOCKED = "blocked"
# The registry version of the status change that last set or cleared the mark: an older one cannot undo it.
_MARK_VERSION = "blocked_version"
# The registry version of the tenant's last registry change (TenantRegistry's on_change): admission
# refuses, uncounted, a context read from a container's cache at an older version.
_REGISTRY_VERSION = "rv"
# A quota refusal is remembered at most this long (not to the month's end): the next write after it
# meets a raised quota or a plan change stamped meanwhile, however long the registry cache lives.
_QUOTA_RECHECK_SECONDS = 300.0
# Per-container memory of tenants (last admitted minute, refusal windows): least recently used out first.
_MAX_TRACKED = 10_000


# A tool's counters on the usage item: t#<tool code>#c|e|m (metering/tool_codes.py says why short).
# Items written before the codes carry t#<tool name>#calls|errors|ms and read the same.
_TOOL_SUFFIXES = {"calls": "c", "errors": "e", "ms": "m"}
_TOOL_FIELDS = {"c": "calls", "e": "errors", "m": "total_ms", "calls": "calls", "errors": "errors", "ms": "total_ms"}


def _tool_counter(tool: str, kind: str) -> str:
    return f"t#{code_of(tool)}#{_TOOL_SUFFIXES[kind]}"


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

    @classmethod
    def from_item(cls, tenant_id: str, month: str, values: dict[str, Any]) -> MonthUsage:
        """A usage item's counters (the layout UsageMeter writes: calls, refusals, t#CODE#KIND, lat#BUCKET)."""
        usage = cls(
            tenant_id=tenant_id,
            month=month,
            calls=int(values.get("calls", 0)),
            quota_denied=int(values.get("quota_denied", 0)),
            rate_denied=int(values.get("rate_denied", 0)),
        )
        for attribute, value in values.items():
            if attribute.startswith("t#"):
                _, key, kind = attribute.split("#", 2)
                field_name = _TOOL_FIELDS.get(kind)
                if field_name is None:
                    continue  # not a counter this version writes or ever wrote
                entry = usage.tools.setdefault(name_of(key), ToolUsage())
                setattr(entry, field_name, getattr(entry, field_name) + int(value))
            elif attribute.startswith("lat#"):
                usage.latency_histogram_ms[attribute[4:]] = int(value)
        return usage

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


_HISTORY = frozenset({"calls", "quota_denied", "rate_denied", "expires_at"})


def is_history(attribute: str) -> bool:
    """Whether a usage item's attribute is the month's history (what MonthUsage reads), not live state.

    The rest (the status mark and its version, the registry stamp, the placement marks, the call
    tokens and the minute's counter) describes the tenant as it is now: an archive's copy of them is
    another tenant's, or another time's, and must never be written back (lifecycle/restoring.py).
    """
    return attribute in _HISTORY or attribute.startswith(("t#", "lat#"))


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


def _minute_index(minute: str) -> int:
    """Minutes since the epoch of a stored `minute` (YYYY-MM-DDTHH:MM, UTC)."""
    # fromisoformat, not strptime: the first strptime of a process imports _strptime and compiles its
    # locale regexes (~3 ms of a cold start's first call); both read YYYY-MM-DDTHH:MM the same.
    return int(datetime.fromisoformat(minute).replace(tzinfo=UTC).timestamp()) // 60


def _token_map(minute: str) -> str:
    return _TOKEN_MAPS[_minute_index(minute) % 2]


class UpdateBuilder:
    """One UpdateItem's expressions, composed clause by clause; placeholders are numbered so none clash."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []
        self.conditions: list[str] = []

    def name(self, *path: str) -> str:
        """The placeholder path of an attribute (or a map entry: name("tk0", lane))."""
        placeholders = []
        for attribute in path:
            placeholder = next((p for p, known in self.names.items() if known == attribute), None)
            if placeholder is None:
                placeholder = f"#n{len(self.names)}"
                self.names[placeholder] = attribute
            placeholders.append(placeholder)
        return ".".join(placeholders)

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def require(self, clause: str) -> None:
        """One more clause the write's condition must meet (ANDed with the others)."""
        self.conditions.append(clause)

    def request(self) -> dict[str, Any]:
        """UpdateExpression, ConditionExpression (when any) and the placeholders: update_item(**...) or an Update."""
        parts = [f"SET {', '.join(self.sets)}"] if self.sets else []
        parts += [f"REMOVE {', '.join(self.removes)}"] if self.removes else []
        parts += [f"ADD {', '.join(self.adds)}"] if self.adds else []
        request: dict[str, Any] = {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": self.names}
        if self.values:
            request["ExpressionAttributeValues"] = to_attrs(self.values)
        if self.conditions:
            request["ConditionExpression"] = " AND ".join(f"({c})" for c in self.conditions)
        return request


@dataclass
class Attempt:
    """One call's admission: what its write says. `minute` and `same_minute` change between attempts."""

    tenant: TenantContext
    tool: str
    month: str
    minute: str
    same_minute: bool
    token: str  # this call's, in every attempt and every send: how an applied write is recognised
    lane: str  # the token's key in the minute's map: one per admission in flight in this meter
    pending: _Pending | None
    expires: int
    # The tool changes data: refused (uncounted) while a move pauses writes (metering/placement.py).
    writes: bool = False
    # The item as this call's write left it (ReturnValues=ALL_NEW), or the old image that showed the
    # call's own token: where the tenant lives now and whether a move is running.
    image: dict[str, Any] | None = None


@dataclass(frozen=True)
class Clause:
    """A part of the admission write: what it adds to the update and condition, and how its refusal reads.

    `refusal` gets the old image of a write whose condition failed (the call's own token already
    ruled out) and returns the error to raise if this clause is what refused it, else None.
    """

    name: str
    build: Callable[[UpdateBuilder, Attempt], None]
    refusal: Callable[[dict[str, Any], Attempt], TenantryError | None] = lambda old, attempt: None


def _count(update: UpdateBuilder, attempt: Attempt) -> None:
    one = update.value(1)
    update.adds += [f"{update.name('calls')} {one}", f"{update.name(_tool_counter(attempt.tool, 'calls'))} {one}"]
    update.sets.append(f"{update.name('expires_at')} = {update.value(attempt.expires)}")


def _once(update: UpdateBuilder, attempt: Attempt) -> None:
    """Store the call's token under its lane and refuse a write that finds it there (already applied)."""
    tokens = _token_map(attempt.minute)
    entry = update.name(tokens, attempt.lane)
    token = update.value(attempt.token)
    update.require(f"attribute_not_exists({entry}) OR {entry} <> {token}")
    if attempt.same_minute:
        update.sets.append(f"{entry} = {token}")
    else:  # the minute's first admission replaces the map: it holds one entry per lane per minute
        update.sets.append(f"{update.name(tokens)} = {update.value({attempt.lane: attempt.token})}")


def _status(update: UpdateBuilder, _: Attempt) -> None:
    # The tenant's status rides in the admission write: suspend and offboard mark the usage item.
    update.require(f"attribute_not_exists({update.name(_BLOCKED)})")


def _status_refusal(old: dict[str, Any], attempt: Attempt) -> TenantryError | None:
    return TenantBlockedError(attempt.tenant.tenant_id, str(old[_BLOCKED])) if old.get(_BLOCKED) else None


def _registry(update: UpdateBuilder, attempt: Attempt) -> None:
    """Plan, features, quotas, branding and placement ride in the admission write like the status does."""
    version = attempt.tenant.registry_version
    if version is not None:
        stamp = update.name(_REGISTRY_VERSION)
        update.require(f"attribute_not_exists({stamp}) OR {stamp} <= {update.value(version)}")


def _registry_refusal(old: dict[str, Any], attempt: Attempt) -> TenantryError | None:
    version, stamp = attempt.tenant.registry_version, old.get(_REGISTRY_VERSION)
    if version is not None and stamp is not None and int(stamp) > version:
        return RegistryChangedError(attempt.tenant.tenant_id, int(stamp))
    return None


def _quota(update: UpdateBuilder, attempt: Attempt) -> None:
    calls = update.name("calls")
    update.require(
        f"attribute_not_exists({calls}) OR {calls} < {update.value(attempt.tenant.config.monthly_tool_calls)}"
    )


def _minute(update: UpdateBuilder, attempt: Attempt) -> None:
    """The per-minute rate; the minute only moves forward (a later minute is never reset by an earlier one)."""
    minute, count, tokens = update.name("minute"), update.name("minute_calls"), update.name(_token_map(attempt.minute))
    this = update.value(attempt.minute)
    if attempt.same_minute:
        update.adds.append(f"{count} {update.value(1)}")
        rate = update.value(attempt.tenant.config.calls_per_minute)
        update.require(f"{minute} = {this} AND {count} < {rate} AND attribute_exists({tokens})")
    else:
        update.sets += [f"{minute} = {this}", f"{count} = {update.value(1)}"]
        # An item written before the token maps existed has this minute but no map: start it afresh.
        unmapped = f"({minute} = {this} AND attribute_not_exists({tokens}))"
        update.require(f"attribute_not_exists({minute}) OR {minute} < {this} OR {unmapped}")


def _placement(update: UpdateBuilder, attempt: Attempt) -> None:
    """A move's final seconds refuse writes (never reads) in the same write, uncounted."""
    if attempt.writes:
        move = update.name(MOVE)
        update.require(f"attribute_not_exists({move}) OR {move} <> {update.value('paused')}")


def _placement_refusal(old: dict[str, Any], attempt: Attempt) -> TenantryError | None:
    return TenantMovingError() if attempt.writes and old.get(MOVE) == "paused" else None


# The admission write, clause by clause. To add one (e.g. a placement epoch): write its build function
# (names, values and a `require` through the UpdateBuilder; read what it needs from the Attempt) and, if
# a failure of it is a refusal of its own, a `refusal` reading the old image; add it here. Refusals are
# checked in this order after the call's own token; quota and rate are read last by UsageMeter._verdict.
ADMISSION_CLAUSES: tuple[Clause, ...] = (
    Clause("count", _count),
    Clause("once", _once),
    Clause("status", _status, _status_refusal),
    Clause("registry", _registry, _registry_refusal),
    Clause("placement", _placement, _placement_refusal),
    Clause("quota", _quota),
    Clause("minute", _minute),
)


def admission_update(attempt: Attempt, clauses: Sequence[Clause] = ADMISSION_CLAUSES) -> UpdateBuilder:
    """The one UpdateItem that admits `attempt`: every clause, then the outcomes riding along."""
    update = UpdateBuilder()
    for clause in clauses:
        clause.build(update, attempt)
    if attempt.pending is not None:
        _pending_updates(attempt.pending, update)
    return update


def _applied(old: dict[str, Any], attempt: Attempt) -> bool:
    """Whether the old image holds this call's token: an earlier send of it was applied."""
    return any(
        isinstance(tokens, dict) and tokens.get(attempt.lane) == attempt.token
        for tokens in (old.get(name) for name in _TOKEN_MAPS)
    )


def _pending_updates(pending: _Pending, update: UpdateBuilder) -> None:
    counters = [
        *((_tool_counter(tool, "errors"), n) for tool, n in pending.errors.items()),
        *((_tool_counter(tool, "ms"), n) for tool, n in pending.total_ms.items()),
        *((f"lat#{bucket}", n) for bucket, n in pending.buckets.items()),
        *pending.refusals.items(),
    ]
    for attribute, amount in counters:
        if amount:
            update.adds.append(f"{update.name(attribute)} {update.value(amount)}")


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
        *,
        admission_client: DynamoDBClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clauses: Sequence[Clause] = ADMISSION_CLAUSES,
        max_tenants: int = _MAX_TRACKED,
    ) -> None:
        self._client = client
        # Admission retries itself with the same token: give it a client with botocore's retries off
        # (tenantry/stores.py does). With retries on it stays exact (a resend carries the token too).
        self._admission_client = admission_client or client
        self._table = table_name
        self._clock = clock
        self._sleep = sleep
        self.clauses = tuple(clauses)
        self._meter_id = secrets.token_hex(3)
        self._free_lanes: list[int] = []
        self._lanes_made = 0
        # Per tenant: pending outcomes by month (a month's outcomes are written to that month's item).
        # Past max_tenants the longest-pending tenants are written out (_spill_over_cap).
        self._pending: dict[tuple[Any, ...], dict[str, _Pending]] = {}
        self._max_tenants = max_tenants
        self._last_minute: LRUCache[tuple[Any, ...], str] = LRUCache(maxsize=max_tenants)
        self._windows: LRUCache[tuple[Any, ...], _Window] = LRUCache(maxsize=max_tenants)
        self._lock = threading.Lock()

    @property
    def admission_client(self) -> DynamoDBClient:
        """The client admission writes go through (primed at init with the others)."""
        return self._admission_client

    def forget_container_state(self) -> None:
        """Drop this container's per-tenant memory (last admitted minute, refusals not yet written).

        Called before a SnapStart snapshot and after a restore: a snapshot seeds many containers,
        and each would otherwise write the same pending refusals and trust the same stale minute.
        """
        with self._lock:
            self._pending.clear()
            self._last_minute.clear()
            # Lanes must be this container's own: containers restored from one snapshot must not share them.
            self._meter_id = secrets.token_hex(3)
            self._free_lanes.clear()
            self._lanes_made = 0

    # -- admission -------------------------------------------------------------------------
    def admit(self, tenant: TenantContext, tool: str) -> str:
        """Count one call of `tool` and return its month, or raise and count nothing (see admit_call)."""
        return self.admit_call(tenant, tool).month

    def admit_call(self, tenant: TenantContext, tool: str, writes: bool = False) -> Placed:
        """Count one call of `tool`; return its month and the tenant's placement, or raise and count nothing.

        RegistryChangedError: the tenant's registry record changed since `tenant` was read from the
        container's cache (its usage item carries a newer version): re-read it and admit again.

        TenantMovingError: a tool that `writes` arrived while a move pauses writes (metering/placement.py).

        QuotaExceededError / RateLimitedError: over a limit. TenantBlockedError: the tenant's
        usage item is marked (suspended or offboarding); DynamoDB refuses it in the same write.
        AdmissionContentionError: the item changed under every attempt. A botocore error: AWS
        failed on every attempt (if every response was lost, the call may have been counted once).
        """
        now_ts = self._clock()
        now = datetime.fromtimestamp(now_ts, UTC)
        month, minute = month_of(now), now.strftime(_MINUTE_FORMAT)
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
        lane = self._take_lane()
        attempt = Attempt(
            tenant=tenant,
            tool=tool,
            month=month,
            minute=minute,
            same_minute=same_minute_first,
            token=secrets.token_hex(_TOKEN_BYTES),
            lane=lane,
            pending=pending,
            expires=int(now_ts) + _RETENTION_SECONDS,
            writes=writes,
        )
        admitted = False
        try:
            for _ in range(_ATTEMPTS):
                old = self._send(attempt)
                if old is None or _applied(old, attempt):
                    admitted = True  # written now, or by an earlier attempt whose response was lost
                    with self._lock:
                        self._last_minute[minute_key] = attempt.minute
                    # The placement rides back on the same write: a moved tenant's new table (`home`)
                    # or a running move reaches every container on its next call.
                    image = attempt.image if old is None else old
                    move = str((image or {}).get(MOVE, ""))
                    return Placed(month, str((image or {}).get(HOME, "")), move if move in ("copy", "paused") else "")  # type: ignore[arg-type]
                self._verdict(old, attempt, now_ts)
            raise AdmissionContentionError()
        finally:
            self._release_lane(lane)
            if not admitted:  # whatever the failure (a limit, a block, an AWS error), outcomes are kept
                self._restore_pending(tenant.tenant_id, month, pending)

    def _send(self, attempt: Attempt) -> dict[str, Any] | None:
        """One admission write, repeated with the same token while its response is lost or AWS is busy.

        None: applied. Otherwise the stored item the condition refused (which may show this very
        call's token: an earlier attempt was applied and its response lost).
        """
        update = admission_update(attempt, self.clauses)
        for retry in range(_SEND_ATTEMPTS):
            try:
                response = self._admission_client.update_item(
                    TableName=self._table,
                    Key=to_attrs(usage_month_key(attempt.tenant.tenant_id, attempt.month)),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    # ALL_NEW, not UPDATED_NEW: the placement attributes are not among those this write sets.
                    ReturnValues="ALL_NEW",
                    **update.request(),
                )
            except ClientError as exc:
                code = aws_error_code(exc)
                if code == "ConditionalCheckFailedException":
                    old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
                    return from_attrs(old)
                if code not in _TRANSIENT_CODES or retry == _SEND_ATTEMPTS - 1:
                    raise
            except (ReadTimeoutError, ConnectionClosedError, EndpointConnectionError, ConnectTimeoutError):
                if retry == _SEND_ATTEMPTS - 1:
                    raise
            else:
                attempt.image = from_attrs(response.get("Attributes") or {})
                return None
            # Jittered backoff as botocore's standard mode would (its retries are off for this write).
            self._sleep(random.uniform(0, _BACKOFF_SECONDS * 2**retry))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")  # pragma: no cover

    def _verdict(self, old: dict[str, Any], attempt: Attempt, now_ts: float) -> None:
        """Read a refused write's old image: raise the refusal it shows, or set up the next attempt."""
        tenant = attempt.tenant
        for clause in self.clauses:
            refusal = clause.refusal(old, attempt)
            if refusal is not None:
                raise refusal
        now = datetime.fromtimestamp(now_ts, UTC)
        if int(old.get("calls", 0)) >= tenant.config.monthly_tool_calls:
            window = _Window(
                "quota_denied",
                tenant.config.monthly_tool_calls,
                min(_next_month(now).timestamp(), now_ts + _QUOTA_RECHECK_SECONDS),
                attempt.month,
                self._quota_message(tenant, now),
                None,
            )
            self._open_window(tenant.tenant_id, window)
            raise QuotaExceededError(window.message)
        stored = old.get("minute")
        if isinstance(stored, str) and stored > attempt.minute:
            # Minutes only move forward: a write stamped with an earlier minute (clock skew, latency,
            # a backoff) counts against the newer minute another container has started.
            attempt.minute = stored
        if stored == attempt.minute and _token_map(stored) in old:
            if int(old.get("minute_calls", 0)) >= tenant.config.calls_per_minute:
                until = (_minute_index(stored) + 1) * 60.0
                retry = max(1, int(until - now_ts + 0.999))
                window = _Window(
                    "rate_denied",
                    tenant.config.calls_per_minute,
                    max(until, now_ts + 1),
                    attempt.month,
                    f"Rate limit reached: {tenant.config.calls_per_minute} tool calls per minute on the "
                    f"{tenant.plan} plan.",
                    retry,
                )
                self._open_window(tenant.tenant_id, window)
                raise RateLimitedError(f"{window.message} Retry in {retry} seconds.", retry)
            attempt.same_minute = True
        else:
            # Another container moved on (or this minute has not begun on the item): start it.
            attempt.same_minute = False

    def _take_lane(self) -> str:
        """A slot of this meter no other in-flight admission holds (its token's place on the item)."""
        with self._lock:
            number = heapq.heappop(self._free_lanes) if self._free_lanes else self._lanes_made
            if number == self._lanes_made:
                self._lanes_made += 1
            return f"{self._meter_id}{number}"

    def _release_lane(self, lane: str) -> None:
        with self._lock:
            if lane.startswith(self._meter_id):
                heapq.heappush(self._free_lanes, int(lane[len(self._meter_id) :]))

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
    def mark_updates(self, tenant_id: str, status: str, version: int) -> list[dict[str, Any]]:
        """TransactItems that set the mark (any status but active) or clear it, on this month's item and next's.

        Each carries the registry `version` of the status change and is refused if a newer change's
        mark is there, so an older change can never remove (or replace) a newer one's. The status
        change writes them in the same transaction as the registry record (tenantry_admin/tenants.py).
        Anything else a status change must leave on the usage items goes into this UpdateBuilder too.
        """
        updates = []
        for month in self._marked_months():
            update = self._versioned(_MARK_VERSION, version, "<=")
            if status == "active":
                update.removes.append(update.name(_BLOCKED))
            else:
                update.sets.append(f"{update.name(_BLOCKED)} = {update.value(status)}")
            key = to_attrs(usage_month_key(tenant_id, month))
            updates.append({"Update": {"TableName": self._table, "Key": key, **update.request()}})
        return updates

    def _versioned(self, attribute: str, version: int, older: str) -> UpdateBuilder:
        """Set `attribute` to `version` if what is stored compares `older` to it (a month item made here ages out)."""
        update = UpdateBuilder()
        stamp, expires_at = update.name(attribute), update.name("expires_at")
        value = update.value(version)
        update.sets += [
            f"{stamp} = {value}",
            f"{expires_at} = if_not_exists({expires_at}, {update.value(int(self._clock()) + _RETENTION_SECONDS)})",
        ]
        update.require(f"attribute_not_exists({stamp}) OR {stamp} {older} {value}")
        return update

    def stamp(self, tenant_id: str, version: int) -> None:
        """Stamp this month's and next month's usage items with registry `version` (never lowering it).

        TenantRegistry calls it after every change of the tenant's record: the next admission in
        every container that cached an older record is refused, uncounted, and re-reads it.
        """
        for month in self._marked_months():
            update = self._versioned(_REGISTRY_VERSION, version, "<")
            try:
                self._client.update_item(
                    TableName=self._table, Key=to_attrs(usage_month_key(tenant_id, month)), **update.request()
                )
            except ClientError as exc:
                if aws_error_code(exc) != "ConditionalCheckFailedException":
                    raise  # a newer change stamped it already: nothing to do

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
            update = UpdateBuilder()
            _pending_updates(pending, update)
            if not update.adds:
                continue
            # A month item first written here still ages out with the others.
            expires_at = update.name("expires_at")
            retention = update.value(int(self._clock()) + _RETENTION_SECONDS)
            update.sets.append(f"{expires_at} = if_not_exists({expires_at}, {retention})")
            try:
                self._client.update_item(
                    TableName=self._table, Key=to_attrs(usage_month_key(tenant_id, month)), **update.request()
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
        return MonthUsage.from_item(tenant_id, month, from_attrs(item) if item else {})
