"""What every section shares: options, result rows, small statistics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BenchError", "Options", "Row", "iqr", "ms", "p99", "ratio"]


class BenchError(Exception):
    """The thing being measured did not do its job, so its figures would be meaningless."""


@dataclass(frozen=True)
class Options:
    cold_runs: int = 5
    warm_calls: int = 1000  # issue 3 asks for at least 1,000 per tools/call
    count_calls: int = 200
    # Every loop stops at this many seconds even if it has not reached its count.
    loop_seconds: float = 60.0
    child_timeout: float = 60.0
    # Tenants new to the container whose first tools/call is timed (one AssumeRole each).
    fresh_tenants: int = 10
    # Calls through a guarded and an unguarded client, and runs of the guard's microbenchmark.
    guard_calls: int = 500
    guard_runs: int = 200
    # Concurrent tools/call requests per trial, against a limit of quota_limit, quota_trials times.
    burst: int = 200
    quota_limit: int = 50
    quota_trials: int = 3
    # Tenants sharing the traffic in the cost model.
    tenants: int = 1000
    # The fleet the scale section imports, lists and reports on.
    scale_tenants: int = 10_000
    # The scale section's container serves one call per tenant until it has served them all or this long.
    scale_seconds: float = 1800.0


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    value: float | None  # None: nothing measured (a skipped section), the note says why
    unit: str
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio}


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def p99(samples: Sequence[float]) -> float:
    """Nearest-rank 99th percentile: an observed sample, never an interpolation."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def ms(samples_s: Sequence[float]) -> tuple[float, float]:
    """(median, p99) of durations in seconds, in milliseconds."""
    return statistics.median(samples_s) * 1000, p99(samples_s) * 1000


def iqr(samples: Sequence[float]) -> float:
    """Interquartile range (nearest rank): the spread a median difference must beat to mean anything."""
    ordered = sorted(samples)
    n = len(ordered)
    return ordered[min(n - 1, (3 * n) // 4)] - ordered[n // 4]
