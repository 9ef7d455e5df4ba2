"""Powertools logger and metrics, created once per container.

Metrics never carry tenant_id as a dimension: with thousands of tenants that
is a five-figure CloudWatch bill. Per-tenant views come from structured logs
(tenant_id is a key on every line) and the usage table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["METRIC_NAMES", "add_metric_listener", "emit_metric", "get_logger", "get_metrics"]

NAMESPACE = "Tenantry"
METRIC_NAMES = ("ToolCalls", "ToolErrors", "QuotaDenied", "RateLimited", "CrossTenantDenied", "FeatureDenied")

_listeners: list[Callable[[str, float], None]] = []


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    # Never log request bodies or tool arguments: they hold customers' personal data.
    return Logger(service="tenantry")


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
