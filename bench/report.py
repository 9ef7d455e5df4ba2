"""The printed table and the --json document."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.core import Options, Row

__all__ = ["environment", "render", "write_json"]

_HEADERS = ("section", "measure", "tenantry", "baseline", "ratio", "note")


def environment() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "versions": {name: version(name) for name in ("mcp", "mangum", "boto3", "moto", "aws-lambda-powertools")},
    }


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    digits = 0 if unit == "ms" and value >= 100 else 2
    return f"{value:.{digits}f} {unit}"


def render(rows: list[Row], env: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = [f"tenantry bench {env['date']}  Python {env['python']}  {env['machine']}  ({versions})", ""]
    cells = [
        (
            row.section,
            row.measure,
            _value(row.value, row.unit),
            _value(row.baseline, row.unit),
            "" if row.ratio is None else f"{row.ratio:.2f}x",
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(_HEADERS)]
    right = {2, 3, 4}  # numbers line up on the right

    def line(values: tuple[str, ...]) -> str:
        parts = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(parts).rstrip()

    lines += [line(_HEADERS), line(tuple("-" * w for w in widths))]
    previous = None
    for row, cell in zip(rows, cells, strict=True):
        if previous is not None and row.section != previous:
            lines.append("")
        lines.append(line(cell))
        previous = row.section
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], env: dict[str, Any], options: Options, sections: list[str]) -> None:
    """Everything the table shows, with ratios, for comparing runs over time."""
    document = {
        "environment": env,
        "options": asdict(options),
        "sections": sections,
        "rows": [row.to_json() for row in rows],
        "argv": sys.argv[1:],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
