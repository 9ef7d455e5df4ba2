"""A fleet of N tenants (10,000 by default) through the operator's CLI, as an operator would run it.

Each command is a child process of `tenantry` against the run's local platform (its moto over
HTTP), timed from start to exit, with its own peak RSS (wait4's rusage). The fleet is created by
`tenants import` from one CSV, then imported again (every row unchanged), listed and reported on.
Opt-in: at 10,000 tenants it takes minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.core import BenchError, Options, Row
from bench.resources import Resources

__all__ = ["WHY_OPT_IN", "run_scale"]

WHY_OPT_IN = "imports a fleet of --scale-tenants (10,000) tenants: minutes"
_PLANS = ("free", "starter", "professional")


def _cli(state: Path, *argv: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one `tenantry` command in a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "tenantry_admin.cli", "--state-dir", str(state), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    # wait4 rather than wait: the child's own rusage (its peak RSS), not all children's together.
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise BenchError(f"tenantry {' '.join(argv[:2])} failed ({code}): {err.strip()[:300]}")
    return seconds, usage.ru_maxrss / 1024, out


def run_scale(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    n = options.scale_tenants
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as directory:
        state = Path(directory)
        (state / "local.json").write_text(json.dumps(aws.platform.describe()))
        prefix = f"sc{uuid.uuid4().hex[:5]}"
        source = state / "fleet.csv"
        lines = [f"{prefix}-{i:06d},{prefix}-{i:06d},Studio {i},{_PLANS[i % 3]}" for i in range(n)]
        source.write_text("id,slug,name,plan\n" + "\n".join(lines) + "\n")

        seconds, rss, out = _cli(state, "tenants", "import", str(source))
        if not out.startswith(f"{n} created"):
            raise BenchError(f"the import said {out.strip()!r}, not {n} created")
        again, again_rss, out = _cli(state, "tenants", "import", str(source))
        if not out.startswith("0 created, 0 updated, " + f"{n} unchanged"):
            raise BenchError(f"the re-import said {out.strip()!r}")
        listed, list_rss, out = _cli(state, "tenants", "list", "--json")
        fleet = len(json.loads(out))
        report_file = state / "usage.csv"
        reported, report_rss, _ = _cli(
            state, "tenants", "usage-report", "--format", "csv", "--output", str(report_file)
        )
        report_rows = len(report_file.read_text().splitlines()) - 1
    if report_rows != fleet or fleet < n:
        raise BenchError(f"the report has {report_rows} rows for a fleet of {fleet}")
    note = f"{n:,} tenants from one CSV, a child process against the local platform"
    return [
        Row("scale", "import", seconds, "s", note=note),
        Row("scale", "import rate", n / seconds, "tenants/s", 100.0, "baseline: the goal, 100 tenants/s"),
        Row("scale", "import peak RSS", rss, "MB"),
        Row(
            "scale",
            "re-import (all unchanged)",
            again,
            "s",
            seconds,
            f"peak RSS {again_rss:.0f} MB; baseline: the import",
        ),
        Row("scale", "tenants list --json", listed, "s", note=f"{fleet:,} tenants; peak RSS {list_rss:.0f} MB"),
        Row("scale", "list peak RSS", list_rss, "MB"),
        Row("scale", "usage-report (csv)", reported, "s", note=f"{report_rows:,} rows; peak RSS {report_rss:.0f} MB"),
        Row("scale", "usage-report peak RSS", report_rss, "MB"),
    ]
