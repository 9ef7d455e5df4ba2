"""`tenantry tenants move`: the lifecycle's commands (parsing, confirmation, printing)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenantry.errors import InvalidInputError
from tenantry_admin.console import Ops, ProgressBar, table
from tenantry_admin.lifecycle.cells import cell_loads, rebalance_plan, target_of
from tenantry_admin.lifecycle.journal import MoveJournal, describe
from tenantry_admin.lifecycle.mover import Mover, MoveReport, parse_target
from tenantry_admin.lifecycle.plans import placement_for_plan
from tenantry_admin.lifecycle.portability import ExportReport, Portability
from tenantry_admin.lifecycle.restoring import Restorer
from tenantry_admin.tenants import TenantChanges

__all__ = ["confirm", "export_to", "mover_for", "register", "register_cells", "update_and_move"]


def mover_for(ops: Ops) -> Mover:
    return Mover(
        ops.admin,
        ops.services.clients,
        ops.services.placement,
        drain_seconds=ops.drain_seconds,
        say=lambda text: print(text, file=ops.err),
    )


def confirm(args: argparse.Namespace, ops: Ops, plan: str, question: str = "Go on?") -> None:
    """Say what will happen, then ask (unless --yes); refuse without a terminal to ask on."""
    if not args.yes and not sys.stdin.isatty():
        raise InvalidInputError(f"{plan} Not confirmed (no terminal to ask on): pass --yes; nothing was changed.")
    print(plan, file=ops.err)
    if args.yes:
        return
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise InvalidInputError("Not confirmed; nothing was changed.")


def print_move(args: argparse.Namespace, ops: Ops, report: MoveReport) -> None:
    if getattr(args, "json", False):
        ops.json(report.model_dump(mode="json"))
        return
    ops.say(report.message)
    for kind in report.kinds:
        ops.say(
            f"  {kind['kind']:<9} {kind['source_items']:>7,} -> {kind['target_items']:>7,}  "
            f"sha256 {kind['target_sha256'][:16]}  {'equal' if kind['equal'] else 'differs (re-copied in the pause)'}"
        )


def _move(args: argparse.Namespace, ops: Ops) -> int:

    target = parse_target(args.to, len(ops.admin.settings.cells()))
    mover = mover_for(ops)
    confirm(args, ops, mover.plan(args.tenant_id, target))
    bar = ProgressBar(ops.err, f"copying {args.tenant_id}")
    try:
        report = mover.run(args.tenant_id, target, keep_source=args.keep_source, progress=bar)
    finally:
        bar.close()
    print_move(args, ops, report)
    return 0


def update_and_move(args: argparse.Namespace, ops: Ops, changes: TenantChanges) -> int:
    """`tenants update`, and the move a plan change implies (said first; --no-move keeps the placement).

    Running the same command again after an interrupted move finishes the move: the plan is then
    unchanged, and the placement still not the plan's.
    """
    record = ops.admin.get(args.tenant_id)
    if changes.expected_version is not None and changes.expected_version != record.version:
        ops.admin.update(args.tenant_id, changes)  # refused, naming the version: nothing moves either
    plan = changes.plan or record.plan
    target = None if record.move is not None else placement_for_plan(ops.admin, record, plan)
    if record.move is not None:  # a move already under way (an interrupted one): finish it
        target = MoveJournal.model_validate(record.move).target
    mover = mover_for(ops)
    if target is not None and not args.no_move:
        confirm(
            args,
            ops,
            f"The {plan} plan places {args.tenant_id} in {describe(target)}. " + mover.plan(args.tenant_id, target),
        )
    if changes.plan == record.plan:
        changes.plan = None
    if not changes.empty():
        ops.say(ops.admin.update(args.tenant_id, changes).message)
    if target is None:
        if changes.empty():
            ops.say(
                f"Nothing to update: {args.tenant_id} is already on the {plan} plan, in {ops.admin.table_of(record)}."
            )
        return 0
    if args.no_move:
        where = f"{describe(record.placement)} ({ops.admin.table_of(record)})"
        ops.say(
            f"Kept {args.tenant_id} in {where} as asked (--no-move); "
            f"the {plan} plan would place it in {describe(target)}: `tenantry tenants move {args.tenant_id} "
            f"--to {describe(target)}` moves it."
        )
        return 0
    report = mover.run(args.tenant_id, target)
    print_move(args, ops, report)
    return 0


def _portability(ops: Ops) -> Portability:
    return Portability(ops.admin, ops.services.clients, ops.members, ops.services.session.create_client("kms"))


def export_to(ops: Ops, tenant_id: str, path: Path, stack: str | None, overwrite: bool) -> ExportReport:

    if path.exists() and not overwrite:
        raise InvalidInputError(f"{path} exists; pass --yes to replace it. Nothing was written.")
    bar = ProgressBar(ops.err, f"exporting {tenant_id}")
    try:
        return _portability(ops).export(tenant_id, path, stack or "local", bar)
    finally:
        bar.close()


def _export(args: argparse.Namespace, ops: Ops) -> int:
    report = export_to(ops, args.tenant_id, Path(args.output), args.stack, args.yes)
    if args.json:
        ops.json(report.model_dump(mode="json"))
    else:
        ops.say(report.message)
    return 0


def _restorer(ops: Ops) -> Restorer:
    return Restorer(ops.admin, ops.services.clients, ops.members, ops.services.session.create_client("kms"))


def _restore(args: argparse.Namespace, ops: Ops) -> int:
    """Everything is checked (the whole archive, or the recovered table) before anything is asked or written."""
    restorer = _restorer(ops)
    if args.replace and args.placement != "auto":
        raise InvalidInputError(
            "--placement does not go with --replace: the tenant keeps its placement (`tenantry tenants move` "
            "changes it). Nothing was restored."
        )
    if args.from_table:
        if args.file or not args.tenant:
            raise InvalidInputError("--from-table TABLE takes --tenant ID and no FILE; nothing was restored.")
        source, name = args.tenant, f"table {args.from_table}"
        target = restorer.target_of(source, args.as_id, args.replace)
        count = restorer.check_table(args.from_table, source, target)
        what = f"{count:,} item(s) of tenant {source} from {name}"
    else:
        if not args.file or args.tenant:
            raise InvalidInputError("Name an archive FILE, or --from-table TABLE --tenant ID; nothing was restored.")
        reader = restorer.verify(Path(args.file))
        source, name = str(reader.manifest["tenant_id"]), Path(args.file).name
        target = restorer.target_of(source, args.as_id, args.replace)
        what = (
            f"{name} (tenant {source}, exported {reader.manifest.get('created_at')} from "
            f"{reader.manifest.get('source')}, {reader.manifest['parts']['items.jsonl']['count']:,} item(s))"
        )
    if args.replace:
        plan = (
            f"Replace the data of tenant {target} ({restorer.current_items(target):,} item(s) now) with {what}: "
            "items not in the source are deleted."
        )
    else:
        plan = f"Restore {what} as {target}, placement {args.placement}."
    confirm(args, ops, plan)
    if args.from_table:
        report = restorer.restore_from_table(args.from_table, source, args.as_id, args.placement, args.replace)
    else:
        report = restorer.restore(Path(args.file), args.as_id, args.placement, args.replace)
    if args.json:
        ops.json(report.model_dump(mode="json"))
    else:
        ops.say(report.message)
    return 0


def _cells_show(args: argparse.Namespace, ops: Ops) -> int:
    loads = cell_loads(ops.admin)
    if args.json:
        ops.json([load.model_dump(mode="json") for load in loads])
        return 0

    rows = [[str(c.cell), c.table, f"{c.tenants:,}", f"{c.items:,}"] for c in loads]
    table(ops, ["CELL", "TABLE", "TENANTS", "ITEMS"], rows)
    ops.say("ITEMS is DescribeTable's ItemCount (every tenant's items; AWS refreshes it about every six hours).")
    return 0


def _cells_rebalance(args: argparse.Namespace, ops: Ops) -> int:
    moves = rebalance_plan(cell_loads(ops.admin))
    if not moves:
        ops.say("The cells are even (within one tenant of each other); nothing to move.")
        return 0
    for move in moves:
        ops.say(f"move {move.tenant_id}: cell:{move.source} -> cell:{move.target}")
    if not args.apply:
        ops.say(f"{len(moves)} move(s) would even out the cells. Dry run: pass --apply to move them.")
        return 0
    confirm(args, ops, f"Move {len(moves)} tenant(s) between cells, one at a time, each served throughout.")
    mover = mover_for(ops)
    for move in moves:
        ops.say(mover.run(move.tenant_id, target_of(move)).message)
    return 0


def register_cells(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    cells = sub.add_parser("cells", help="tenants and items per pooled cell; even them out")
    csub = cells.add_subparsers(dest="cells_command", required=True, metavar="COMMAND")
    command(csub, "show", _cells_show, "tenants and items per cell", True)
    p = command(csub, "rebalance", _cells_rebalance, "the moves that even out the cells (a dry run unless --apply)")
    p.add_argument("--apply", action="store_true", help="run the moves")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def register(tsub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command(
        tsub, "move", _move, "move a tenant's data to the pool, a cell or its own silo while it is served", True
    )
    p.add_argument("tenant_id")
    p.add_argument("--to", required=True, metavar="pool|silo|cell:N", help="where the tenant's data goes")
    p.add_argument("--keep-source", action="store_true", help="keep the source items (or silo table) after the flip")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = command(
        tsub, "export", _export, "write one tenant's data, usage, audit, members and branding to an archive", True
    )
    p.add_argument("tenant_id")
    p.add_argument("--output", required=True, metavar="FILE")
    p.add_argument("--yes", action="store_true", help="replace FILE if it exists")
    p = command(tsub, "restore", _restore, "restore a tenant from an archive or a point-in-time-recovered table", True)
    p.add_argument("file", nargs="?", help="the archive (verified whole before anything is written)")
    p.add_argument("--from-table", metavar="TABLE", help="a table DynamoDB point-in-time recovery restored")
    p.add_argument("--tenant", metavar="ID", help="with --from-table: the tenant to take out of TABLE")
    p.add_argument("--replace", action="store_true", help="replace the data of the existing tenant")
    p.add_argument("--as", dest="as_id", metavar="NEW_ID", help="restore under this tenant id (secrets re-encrypted)")
    p.add_argument("--placement", default="auto", help="pool, cell, silo or auto (default: auto)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
