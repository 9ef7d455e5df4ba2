"""`tenantry members import FILE` and `members export`: memberships in bulk, checked whole before writing.

The file is CSV with a header `tenant,user` (optional `role`: `member`, the one role memberships
have today) or JSON Lines with the same names. Every row is checked (tenant id, a registered
tenant that is not offboarded, a user, duplicates within the file) before anything is written;
memberships that exist are "unchanged". Each new one is a conditional put, so a re-run after an
interruption adds only what is missing.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from tenantry.audit import AuditEvent
from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import member_key, registry_key
from tenantry.dal.members import MembershipStore
from tenantry.errors import InvalidInputError, TenantryError
from tenantry.tenancy.context import TENANT_ID_PATTERN
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.batch_reads import batch_get
from tenantry_admin.bulk import ImportResult, Reject, detect_format, read_rows, read_text, write_rejects
from tenantry_admin.bulk_cli import IMPORT_WORKERS, TtyProgress, _print_rejects, _rejects_path
from tenantry_admin.commands import EXIT_BAD_INPUT, add_admin_command, subcommands_of
from tenantry_admin.console import Ops
from tenantry_admin.member_quota import limit_text, member_counts

__all__ = ["register"]

ROLES = ("member",)


def _user(value: Any) -> str:
    user = value.strip() if isinstance(value, str) else ""
    if not user or len(user) > 320 or any(c.isspace() for c in user) or not user.isprintable():
        raise InvalidInputError(
            f"'{str(value)[:60]}' is not a user: give the email address (or subject) they sign in with"
        )
    # Emails are compared lower-cased, as the authorization server reads them from the identity provider.
    return user.lower() if "@" in user else user


def _import(args: argparse.Namespace, ops: Ops) -> int:
    members, _ = ops.oauth_stores()
    source = Path(args.file)
    text = read_text(source)
    fmt = detect_format(source, text, args.format)
    header, rows, rejects = read_rows(text, fmt, ("tenant", "user", "role"), ("tenant", "user"))
    parsed: list[tuple[int, str, str]] = []
    for row in rows:
        try:
            tenant = str(row.values.get("tenant", "")).strip()
            if not TENANT_ID_PATTERN.fullmatch(tenant):
                raise InvalidInputError(f"'{tenant[:70]}' is not a valid tenant id")
            role = str(row.values.get("role") or "member").strip()
            if role not in ROLES:
                raise InvalidInputError(f"unknown role '{role[:20]}': memberships have one role, member")
            parsed.append((row.line, tenant, _user(row.values.get("user"))))
        except TenantryError as exc:
            rejects.append(Reject(row.line, str(exc).rstrip("."), row.raw))
    raw = {row.line: row.raw for row in rows}
    records = {
        str(v["tenant_id"]): TenantRecord.model_validate(v)
        for v in batch_get(
            ops.admin.dynamodb, ops.admin.settings.registry_table, [registry_key(t) for t in {t for _, t, _ in parsed}]
        )
    }
    existing = {
        (str(v["user"]), str(v["tenant_id"]))
        for v in batch_get(
            ops.admin.dynamodb, members.table_name, [member_key(u, t) for u, t in {(u, t) for _, t, u in parsed}]
        )
    }
    seen: dict[tuple[str, str], int] = {}
    new: list[tuple[int, str, str]] = []
    unchanged = 0
    for line, tenant, user in parsed:
        record = records.get(tenant)
        status = record.status if record else None
        if status is None:
            reason = f"no tenant '{tenant}'"
        elif status in ("offboarding", "offboarded"):
            reason = f"tenant '{tenant}' is {status}"
        elif (user, tenant) in seen:
            reason = f"duplicate membership {user} of {tenant} (also on line {seen[(user, tenant)]})"
        else:
            reason = ""
            seen[(user, tenant)] = line
        if reason:
            rejects.append(Reject(line, reason, raw[line]))
        elif (user, tenant) in existing:
            unchanged += 1
        else:
            new.append((line, tenant, user))
    new, over = _within_quota(ops, members, records, new)
    rejects += [Reject(line, reason, raw[line]) for line, reason in over]
    rejects.sort(key=lambda r: r.line)
    if rejects and not args.skip_bad:
        _print_rejects(ops.err, rejects)
        print(
            f"tenantry: {len(rejects)} bad row(s) in {source}; nothing was written "
            "(fix them, or pass --skip-bad to import the rest).",
            file=ops.err,
        )
        return EXIT_BAD_INPUT
    result = ImportResult(unchanged=unchanged, rejected=rejects)
    bar = TtyProgress(ops.err, "importing")

    def add(item: tuple[int, str, str]) -> tuple[str, str] | None:
        _, tenant, user = item
        return (tenant, user) if members.add(user, tenant, added_by=ops.admin.principal) else None

    try:
        with ThreadPoolExecutor(IMPORT_WORKERS) as pool:
            for start in range(0, len(new), 25):
                chunk = new[start : start + 25]
                added = [a for a in pool.map(add, chunk) if a is not None]
                ops.admin.audit.store_many(
                    [
                        AuditEvent(
                            tenant_id=tenant,
                            principal=ops.admin.principal,
                            action="members:add",
                            resource=user,
                            outcome="allowed",
                            reason="import",
                            request_id=ops.admin.request_id,
                        )
                        for tenant, user in added
                    ]
                )
                result.created += len(added)
                result.unchanged += len(chunk) - len(added)  # added by someone else meanwhile
                bar(start + len(chunk), len(new))
    finally:
        bar.close()
    if rejects:
        _print_rejects(ops.err, rejects)
        path = _rejects_path(source, args.rejects)
        write_rejects(path, fmt, header, rejects)
        print(f"Wrote the {len(rejects)} rejected row(s) to {path}.", file=ops.err)
    ops.say(result.summary())
    return 0


def _within_quota(
    ops: Ops, members: MembershipStore, records: dict[str, TenantRecord], new: list[tuple[int, str, str]]
) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """The new memberships whose tenant stays within max_members, and the rejected rest (line, reason).

    A tenant the file would take past its limit gets none of its new rows: which users to leave
    out is the operator's choice, not the file order's.
    """
    adding = Counter(tenant for _, tenant, _ in new)
    if not adding:
        return new, []
    current = member_counts(ops.admin.dynamodb, members, set(adding))
    over = {t for t, n in adding.items() if current[t] + n > records[t].config().max_members}
    reasons = {t: f"{t} would have {current[t] + adding[t]:,} members and {limit_text(records[t])}" for t in over}
    return [r for r in new if r[1] not in over], [(line, reasons[t]) for line, t, _ in new if t in over]


def _export(args: argparse.Namespace, ops: Ops) -> int:
    members, _ = ops.oauth_stores()
    if args.output:
        with Path(args.output).open("w", encoding="utf-8", newline="") as out:
            count = _write_members(ops, members.table_name, args.tenant, out)
        ops.say(f"Wrote {count} membership(s) to {args.output} (csv; `tenantry members import` reads it).")
    else:
        _write_members(ops, members.table_name, args.tenant, ops.out)
    return 0


def _write_members(ops: Ops, table: str, tenant: str | None, out: TextIO) -> int:
    """Stream the members table (a page at a time) as CSV; how many rows were written."""
    request: dict[str, Any] = {"TableName": table}
    if tenant:
        request |= {"FilterExpression": "tenant_id = :t", "ExpressionAttributeValues": to_attrs({":t": tenant})}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["tenant", "user", "role"])
    count = 0
    for page in ops.admin.dynamodb.get_paginator("scan").paginate(**request):
        for item in page.get("Items", []):
            values = from_attrs(item)
            writer.writerow([values["tenant_id"], values["user"], "member"])
            count += 1
    return count


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `members import` and `members export` to the `members` group commands.register made."""
    msub = subcommands_of(sub.choices["members"])
    for name, func, help in (
        ("import", _import, "add many memberships from a CSV (tenant,user[,role]) or JSON Lines file"),
        ("export", _export, "every membership (or one tenant's) as CSV, in the import's format"),
    ):
        p = add_admin_command(msub, name, func, help)
        if name == "import":
            p.add_argument("file")
            p.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file name")
            p.add_argument("--skip-bad", action="store_true", help="add the good rows; write the bad ones to --rejects")
            p.add_argument("--rejects", metavar="FILE", help="default: FILE.rejects.csv")
        else:
            p.add_argument("--tenant", help="only this tenant's members")
            p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
