"""What every section shares: options, result rows, small statistics, the section registry type."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.resources import Resources

__all__ = ["BenchError", "Options", "Row", "Section", "ms", "p99", "ratio"]


class BenchError(Exception):
    """The thing being measured did not do its job, so its figures would be meaningless."""


@dataclass(frozen=True)
class Options:
    cold_runs: int = 5
    warm_calls: int = 1000
    count_calls: int = 200
    # Every loop stops at this many seconds even if it has not reached its count.
    loop_seconds: float = 60.0
    child_timeout: float = 60.0


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio}


@dataclass(frozen=True)
class Section:
    name: str
    summary: str
    # Sections ask Resources for what they need (moto, seeded tables), started once per run.
    run: Callable[[Resources, Options], list[Row]]


def ratio(value: float, baseline: float | None) -> float | None:
    if baseline is None or baseline == 0:
        return None
    return value / baseline


def p99(samples: Sequence[float]) -> float:
    """Nearest-rank 99th percentile: an observed sample, never an interpolation."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def ms(samples_s: Sequence[float]) -> tuple[float, float]:
    """(median, p99) of durations in seconds, in milliseconds."""
    return statistics.median(samples_s) * 1000, p99(samples_s) * 1000
