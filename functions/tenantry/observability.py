"""Powertools logger and metrics, created once per container.

Metrics never carry tenant_id as a dimension: with thousands of tenants that
is a five-figure CloudWatch bill. Per-tenant views come from structured logs
(tenant_id is a key on every line) and the usage table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["METRIC_NAMES", "add_metric_listener", "emit_metric", "get_logger", "get_metrics"]

NAMESPACE = "Tenantry"
METRIC_NAMES = ("ToolCalls", "ToolErrors", "QuotaDenied", "RateLimited", "CrossTenantDenied", "FeatureDenied")

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
