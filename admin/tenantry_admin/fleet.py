"""Fleet-wide commands that stay fast and small at 10,000+ tenants: `tenants list`, `usage-report`, `top`.

Each reads the registry (or the usage table) a Scan page at a time and writes as it goes, so
memory holds one page, never the fleet: `list` prints each page as it arrives, `usage-report`
spills its lines to a temporary file (the CSV's tool columns are known only at the end), and
`top` keeps a heap of the N largest.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from tenantry.canary.cases import is_canary_tenant
from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import SK, usage_month_key, usage_month_sk
from tenantry.errors import InvalidInputError
from tenantry.metering.meter import MonthUsage, ToolUsage
from tenantry.tenancy.plans import PLAN_ORDER
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.batch_reads import batch_get
from tenantry_admin.commands import STATUSES, _n, _record_json, add_admin_command, subcommands_of
from tenantry_admin.console import Ops
from tenantry_admin.reports import CSV_COLUMNS, UsageLine, customers_of, usage_line, validate_month

__all__ = ["month_usage", "register", "registry_pages"]

MODES = ("pool", "cell", "silo")
TOP_BY = ("calls", "errors", "refusals")
# Items per Scan page; None lets DynamoDB fill 1 MB pages (tests set a few to see paging).
PAGE_SIZE: int | None = None
# Tenants whose customers are counted at once (each count is the tenant's own credentials and table).
COUNT_WORKERS = 8


def _choices(values: list[str] | None, allowed: tuple[str, ...], what: str) -> set[str]:
    chosen = {v.strip() for value in values or [] for v in value.split(",") if v.strip()}
    unknown = chosen - set(allowed)
    if unknown:
        raise InvalidInputError(f"Unknown {what} '{sorted(unknown)[0][:30]}': choose from {', '.join(allowed)}.")
    return chosen


def registry_pages(
    ops: Ops,
    plans: AbstractSet[str] = frozenset(),
    statuses: AbstractSet[str] = frozenset(),
    modes: AbstractSet[str] = frozenset(),
) -> Iterator[list[TenantRecord]]:
    """The registry a Scan page at a time, filtered in DynamoDB (the filter saves transfer, not reads).

    Pages come in DynamoDB's order (by the hash of the tenant id); each page is sorted by tenant
    id, which costs nothing (the page is in memory anyway) and is the order a fleet that fits in
    one page (up to about 2,000 tenants) is listed in. A whole-fleet order would hold the fleet.
    """
    names = {"#id": "tenant_id"}
    values: dict[str, Any] = {":reserved": "@"}
    conditions = ["NOT begins_with(#id, :reserved)"]  # slug reservations share the table
    for attribute, path, chosen in (("plan", "#plan", plans), ("status", "#status", statuses)):
        if chosen:
            names[path] = attribute
            values.update({f":{attribute}{i}": v for i, v in enumerate(sorted(chosen))})
            conditions.append(f"{path} IN ({', '.join(f':{attribute}{i}' for i in range(len(chosen)))})")
    if modes:
        names.update({"#placement": "placement", "#mode": "mode"})
        values.update({f":mode{i}": v for i, v in enumerate(sorted(modes))})
        conditions.append(f"#placement.#mode IN ({', '.join(f':mode{i}' for i in range(len(modes)))})")
    paginator = ops.admin.dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        PaginationConfig={"PageSize": PAGE_SIZE} if PAGE_SIZE else {},
        TableName=ops.admin.settings.registry_table,
        FilterExpression=" AND ".join(conditions),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_attrs(values),
    ):
        records = (TenantRecord.model_validate(from_attrs(item)) for item in page.get("Items", []))
        # The isolation canary's tenants are never listed, reported or billed (tenantry canary).
        yield sorted(
            (record for record in records if not is_canary_tenant(record.tenant_id)), key=lambda r: r.tenant_id
        )


def _filters(args: argparse.Namespace) -> tuple[set[str], set[str], set[str]]:
    return (
        _choices(args.plan, PLAN_ORDER, "plan"),
        _choices(args.status, STATUSES, "status"),
        _choices(args.placement, MODES, "placement"),
    )


# -- tenants list ------------------------------------------------------------------------------
_LIST_COLUMNS = (("TENANT", 26), ("SLUG", 22), ("PLAN", 13), ("STATUS", 12), ("TABLE", 34), ("NAME", 30))


def _list(args: argparse.Namespace, ops: Ops) -> int:
    plans, statuses, modes = _filters(args)
    count = 0
    if args.json:
        ops.out.write("[")
        for page in registry_pages(ops, plans, statuses, modes):
            for record in page:
                ops.out.write(("\n" if count == 0 else ",\n") + json.dumps(_record_json(ops, record), default=str))
                count += 1
        ops.out.write("\n]\n" if count else "]\n")
        return 0
    ops.say("  ".join(name.ljust(width) for name, width in _LIST_COLUMNS) + "  VERSION")
    for page in registry_pages(ops, plans, statuses, modes):
        for r in page:
            cells = (r.tenant_id, r.slug, r.plan, r.status, ops.admin.table_of(r), r.display_name)
            ops.say(
                "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _LIST_COLUMNS, strict=True)) + f"  {r.version}"
            )
            count += 1
    ops.say(f"{_n(count)} tenant(s)")
    return 0


# -- usage -------------------------------------------------------------------------------------
def month_usage(tenant_id: str, month: str, values: dict[str, Any]) -> MonthUsage:
    """A usage item's counters as MonthUsage: the meter's own reading (one layout, one reader)."""
    return MonthUsage.from_item(tenant_id, month, values)


def _usages(ops: Ops, tenant_ids: list[str], month: str) -> dict[str, MonthUsage]:
    """The month's usage items of these tenants, 100 to a BatchGetItem; a tenant without one has zeros."""
    table = ops.admin.settings.usage_table
    found: dict[str, MonthUsage] = {}
    for values in batch_get(ops.admin.dynamodb, table, [usage_month_key(t, month) for t in tenant_ids]):
        found[str(values["pk"])] = month_usage(str(values["pk"]), month, values)
    return {t: found.get(t) or MonthUsage(tenant_id=t, month=month) for t in tenant_ids}


