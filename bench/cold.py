"""Cold start: a fresh interpreter imports the handler and serves its first tools/call."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.core import BenchError, Options, Row
from bench.events import BASELINE_CALL, GET_CUSTOMER, ToolCall, check_response, event_for
from bench.resources import Resources

__all__ = ["run_cold"]

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Variant:
    module: str
    call: ToolCall


VARIANTS = {
    "tenantry": Variant("tenantry.mcp_server.handler", GET_CUSTOMER),
    "baseline": Variant("bench.baseline", BASELINE_CALL),
}


@dataclass(frozen=True)
class ColdSample:
    in_child_s: float
    wall_s: float
    peak_mib: float


def run_cold(resources: Resources, options: Options) -> list[Row]:
    resources.aws()  # the children talk to this moto server through the inherited environment
    samples: dict[str, list[ColdSample]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        # One discarded run each: it writes the .pyc files, which the deployed asset ships precompiled.
        for variant in VARIANTS.values():
            _one_child(variant, work, options.child_timeout)
        deadline = time.monotonic() + options.loop_seconds
        for _ in range(options.cold_runs):
            # Interleaved, so a noisy moment on this 2-core machine hurts both sides alike.
            for name, variant in VARIANTS.items():
                samples[name].append(_one_child(variant, work, options.child_timeout))
            if time.monotonic() > deadline:
                break
    return _rows(samples["tenantry"], samples["baseline"])


def _one_child(variant: Variant, work: Path, timeout: float) -> ColdSample:
    event_file, result_file = work / "event.json", work / "result.json"
    event_file.write_text(json.dumps(event_for(variant.call)))
    result_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.cold_child", variant.module, str(event_file), str(result_file)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not result_file.exists():
        raise BenchError(f"cold child {variant.module} exited {done.returncode}:\n{done.stderr[-2000:]}")
    report = json.loads(result_file.read_text())
    check_response(variant.call, report["result"])
    return ColdSample(in_child_s=report["seconds"], wall_s=wall, peak_mib=report["peak_rss_kib"] / 1024)


def _rows(ours: list[ColdSample], bare: list[ColdSample]) -> list[Row]:
    def median_ms(samples: list[ColdSample], attr: str) -> float:
        return float(statistics.median(getattr(s, attr) for s in samples)) * 1000

    def spread(samples: list[ColdSample], attr: str) -> str:
        values = [getattr(s, attr) * 1000 for s in samples]
        return f"n={len(values)}, {min(values):.0f}-{max(values):.0f} ms"

    return [
        Row(
            "cold",
            "import + first tools/call (in child)",
            median_ms(ours, "in_child_s"),
            "ms",
            median_ms(bare, "in_child_s"),
            f"median; get_customer vs echo; {spread(ours, 'in_child_s')}",
        ),
        Row(
            "cold",
            "process spawn to exit (parent)",
            median_ms(ours, "wall_s"),
            "ms",
            median_ms(bare, "wall_s"),
            f"median; {spread(ours, 'wall_s')}",
        ),
        Row(
            "cold",
            "peak RSS of the child",
            statistics.median(s.peak_mib for s in ours),
            "MiB",
            statistics.median(s.peak_mib for s in bare),
            "median VmHWM, interpreter included",
        ),
    ]
