"""Powertools logger and metrics, created once per container.

Metrics never carry tenant_id as a dimension: with thousands of tenants that
is a five-figure CloudWatch bill. Per-tenant views come from structured logs
(tenant_id is a key on every line) and the usage table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = [
    "INCIDENT_METRICS",
    "METRIC_NAMES",
    "MetricsBatch",
    "add_metric_listener",
    "emit_metric",
    "get_logger",
    "get_metrics",
]

NAMESPACE = "Tenantry"
# Each name (x the one `service` dimension set) is a custom metric billed $0.30 a month. Refusals
# (monthly quota, per-minute rate, a tool the plan lacks) are one metric, `Refused`: no alarm tells
# them apart, and each refusal's audit line carries its reason (the dashboard's breakdown reads it).
# CrossTenantDenied stays a metric of its own: its alarm pages on one.
METRIC_NAMES = ("ToolCalls", "ToolErrors", "Refused", "CrossTenantDenied")
# Metrics written only when something goes wrong. CloudWatch bills a custom metric by the hours in
# which it receives data, so these cost nothing in a quiet month ($0.30 / 730 per metric-hour).
INCIDENT_METRICS = (
    "InternalErrors",
    "DependencyErrors",
    "AdmissionContention",
    "TenantBlocked",
    "TenantMoving",
    "OriginRefused",
    "RunnerRestarts",
    "CanaryViolations",
)

_listeners: list[Callable[[str, float], None]] = []

# Per-request log keys (tenant_id, plan, request_id, tool) live in a ContextVar, not in
# powertools' formatter state (append_keys/append_context_keys), which is shared by
# every request on the event loop: concurrent requests would log under each other's tenant.
_log_keys: ContextVar[Mapping[str, Any]] = ContextVar("tenantry_log_keys", default=MappingProxyType({}))


class _RequestKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _log_keys.get().items():
            setattr(record, key, value)
        return True


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add keys to every log line written inside this block, in this request only."""
    token = _log_keys.set(MappingProxyType({**_log_keys.get(), **keys}))
    try:
        yield
    finally:
        _log_keys.reset(token)


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    # Never log request bodies or tool arguments: they hold customers' personal data.
    logger = Logger(service="tenantry")
    logger.addFilter(_RequestKeys())
    return logger


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    """A powertools Tracer, imported only when tracing is on (TENANTRY_TRACING=true)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service="tenantry")


@contextmanager
def traced(name: str, enabled: bool, **annotations: str) -> Iterator[None]:
    """An X-Ray subsegment around a block when tracing is on; nothing otherwise."""
    if not enabled:
        yield
        return
    with get_tracer().provider.in_subsegment(name) as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        yield


@lru_cache(maxsize=1)
def get_metrics() -> Metrics:
    metrics = Metrics(namespace=NAMESPACE, service="tenantry")
    return metrics


def emit_metric(name: str, value: float = 1) -> None:
    get_metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
    for listener in list(_listeners):
        listener(name, value)


def add_metric_listener(listener: Callable[[str, float], None]) -> Callable[[], None]:
    """Observe emitted metrics in process (the local emulator's alerts, tests). Returns a remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


# Metrics a successful call emits. A document holding only these may wait; any other metric (an
# error, a refusal, a cross-tenant attempt) is what alarms watch, so it goes out with its invocation.
ROUTINE_METRICS = frozenset({"ToolCalls"})


class MetricsBatch:
    """When a container writes its pending EMF document: one per call cost ~450 B of log ingestion.

    Routine values accumulate (powertools keeps a list per metric and writes at 100 values) for at
    most `max_age_seconds`, stamped with the time the first of them was added; anything else flushes
    at the end of its invocation, together with what was pending. The price: a container that is
    recycled while holding routine values loses them (at most a minute of one container's
    ToolCalls; the exact counts are the usage table's).
    """

    def __init__(self, max_age_seconds: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._max_age = max_age_seconds
        self._clock = clock
        self._first: float | None = None

    def after_invocation(self) -> None:
        metrics = get_metrics()
        if not metrics.metric_set:
            return
        now = self._clock()
        if self._first is None:
            self._first = now
        if set(metrics.metric_set) <= ROUTINE_METRICS and now - self._first < self._max_age:
            return
        metrics.set_timestamp(int(self._first * 1000))
        self._first = None
        metrics.flush_metrics()
        # With POWERTOOLS_METRICS_DISABLED, flush keeps the set; clear it or it grows and
        # auto-flushes to stdout every 100 values.
        metrics.clear_metrics()
