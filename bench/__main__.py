"""`python -m bench`: run the selected sections and print one table (figures, not assertions)."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench.core import BenchError, Options, Row
from bench.report import environment, render, write_json
from bench.resources import Resources
from bench.sections import SECTIONS


def _parse(argv: list[str]) -> tuple[Options, list[str], Path | None]:
    names = [s.name for s in SECTIONS]
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=names, help="run only this section (repeatable)")
    parser.add_argument("--cold-runs", type=int, default=defaults.cold_runs, help="cold starts per side")
    parser.add_argument("--warm-calls", type=int, default=defaults.warm_calls, help="timed calls per tool")
    parser.add_argument("--count-calls", type=int, default=defaults.count_calls, help="calls per tool for AWS counts")
    parser.add_argument("--loop-seconds", type=float, default=defaults.loop_seconds, help="time cap of every loop")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    for flag in ("cold_runs", "warm_calls", "count_calls"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    options = Options(
        cold_runs=args.cold_runs,
        warm_calls=args.warm_calls,
        count_calls=args.count_calls,
        loop_seconds=args.loop_seconds,
    )
    return options, args.only or names, args.json


def main(argv: list[str]) -> int:
    options, selected, json_path = _parse(argv)
    rows: list[Row] = []
    with ExitStack() as stack:
        resources = Resources(stack)
        for section in SECTIONS:
            if section.name not in selected:
                continue
            print(f"... {section.name}: {section.summary}", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                rows += section.run(resources, options)
            except BenchError as exc:
                print(f"bench: section {section.name} failed: {exc}", file=sys.stderr)
                return 1
            print(f"    done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    env = environment()
    print(render(rows, env))
    if json_path is not None:
        write_json(json_path, rows, env, options, selected)
        print(f"\nwrote {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