def _lines(ops: Ops, month: str) -> Iterator[UsageLine]:
    def count(record: TenantRecord) -> int:
        return customers_of(ops.services.customer_store, record, ops.admin.context_for(record))

    with ThreadPoolExecutor(COUNT_WORKERS) as pool:
        for page in registry_pages(ops):
            usages = _usages(ops, [r.tenant_id for r in page], month)
            counts = list(pool.map(count, page))
            # Each count built the tenant's own client (its credentials, a guarded boto3 client);
            # the report never needs them again, so a page's worth is all it ever holds.
            ops.services.clients.clear()
            for record, customers in zip(page, counts, strict=True):
                yield usage_line(record, usages[record.tenant_id], customers)


_TOTALS = ("calls", "overage_calls", "quota_denied", "rate_denied", "errors", "customers")


def _usage_report(args: argparse.Namespace, ops: Ops) -> int:
    month = validate_month(args.month)
    if args.format not in ("json", "csv"):
        raise InvalidInputError(f"Unknown format '{args.format}': use json or csv.")
    generated_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spill:
        tools: set[str] = set()
        totals = dict.fromkeys(("tenants", *_TOTALS), 0)
        for line in _lines(ops, month):
            spill.write(line.model_dump_json() + "\n")
            tools.update(line.tools)
            totals["tenants"] += 1
            for name in _TOTALS:
                totals[name] += int(getattr(line, name))
        spill.seek(0)
        if args.output:
            with Path(args.output).open("w", encoding="utf-8", newline="") as out:
                _write_report(out, args.format, month, generated_at, totals, sorted(tools), spill)
            ops.say(f"Wrote the {month} usage of {totals['tenants']} tenant(s) to {args.output} ({args.format}).")
        else:
            _write_report(ops.out, args.format, month, generated_at, totals, sorted(tools), spill)
    return 0


