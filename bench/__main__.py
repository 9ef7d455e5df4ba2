"""`python -m bench`: run the selected sections and print one table (figures, not assertions)."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack, redirect_stdout
from pathlib import Path

from bench.core import BenchError, Options, Row
from bench.report import environment, render, write_json
from bench.resources import Resources
from bench.sections import SECTIONS


def _parse(argv: list[str]) -> tuple[Options, list[str] | None, Path | None]:
    names = [s.name for s in SECTIONS]
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=names, help="run only this section (repeatable)")
    parser.add_argument("--cold-runs", type=int, default=defaults.cold_runs, help="cold starts per side")
    parser.add_argument("--warm-calls", type=int, default=defaults.warm_calls, help="timed calls per tool")
    parser.add_argument("--count-calls", type=int, default=defaults.count_calls, help="calls per tool for AWS counts")
    parser.add_argument("--loop-seconds", type=float, default=defaults.loop_seconds, help="time cap of every loop")
    parser.add_argument(
        "--fresh-tenants", type=int, default=defaults.fresh_tenants, help="tenants new to the container"
    )
    parser.add_argument("--guard-calls", type=int, default=defaults.guard_calls, help="GetItem calls per guard side")
    parser.add_argument("--burst", type=int, default=defaults.burst, help="concurrent calls per quota trial")
    parser.add_argument("--quota-limit", type=int, default=defaults.quota_limit, help="monthly and per-minute limit")
    parser.add_argument("--quota-trials", type=int, default=defaults.quota_trials, help="trials per limit")
    parser.add_argument("--tenants", type=int, default=defaults.tenants, help="tenants sharing the cost model's calls")
    parser.add_argument(
        "--scale-tenants", type=int, default=defaults.scale_tenants, help="the scale section's fleet size"
    )
    parser.add_argument(
        "--scale-seconds",
        type=float,
        default=defaults.scale_seconds,
        help="time cap of the scale section's container serving every tenant once",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.scale_seconds <= 0:
        parser.error("--scale-seconds must be positive")
    counted = [
        "cold_runs",
        "warm_calls",
        "count_calls",
        "fresh_tenants",
        "guard_calls",
        "burst",
        "quota_limit",
        "tenants",
        "scale_tenants",
    ]
    for flag in [*counted, "quota_trials"]:
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    options = Options(
        cold_runs=args.cold_runs,
        warm_calls=args.warm_calls,
        count_calls=args.count_calls,
        loop_seconds=args.loop_seconds,
        fresh_tenants=args.fresh_tenants,
        guard_calls=args.guard_calls,
        burst=args.burst,
        quota_limit=args.quota_limit,
        quota_trials=args.quota_trials,
        tenants=args.tenants,
        scale_tenants=args.scale_tenants,
        scale_seconds=args.scale_seconds,
    )
    return options, args.only, args.json


def main(argv: list[str]) -> int:
    options, only, json_path = _parse(argv)
    selected = only or [s.name for s in SECTIONS if not s.opt_in]
    rows: list[Row] = []
    with ExitStack() as stack:
        resources = Resources(stack)
        for section in SECTIONS:
            if section.name not in selected:
                if section.opt_in and only is None:  # a default run says what it left out
                    note = f"skipped: opt-in, run with --only {section.name} ({section.why_opt_in})"
                    rows.append(Row(section.name, section.summary, None, "", note=note))
                continue
            print(f"... {section.name}: {section.summary}", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                # stdout is the table's: anything the runtime prints (powertools flushes EMF documents
                # every 100 values even with metrics disabled) goes to stderr with the progress lines.
                with redirect_stdout(sys.stderr):
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
