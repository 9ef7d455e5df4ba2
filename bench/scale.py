"""A fleet of N tenants (10,000 by default) through the operator's CLI, then one warm container serving it.

Each command is a child process of `tenantry` against the run's local platform (its moto over
HTTP), timed from start to exit, with its own peak RSS (wait4's rusage). The fleet is created by
`tenants import` from one CSV, given one membership a tenant by `members import`, imported again
(every row unchanged), listed and reported on. Then a container of its own (bench/scale_child.py)
serves one tools/call to each tenant in turn: its RSS after 10 and after every tenant (or as many
as --scale-seconds allowed). Opt-in: at 10,000 tenants it takes many minutes.
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
from typing import Any

from bench.core import BenchError, Options, Row
from bench.resources import Resources

__all__ = ["WHY_OPT_IN", "run_scale"]

WHY_OPT_IN = "imports a fleet of --scale-tenants (10,000) tenants and serves each once: many minutes"
_PLANS = ("free", "starter", "professional")


def _cli(state: Path, *argv: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one `tenantry` command in a child process."""
    return _child([sys.executable, "-m", "tenantry_admin.cli", "--state-dir", str(state), *argv])


def _child(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of a child process that must succeed."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
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
        raise BenchError(f"{' '.join(command[2:5])} failed ({code}): {err.strip()[-300:]}")
    return seconds, usage.ru_maxrss / 1024, out


def run_scale(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    n = options.scale_tenants
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as directory:
        state = Path(directory)
        (state / "local.json").write_text(json.dumps(aws.platform.describe()))
        prefix = f"sc{uuid.uuid4().hex[:5]}"
        ids = [f"{prefix}-{i:06d}" for i in range(n)]
        source = state / "fleet.csv"
        lines = [f"{tenant},{tenant},Studio {i},{_PLANS[i % 3]}" for i, tenant in enumerate(ids)]
        source.write_text("id,slug,name,plan\n" + "\n".join(lines) + "\n")
        people = state / "members.csv"
        people.write_text("tenant,user\n" + "".join(f"{tenant},owner@{tenant}.example\n" for tenant in ids))

        seconds, rss, out = _cli(state, "tenants", "import", str(source))
        if not out.startswith(f"{n} created"):
            raise BenchError(f"the import said {out.strip()!r}, not {n} created")
        members, members_rss, out = _cli(state, "members", "import", str(people))
        if not out.startswith(f"{n} created"):
            raise BenchError(f"the members import said {out.strip()!r}, not {n} created")
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
        few, many = _container(state, ids, options.scale_seconds)
    note = f"{n:,} tenants from one CSV, a child process against the local platform"
    served = f"{many['tenants']:,} distinct tenants" + ("" if many["tenants"] == n else f" (of {n:,}: --scale-seconds)")
    return [
        Row("scale", "import", seconds, "s", note=note),
        Row("scale", "import rate", n / seconds, "tenants/s", 100.0, "baseline: the goal, 100 tenants/s"),
        Row("scale", "import peak RSS", rss, "MB"),
        Row("scale", "members import", members, "s", note=f"{n:,} memberships, one a tenant"),
        Row("scale", "members import rate", n / members, "rows/s"),
        Row("scale", "members import peak RSS", members_rss, "MB"),
        Row(
            "scale",
            "re-import (all unchanged)",
            again,
            "s",
            seconds,
            f"peak RSS {again_rss:.0f} MB; baseline: the import",
        ),
        Row("scale", "tenants list --json", listed, "s", note=f"{fleet:,} tenants"),
        Row("scale", "list peak RSS", list_rss, "MB"),
        Row("scale", "usage-report (csv)", reported, "s", note=f"{report_rows:,} rows"),
        Row("scale", "usage-report peak RSS", report_rss, "MB"),
        Row("scale", f"container RSS after {few['tenants']} tenants", few["rss_mb"], "MB", note="one tools/call each"),
        Row(
            "scale",
            "container RSS after the fleet",
            many["rss_mb"],
            "MB",
            few["rss_mb"],
            f"{served} in {many['seconds']:.0f} s; baseline: after {few['tenants']}",
        ),
    ]


def _container(state: Path, ids: list[str], seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The container child's readings: after a few tenants, after all of them (or the time allowed)."""
    tenants = state / "container-tenants.txt"
    tenants.write_text("\n".join(ids) + "\n")
    _, _, out = _child([sys.executable, "-m", "bench.scale_child", str(tenants), str(seconds)])
    # Only the child's readings: the function's own log lines go to stdout too, as on Lambda.
    readings = [json.loads(line) for line in out.splitlines() if line.startswith('{"tenants"')]
    if len(readings) < 2:
        raise BenchError(f"the container reported {readings!r}, not two readings")
    return readings[0], readings[-1]