def _write_report(
    out: TextIO, fmt: str, month: str, generated_at: str, totals: dict[str, int], tools: list[str], spill: TextIO
) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*CSV_COLUMNS, *(f"{tool}.{kind}" for tool in tools for kind in ("calls", "errors", "ms"))])
        for text in spill:
            line = UsageLine.model_validate_json(text)
            values: list[Any] = [getattr(line, name) for name in CSV_COLUMNS]
            for tool in tools:
                usage = line.tools.get(tool, ToolUsage())
                values += [usage.calls, usage.errors, usage.total_ms]
            writer.writerow(values)
        return
    out.write(f'{{\n  "month": {json.dumps(month)},\n  "generated_at": {json.dumps(generated_at)},\n')
    out.write(f'  "totals": {json.dumps(totals)},\n  "tenants": [')
    for i, text in enumerate(spill):
        out.write(("\n    " if i == 0 else ",\n    ") + text.rstrip("\n"))
    out.write("\n  ]\n}\n")


# -- tenants top -------------------------------------------------------------------------------
def _top(args: argparse.Namespace, ops: Ops) -> int:
    month = validate_month(args.month)
    if args.by not in TOP_BY:
        raise InvalidInputError(f"Unknown --by '{args.by[:20]}': choose from {', '.join(TOP_BY)}.")
    if not 1 <= args.limit <= 1000:
        raise InvalidInputError("--limit takes 1 to 1000.")

    def rows() -> Iterator[dict[str, Any]]:
        paginator = ops.admin.dynamodb.get_paginator("scan")
        for page in paginator.paginate(
            PaginationConfig={"PageSize": PAGE_SIZE} if PAGE_SIZE else {},
            TableName=ops.admin.settings.usage_table,
            FilterExpression="#sk = :month",
            ExpressionAttributeNames={"#sk": SK},
            ExpressionAttributeValues=to_attrs({":month": usage_month_sk(month)}),
        ):
            for item in page.get("Items", []):
                values = from_attrs(item)
                if is_canary_tenant(str(values["pk"])):
                    continue
                usage = month_usage(str(values["pk"]), month, values)
                errors = sum(t.errors for t in usage.tools.values())
                refusals = usage.quota_denied + usage.rate_denied
                yield {
                    "tenant_id": usage.tenant_id,
                    "calls": usage.calls,
                    "errors": errors,
                    "refusals": refusals,
                    "quota_denied": usage.quota_denied,
                    "rate_denied": usage.rate_denied,
                }

    # A heap of `limit`: memory is the top N, whatever the fleet's size. Ties go to the lower id.
    top = heapq.nsmallest(args.limit, rows(), key=lambda r: (-r[args.by], r["tenant_id"]))
    for row in top:
        record = ops.admin.registry.load(row["tenant_id"])
        row["plan"] = record.plan if record else "-"
        row["status"] = record.status if record else "-"
    if args.json:
        ops.json({"month": month, "by": args.by, "tenants": top})
        return 0
    ops.say(f"Top {len(top)} tenant(s) by {args.by}, {month}")
    header = f"{'TENANT':<26}  {'PLAN':<13}  {'STATUS':<10}  {'CALLS':>12}  {'ERRORS':>10}  {'REFUSED':>10}"
    ops.say(header)
    for row in top:
        ops.say(
            f"{row['tenant_id']:<26}  {row['plan']:<13}  {row['status']:<10}  {_n(row['calls']):>12}  "
            f"{_n(row['errors']):>10}  {_n(row['refusals']):>10}"
        )
    return 0


# -- wiring ------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `list`, `usage-report` and `top` to the `tenants` group commands.register made."""
    tsub = subcommands_of(sub.choices["tenants"])

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        return add_admin_command(tsub, name, func, help)

    p = command("list", _list, "list tenants, a registry page at a time (any fleet size)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--status", action="append", help=f"only these ({', '.join(STATUSES)}; repeat or comma-separate)")
    p.add_argument("--plan", action="append", help=f"only these ({', '.join(PLAN_ORDER)})")
    p.add_argument("--placement", action="append", help=f"only these ({', '.join(MODES)})")
    p = command("usage-report", _usage_report, "every tenant's usage in a month, zeros included, to bill from")
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    p.add_argument("--format", default="json", help="json (default) or csv")
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    p = command("top", _top, "the tenants with the most calls, errors or refusals in a month")
    p.add_argument("--by", default="calls", help=f"{', '.join(TOP_BY)} (default: calls)")
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
