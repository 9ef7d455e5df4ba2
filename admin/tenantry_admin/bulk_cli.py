"""`tenantry tenants import`: the command line of bulk onboarding (tenantry_admin.bulk does the work).

Registered onto the `tenants` group that commands.py builds, so its module stays as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tenantry.errors import InvalidInputError
from tenantry_admin.bulk import (
    BRAND_COLUMNS,
    DEFAULT_TABLE_QUOTA,
    REQUIRED_COLUMNS,
    Reject,
    TenantImporter,
    detect_format,
    read_text,
    write_rejects,
)
from tenantry_admin.commands import EXIT_BAD_INPUT, add_admin_command, subcommands_of
from tenantry_admin.console import Ops

__all__ = ["IMPORT_WORKERS", "TtyProgress", "add_command", "register"]

IMPORT_WORKERS = 8

_IMPORT_HELP = f"""\
Onboard many tenants from a CSV file (header {",".join(REQUIRED_COLUMNS)} plus optional columns) or JSON
Lines (one object a line with the same names). Optional columns: placement (auto, pool, cell, silo),
{", ".join(BRAND_COLUMNS)}, feature.NAME (on, off or empty) and quota.NAME (a number or empty).
Every row is checked before anything is written; a bad row makes the import write nothing and exit 2,
unless --skip-bad. Rows equal to a registered tenant are unchanged; rows that differ are refused
unless --update. Re-running an interrupted import finishes it."""


class TtyProgress:
    """A bar redrawn in place, on a terminal only: a pipe or a log file gets just the summary line."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._width = width
        self._on = stream.isatty()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self._on or not total:
            return
        filled = self._width * done // total
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (self._width - filled)}] {done:,}/{total:,}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._drawn = False


def _rejects_path(source: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    return source.with_name(f"{source.stem}.rejects{source.suffix or '.csv'}")


def _print_rejects(err: TextIO, rejects: list[Reject]) -> None:
    for reject in rejects:
        print(f"line {reject.line}: {reject.reason}", file=err)


def _import(args: argparse.Namespace, ops: Ops) -> int:
    source = Path(args.file)
    text = read_text(source)
    fmt = detect_format(source, text, args.format)
    if args.table_quota < 1:
        raise InvalidInputError("--table-quota takes a positive number.")
    # Parallel even locally: every put is to a distinct key, which moto's threaded server handles
    # safely (offboarding's serial deletes are about its scans, not puts).
    importer = TenantImporter(ops.admin, workers=IMPORT_WORKERS, table_quota=args.table_quota)
    plan = importer.plan(text, fmt, update=args.update)
    if plan.rejects and not args.skip_bad:
        _print_rejects(ops.err, plan.rejects)
        print(
            f"tenantry: {len(plan.rejects)} bad row(s) in {source}; nothing was written "
            "(fix them, or pass --skip-bad to import the rest).",
            file=ops.err,
        )
        return EXIT_BAD_INPUT
    tables, silos = importer.check_table_quota(plan)
    if silos:
        print(
            f"{silos:,} business tenant(s) get their own table: {tables:,} + {silos:,} of the "
            f"{args.table_quota:,}-table quota.",
            file=ops.err,
        )
        bar = TtyProgress(ops.err, "silo tables")
        try:
            importer.create_silo_tables(plan.silo_tables, bar)
        finally:
            bar.close()
    bar = TtyProgress(ops.err, "importing")
    try:
        result = importer.apply(plan, bar)
    finally:
        bar.close()
    if result.rejected:
        _print_rejects(ops.err, result.rejected)
        path = _rejects_path(source, args.rejects)
        write_rejects(path, fmt, plan.header, result.rejected)
        print(f"Wrote the {len(result.rejected)} rejected row(s) to {path}.", file=ops.err)
    ops.say(result.summary())
    return 0


def add_command(parent: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_admin_command(
        parent,
        "import",
        _import,
        "onboard many tenants from a CSV or JSON Lines file",
        description=_IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="the CSV or JSON Lines file")
    p.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file name, else its first line")
    p.add_argument("--update", action="store_true", help="change registered tenants whose row differs")
    p.add_argument("--skip-bad", action="store_true", help="import the good rows; write the bad ones to --rejects")
    p.add_argument("--rejects", metavar="FILE", help="where --skip-bad writes bad rows (default: FILE.rejects.csv)")
    p.add_argument(
        "--table-quota",
        type=int,
        default=DEFAULT_TABLE_QUOTA,
        metavar="N",
        help=f"the account's DynamoDB table quota in the region (default {DEFAULT_TABLE_QUOTA:,})",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tenants import` to the `tenants` group commands.register made."""
    add_command(subcommands_of(sub.choices["tenants"]))
