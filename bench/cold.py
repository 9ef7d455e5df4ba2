"""Cold start: a fresh interpreter imports the handler and serves its first tools/call."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import botocore

from bench.core import BenchError, Options, Row
from bench.events import BASELINE_CALL, GET_CUSTOMER, ToolCall, check_response, event_for
from bench.resources import Resources
from layers.prune import PRUNED_PACKAGES, prune_site

__all__ = ["run_cold"]

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Variant:
    module: str
    call: ToolCall
    # Packages the child may not import: those layers/build.py leaves out of the Lambda layer.
    absent: tuple[str, ...] = ()
    # The child imports botocore as the layer holds it: models and endpoints.json for our services only.
    # (botocore lists every service directory it can see when a session builds its first client.)
    layer_botocore: bool = False


VARIANTS = {
    "tenantry": Variant("tenantry.mcp_server.handler", GET_CUSTOMER, PRUNED_PACKAGES, layer_botocore=True),
    # The bare SDK deployed as its dependencies come: every package mcp requires.
    "baseline": Variant("bench.baseline", BASELINE_CALL),
}
TOP_PACKAGES = 6


@dataclass(frozen=True)
class ColdSample:
    in_child_s: float
    cpu_s: float
    wall_s: float
    peak_mib: float
    import_s: float
    first_s: float
    first_aws_s: float

    @property
    def first_outside_aws_s(self) -> float:
        return self.first_s - self.first_aws_s


def run_cold(resources: Resources, options: Options) -> list[Row]:
    resources.aws()  # the children talk to this moto server through the inherited environment
    samples: dict[str, list[ColdSample]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        _layer_botocore(work / "site")
        # One discarded run each: it writes the .pyc files (the deployed asset ships them precompiled).
        for variant in VARIANTS.values():
            _one_child(variant, work, options.child_timeout)
        deadline = time.monotonic() + options.loop_seconds
        for _ in range(options.cold_runs):
            # Interleaved, so a noisy moment on this 2-core machine hurts both sides alike.
            for name, variant in VARIANTS.items():
                samples[name].append(_one_child(variant, work, options.child_timeout))
            if time.monotonic() > deadline:
                break
        profile = _import_profile(VARIANTS["tenantry"], VARIANTS["baseline"], work, options.child_timeout)
    return [*_rows(samples["tenantry"], samples["baseline"]), profile]


def _one_child(variant: Variant, work: Path, timeout: float) -> ColdSample:
    event_file, result_file = work / "event.json", work / "result.json"
    event_file.write_text(json.dumps(event_for(variant.call)))
    result_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.cold_child", variant.module, str(event_file), str(result_file)]
    command += [",".join(variant.absent)]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO, env=_child_env(variant, work), capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or not result_file.exists():
        raise BenchError(f"cold child {variant.module} exited {done.returncode}:\n{done.stderr[-2000:]}")
    report = json.loads(result_file.read_text())
    check_response(variant.call, report["result"])
    return ColdSample(
        in_child_s=report["seconds"],
        cpu_s=report["cpu_seconds"],
        wall_s=wall,
        peak_mib=report["peak_rss_kib"] / 1024,
        import_s=report["import_seconds"],
        first_s=report["first_call_seconds"],
        first_aws_s=report["first_call_aws_seconds"],
    )


def _layer_botocore(site: Path) -> None:
    """A copy of the installed botocore pruned as layers/build.py prunes the layer (layers/prune.py)."""
    source = Path(botocore.__file__).parent
    shutil.copytree(source, site / "botocore", ignore=shutil.ignore_patterns("__pycache__"))
    prune_site(site)


def _child_env(variant: Variant, work: Path) -> dict[str, str]:
    # An on-demand init, as Lambda runs it without SnapStart: the cold start a caller waits for.
    env = {**_bytecode_env(work), "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}
    if variant.layer_botocore:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work / "site"), env.get("PYTHONPATH")]))
    return env


def _bytecode_env(work: Path) -> dict[str, str]:
    """The children's environment: bytecode written once to a cache of the run's own and read after.

    Lambda imports the layer's precompiled .pyc files (layers/build.py). A machine that sets
    PYTHONDONTWRITEBYTECODE (or a venv installed without bytecode) would make every child compile
    every module from source instead: seconds of work Lambda never does, in both columns.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def _import_profile(ours: Variant, bare: Variant, work: Path, timeout: float) -> Row:
    """`python -X importtime` of both imports: what ours adds to the bare SDK's, by top-level package."""
    ours_times, bare_times = _import_times(ours, work, timeout), _import_times(bare, work, timeout)
    extra: dict[str, float] = {}
    for module, seconds in ours_times.items():
        if module not in bare_times:
            top = module.split(".")[0]
            extra[top] = extra.get(top, 0.0) + seconds
    ranked = sorted(extra.items(), key=lambda kv: -kv[1])[:TOP_PACKAGES]
    listed = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in ranked)
    return Row(
        "cold",
        "import: modules the bare SDK does not load",
        sum(extra.values()) * 1000,
        "ms",
        note=f"one -X importtime run, self time; top: {listed} ms",
    )


def _import_times(variant: Variant, work: Path, timeout: float) -> dict[str, float]:
    blocker = f"from bench.cold_child import block; block({variant.absent!r}); " if variant.absent else ""
    command = [sys.executable, "-X", "importtime", "-c", f"{blocker}import {variant.module}"]
    done = subprocess.run(
        command, cwd=REPO, env=_child_env(variant, work), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"importing {variant.module} failed:\n{done.stderr[-2000:]}")
    times: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            times[parts[2].strip()] = int(parts[0]) / 1_000_000
    return times


def _rows(ours: list[ColdSample], bare: list[ColdSample]) -> list[Row]:
    def median_ms(samples: list[ColdSample], attr: str) -> float:
        return float(statistics.median(getattr(s, attr) for s in samples)) * 1000

    def spread(samples: list[ColdSample], attr: str) -> str:
        values = [getattr(s, attr) * 1000 for s in samples]
        return f"n={len(values)}, {min(values):.0f}-{max(values):.0f} ms"

    return [
        Row(
            "cold",
            "import (init: app built, models loaded)",
            median_ms(ours, "import_s"),
            "ms",
            median_ms(bare, "import_s"),
            f"median; {spread(ours, 'import_s')}; from bytecode; "
            f"ours without {', '.join(PRUNED_PACKAGES)} (not in the layer)",
        ),
        Row(
            "cold",
            "first tools/call after init",
            median_ms(ours, "first_s"),
            "ms",
            median_ms(bare, "first_s"),
            f"median; {spread(ours, 'first_s')}",
        ),
        Row(
            "cold",
            "first tools/call after init, outside AWS calls",
            median_ms(ours, "first_outside_aws_s"),
            "ms",
            median_ms(bare, "first_outside_aws_s"),
            "median; stand-in for a SnapStart restore's first request; goal: baseline + 25 ms",
        ),
        Row(
            "cold",
            "import + first tools/call (in child)",
            median_ms(ours, "in_child_s"),
            "ms",
            median_ms(bare, "in_child_s"),
            f"median; get_customer vs echo; {spread(ours, 'in_child_s')}; goal: at most 1.2x",
        ),
        Row(
            "cold",
            "import + first tools/call, CPU time (in child)",
            median_ms(ours, "cpu_s"),
            "ms",
            median_ms(bare, "cpu_s"),
            f"median; the row above in the child's own CPU time (no AWS waits, no other process's load); "
            f"{spread(ours, 'cpu_s')}",
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
