"""What `./dev local` installs: the serve-only environment's size on disk, against the full one.

A fresh clone's `./dev local` syncs the runtime and the `local` extra only (no dev group), with
bytecode compiled. This section does the same sync into a scratch directory (from uv's cache when
it is warm, else from the package index: hence opt-in) and weighs it; the baseline is the full
environment `./dev test` uses, this checkout's `.venv`. The goal is at most 250 MB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core import BenchError, Options, Row
from bench.resources import Resources

__all__ = ["WHY_OPT_IN", "run_install"]

WHY_OPT_IN = "it installs a second environment, from the package index when uv's cache is cold"
REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
GOAL_MB = 250
TOP = 5  # the heaviest distributions named in the note


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def _heaviest(env: Path) -> str:
    site = next(env.glob("lib/python*/site-packages"), None)
    if site is None:
        return ""
    sizes = sorted(((_size(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True)[:TOP]
    return ", ".join(f"{name} {size / MB:.0f}" for size, name in sizes)


def run_install(resources: Resources, options: Options) -> list[Row]:
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    with tempfile.TemporaryDirectory(prefix="tenantry-install-") as scratch:
        env = Path(scratch) / "venv"
        started = time.monotonic()
        done = subprocess.run(
            [uv, "sync", "--frozen", "--extra", "local", "--no-dev", "--compile-bytecode", "--quiet"],
            cwd=REPO,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env), "UV_PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=options.child_timeout * 10,
        )
        if done.returncode != 0:
            raise BenchError(f"uv sync of the serve-only environment failed: {done.stderr.strip()[-500:]}")
        seconds = time.monotonic() - started
        serve = _size(env) / MB
        heaviest = _heaviest(env)
    full = _size(REPO / ".venv") / MB
    return [
        Row(
            "install",
            "./dev local's environment (runtime + local extra, .pyc)",
            serve,
            "MB",
            baseline=full,
            note=f"goal <= {GOAL_MB} MB; baseline: ./dev test's .venv; synced in {seconds:.0f} s; "
            f"heaviest MB: {heaviest}",
        )
    ]
