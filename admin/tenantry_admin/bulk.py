"""Bulk onboarding: read a CSV or JSON Lines file of tenants, check all of it, then write it fast.

Nothing is written until every row has been checked against the file and the registry: a bad
row (or a row that differs from the tenant already registered, without --update) makes the
plan refuse, unless the operator asked to skip bad rows. New tenants are written in
transactions of TENANTS_PER_CHUNK, each tenant's slug reservation and record conditional, so a
tenant is written whole or not at all and an import killed half-way is finished by running it
again: the tenants it wrote are "unchanged", the rest are created.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ValidationError

from tenantry.audit import AuditEvent
from tenantry.dal.items import to_attrs
from tenantry.dal.keys import is_slug_reservation, registry_key, slug_reservation_key
from tenantry.errors import ConflictError, InvalidInputError, TenantryError, aws_error_code
from tenantry.tenancy.plans import FEATURES, QuotaOverrides
from tenantry.tenancy.registry import Branding, TenantRecord
from tenantry_admin.batch_reads import batch_get
from tenantry_admin.silo_tables import for_tenant, silo_table_template
from tenantry_admin.tenants import (
    PLACEMENTS,
    TenantAdmin,
    _display_name,
    _plan,
    _slug,
    validate_tenant_id,
)

__all__ = [
    "BRAND_COLUMNS",
    "DEFAULT_TABLE_QUOTA",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportPlan",
    "Reject",
    "SourceRow",
    "TenantImporter",
    "read_rows",
]

REQUIRED_COLUMNS = ("id", "slug", "name", "plan")
# Column -> Branding field.
BRAND_COLUMNS = {
    "brand_company": "company_name",
    "brand_color": "primary_color",
    "brand_logo_url": "logo_url",
    "custom_domain": "custom_domain",
}
OPTIONAL_COLUMNS = (
    "placement",
    *BRAND_COLUMNS,
    *(f"feature.{name}" for name in FEATURES),
    *(f"quota.{name}" for name in QuotaOverrides.model_fields),
)
# DynamoDB's default per-region table quota; an account can have it raised (Service Quotas).
DEFAULT_TABLE_QUOTA = 2_500
# Tenants per unit of work: one TransactWriteItems (at most 100 actions, _ITEMS_PER_TENANT a
# tenant), one progress step.
_ITEMS_PER_TENANT = 3
TENANTS_PER_CHUNK = 100 // _ITEMS_PER_TENANT
# A transaction cancelled by conflicts or throttling is sent again, backing off, this many times.
_TRANSACTION_ATTEMPTS = 8
# The largest file an import reads (a line per tenant: 100,000 tenants is ~10 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024

Format = Literal["csv", "jsonl"]


@dataclass
class SourceRow:
    """One row as read: its line number (header = line 1 in a CSV) and its values by column."""

    line: int
    values: dict[str, Any]
    raw: str


@dataclass
class Reject:
    line: int
    reason: str
    raw: str


@dataclass
class ImportPlan:
    """What an import will do, decided before anything is written."""

    fmt: Format
    header: list[str]
    creates: list[tuple[int, TenantRecord]] = field(default_factory=list)
    updates: list[tuple[int, TenantRecord, int]] = field(default_factory=list)  # record, expected version
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def silo_tables(self) -> list[str]:
        return [r.tenant_id for _, r in self.creates if r.placement.mode == "silo"]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Reject] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, {len(self.rejected)} rejected"
        )


# -- reading -----------------------------------------------------------------------------------
def detect_format(path: Path, text: str, given: str | None) -> Format:
    if given:
        if given not in ("csv", "jsonl"):
            raise InvalidInputError(f"Unknown format '{given[:20]}': use csv or jsonl.")
        return "csv" if given == "csv" else "jsonl"
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if path.suffix.lower() == ".csv":
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if size > MAX_FILE_BYTES:
        raise InvalidInputError(f"{path} is {size:,} bytes; split it into files of at most {MAX_FILE_BYTES:,}.")
    try:
        # utf-8-sig: a spreadsheet's CSV export starts with a byte-order mark.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text (byte {exc.start}).") from None


def read_rows(
    text: str, fmt: Format, known: Iterable[str], required: Iterable[str]
) -> tuple[list[str], list[SourceRow], list[Reject]]:
    """(header, rows, rejects found while reading); a bad header rejects line 1 and yields no rows."""
    known_set, required_list = set(known), list(required)
    if fmt == "csv":
        return _csv_rows(text, known_set, required_list)
    return _jsonl_rows(text, known_set, required_list)


def _csv_rows(text: str, known: set[str], required: list[str]) -> tuple[list[str], list[SourceRow], list[Reject]]:
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [], [Reject(1, "the file is empty: the first line is the header", "")]
    except csv.Error as exc:
        return [], [], [Reject(1, f"not CSV: {exc}", lines[0] if lines else "")]
    problems = [f"unknown column '{h[:40]}'" for h in header if h not in known]
    problems += [f"missing column '{name}'" for name in required if name not in header]
    problems += [f"column '{h}' twice" for i, h in enumerate(header) if h in header[:i]]
    if problems:
        hint = f" (columns: {', '.join(required)}; optional: see `--help`)"
        return header, [], [Reject(1, "; ".join(problems) + hint, lines[0] if lines else "")]
    rows: list[SourceRow] = []
    rejects: list[Reject] = []
    previous = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.append(Reject(reader.line_num, f"not CSV: {exc}", lines[reader.line_num - 1]))
            previous = reader.line_num
            continue
        line = previous + 1
        raw = "\n".join(lines[previous : reader.line_num])
        previous = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # blank lines (a trailing newline, a spacer) are not rows
        if len(fields) != len(header):
            rejects.append(Reject(line, f"{len(fields)} fields where the header has {len(header)}", raw))
            continue
        rows.append(SourceRow(line, dict(zip(header, fields, strict=True)), raw))
    return header, rows, rejects


def _jsonl_rows(text: str, known: set[str], required: list[str]) -> tuple[list[str], list[SourceRow], list[Reject]]:
    rows: list[SourceRow] = []
    rejects: list[Reject] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as exc:
            rejects.append(Reject(number, f"not JSON: {exc.msg} (column {exc.colno})", raw))
            continue
        if not isinstance(values, dict):
            rejects.append(Reject(number, "not a JSON object", raw))
            continue
        problems = [f"unknown field '{str(k)[:40]}'" for k in values if k not in known]
        problems += [f"missing field '{name}'" for name in required if name not in values]
        if problems:
            rejects.append(Reject(number, "; ".join(problems), raw))
            continue
        rows.append(SourceRow(number, values, raw))
    return list(required), rows, rejects


def write_rejects(path: Path, fmt: Format, header: list[str], rejects: list[Reject]) -> None:
    """The rejected rows as they were in the input (fix them and import this file)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv" and header:
            out.write(",".join(header) + "\n")
        for reject in sorted(rejects, key=lambda r: r.line):
            if reject.line == 1 and fmt == "csv":
                continue  # the header itself
            out.write(reject.raw + "\n")


# -- checking ----------------------------------------------------------------------------------
def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text")
    return value.strip()


def _flag(values: dict[str, Any], name: str) -> bool | None:
    value = values.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return value if isinstance(value, bool) else None
    meaning = {"on": True, "true": True, "off": False, "false": False}
    if not isinstance(value, str) or value.strip().lower() not in meaning:
        raise InvalidInputError(f"{name}={str(value)[:30]!r}: use on, off or leave it empty")
    return meaning[value.strip().lower()]


def _number(values: dict[str, Any], name: str) -> int | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip().replace("_", ""))
    except ValueError:
        raise InvalidInputError(f"{name}={str(value)[:30]!r}: use a whole number or leave it empty") from None


def desired_record(admin: TenantAdmin, values: dict[str, Any]) -> tuple[TenantRecord, bool]:
    """The record a row asks for, and whether it names its placement (else the import places it)."""
    tenant_id = validate_tenant_id(_text(values, "id"))
    plan = _plan(_text(values, "plan"))
    name = _display_name(_text(values, "name"))
    slug = _slug(_text(values, "slug"))
    choice = _text(values, "placement") or "auto"
    if choice not in PLACEMENTS:
        raise InvalidInputError(f"Unknown placement '{choice[:20]}': choose one of {', '.join(PLACEMENTS)}")
    placement = admin._placement(tenant_id, plan, choice)
    brand = {field: _text(values, column) or None for column, field in BRAND_COLUMNS.items()}
    brand["company_name"] = brand["company_name"] or name
    try:
        branding = Branding.model_validate(brand)
    except ValidationError as exc:
        where = str(exc.errors()[0]["loc"][0])
        column = next(c for c, f in BRAND_COLUMNS.items() if f == where)
        raise InvalidInputError(f"{column}={brand.get(where)!r} is not valid") from None
    features = {name: flag for name in FEATURES if (flag := _flag(values, f"feature.{name}")) is not None}
    quotas = {name: _number(values, f"quota.{name}") for name in QuotaOverrides.model_fields}
    try:
        quota_overrides = QuotaOverrides.model_validate(quotas)
    except ValidationError as exc:
        where = str(exc.errors()[0]["loc"][0])
        raise InvalidInputError(f"quota.{where}={quotas.get(where)} is out of range") from None
    record = TenantRecord(
        tenant_id=tenant_id,
        slug=slug,
        display_name=name,
        plan=plan,
        placement=placement,
        branding=branding,
        feature_overrides=features,
        quota_overrides=quota_overrides,
    )
    return record, choice != "auto"


_COMPARED = ("slug", "display_name", "plan", "branding", "feature_overrides", "quota_overrides")


def differences(existing: TenantRecord, wanted: TenantRecord, placement_given: bool) -> list[str]:
    fields = [*_COMPARED, *(("placement",) if placement_given else ())]
    return [name for name in fields if getattr(existing, name) != getattr(wanted, name)]


@dataclass
class TenantImporter:
    admin: TenantAdmin
    # Transactions in flight at once (botocore clients are thread-safe); the CLI uses IMPORT_WORKERS.
    workers: int = 1
    table_quota: int = DEFAULT_TABLE_QUOTA

    def plan(self, text: str, fmt: Format, *, update: bool) -> ImportPlan:
        """Check every row against the file and the registry; decide create, update, unchanged or reject."""
        header, rows, rejects = read_rows(text, fmt, (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS), REQUIRED_COLUMNS)
        plan = ImportPlan(fmt=fmt, header=header, rejects=rejects)
        existing, slug_owner = self._registered(rows)
        seen_ids: dict[str, int] = {}
        seen_slugs: dict[str, int] = {}
        for row in rows:
            try:
                wanted, placement_given = desired_record(self.admin, row.values)
            except TenantryError as exc:
                plan.rejects.append(Reject(row.line, str(exc).rstrip("."), row.raw))
                continue
            reason = self._duplicate(wanted, row.line, seen_ids, seen_slugs, slug_owner)
            if reason:
                plan.rejects.append(Reject(row.line, reason, row.raw))
                continue
            current = existing.get(wanted.tenant_id)
            if current is None:
                plan.creates.append((row.line, wanted))
                continue
            if current.status in ("offboarding", "offboarded"):
                plan.rejects.append(Reject(row.line, f"tenant '{wanted.tenant_id}' is {current.status}", row.raw))
                continue
            changed = differences(current, wanted, placement_given)
            if not changed:
                plan.unchanged += 1
            elif "slug" in changed or "placement" in changed:
                what = "slug" if "slug" in changed else "placement"
                plan.rejects.append(
                    Reject(
                        row.line,
                        f"tenant '{wanted.tenant_id}' has another {what}; an import does not change it",
                        row.raw,
                    )
                )
            elif not update:
                plan.rejects.append(
                    Reject(
                        row.line,
                        f"tenant '{wanted.tenant_id}' exists with another {', '.join(changed)}; "
                        "pass --update to change it",
                        row.raw,
                    )
                )
            else:
                keep = {"placement": current.placement, "status": current.status, "created_at": current.created_at}
                plan.updates.append((row.line, wanted.model_copy(update=keep), current.version))
        plan.rejects.sort(key=lambda r: r.line)
        return plan

    def _registered(self, rows: list[SourceRow]) -> tuple[dict[str, TenantRecord], dict[str, str]]:
        """The registered tenants the file names, and the owners of the slugs it names.

        Read by key (BatchGetItem, 100 a call) rather than a Scan of the whole registry: an
        import of a few rows into a fleet of 100,000 reads a few items, and a full import reads
        each of its own ids and slugs once.
        """
        ids = {str(r.values.get("id", "")).strip() for r in rows}
        slugs = {str(r.values.get("slug", "")).strip() for r in rows}
        keys = [registry_key(i) for i in ids if i] + [slug_reservation_key(s) for s in slugs if s]
        records: dict[str, TenantRecord] = {}
        owners: dict[str, str] = {}
        for values in batch_get(self.admin.dynamodb, self.admin.settings.registry_table, keys):
            key = str(values["tenant_id"])
            if is_slug_reservation(key):
                owners[key.removeprefix(slug_reservation_key("")["tenant_id"])] = str(values.get("owner", ""))
            else:
                record = TenantRecord.model_validate(values)
                records[record.tenant_id] = record
                owners.setdefault(record.slug, record.tenant_id)
        return records, owners

    @staticmethod
    def _duplicate(
        wanted: TenantRecord,
        line: int,
        seen_ids: dict[str, int],
        seen_slugs: dict[str, int],
        slug_owner: dict[str, str],
    ) -> str:
        if wanted.tenant_id in seen_ids:
            return f"duplicate id '{wanted.tenant_id}' (also on line {seen_ids[wanted.tenant_id]})"
        if wanted.slug in seen_slugs:
            return f"duplicate slug '{wanted.slug}' (also on line {seen_slugs[wanted.slug]})"
        seen_ids[wanted.tenant_id] = line
        seen_slugs[wanted.slug] = line
        owner = slug_owner.get(wanted.slug)
        if owner is not None and owner != wanted.tenant_id:
            return f"slug '{wanted.slug}' belongs to the existing tenant '{owner}'"
        return ""

    # -- quota and tables --------------------------------------------------------------------------
    def check_table_quota(self, plan: ImportPlan) -> tuple[int, int]:
        """(tables now, silo tables to create); refuses before any write if the quota would be exceeded."""
        needed = len(plan.silo_tables)
        if not needed:
            return 0, 0
        tables = 0
        for page in self.admin.dynamodb.get_paginator("list_tables").paginate():
            tables += len(page.get("TableNames", []))
        if tables + needed > self.table_quota:
            raise InvalidInputError(
                f"This import needs {needed:,} silo table(s) and the account has {tables:,} of its "
                f"{self.table_quota:,}-table quota in this region; nothing was written. Raise the DynamoDB "
                "table quota (Service Quotas) and pass --table-quota N, or import those tenants with --placement pool."
            )
        return tables, needed

    def create_silo_tables(self, tenant_ids: list[str], progress: Callable[[int, int], None]) -> None:
        """Start every CreateTable, then wait for each to be ACTIVE (on AWS it takes seconds each, in parallel)."""
        settings, client = self.admin.settings, self.admin.dynamodb
        # The stack's data table's settings (silo_tables.py), read once for every table.
        template = silo_table_template(client, self.admin.kms, settings.data_table)
        for tenant_id in tenant_ids:
            try:
                client.create_table(**for_tenant(template, settings.silo_table_prefix + tenant_id, tenant_id))
            except ClientError as exc:
                if aws_error_code(exc) != "ResourceInUseException":  # made by a run that was interrupted
                    raise
        waiter = client.get_waiter("table_exists")
        for done, tenant_id in enumerate(tenant_ids, start=1):
            name = settings.silo_table_prefix + tenant_id
            waiter.wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
            client.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            progress(done, len(tenant_ids))

    # -- writing -----------------------------------------------------------------------------------
    def apply(self, plan: ImportPlan, progress: Callable[[int, int], None]) -> ImportResult:
        result = ImportResult(unchanged=plan.unchanged, rejected=list(plan.rejects))
        total = len(plan.creates) + len(plan.updates)
        done = 0
        step = TENANTS_PER_CHUNK
        chunks = [plan.creates[i : i + step] for i in range(0, len(plan.creates), step)]
        for created, rejected in self._map(self._create_chunk, chunks):
            result.created += created
            result.rejected += rejected
            done += created + len(rejected)
            progress(done, total)
        for line, record, version in plan.updates:
            try:
                saved = self.admin.registry.save(record, version)
            except ConflictError:
                result.rejected.append(Reject(line, f"tenant '{record.tenant_id}' changed during the import", ""))
            else:
                self.admin.record_audit(saved.tenant_id, "update", "allowed", f"import: version {saved.version}")
                result.updated += 1
            done += 1
            progress(done, total)
        result.rejected.sort(key=lambda r: r.line)
        return result

    def _map(self, func: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        """func over items, results in order; on an interruption, chunks not yet started are dropped."""
        if self.workers <= 1:
            yield from map(func, items)
            return
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(self.workers)
        try:
            for future in [pool.submit(func, item) for item in items]:
                yield future.result()
        finally:
            # Ctrl-C (or an AWS error) stops the import now, not after every queued chunk has run.
            pool.shutdown(wait=True, cancel_futures=True)

    def _create_chunk(self, chunk: list[tuple[int, TenantRecord]]) -> tuple[int, list[Reject]]:
        """Create the chunk's tenants in one transaction; a tenant whose id or slug got taken is dropped.

        Per tenant: its slug reservation and its record, each conditional, and its audit event, so
        a tenant is written whole or not at all (an import killed at any point leaves no tenant
        without its reservation, no reservation without its tenant, no tenant without its audit
        event) and the slug's uniqueness is DynamoDB's condition, not a read made earlier. One
        round trip per TENANTS_PER_CHUNK tenants rather than two PutItems each: every request to
        the local emulator is a new connection and a thread, and that, not DynamoDB's work, was
        most of an import's time (docs/upstream-notes.md).
        """
        pending = list(chunk)
        rejects: list[Reject] = []
        for attempt in range(_TRANSACTION_ATTEMPTS):
            if not pending:
                break
            try:
                self.admin.dynamodb.transact_write_items(TransactItems=self._transaction(pending))
            except ClientError as exc:
                if aws_error_code(exc) != "TransactionCanceledException":
                    raise
                codes = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
                refused = self._refused(pending, codes)
                if refused:  # conditions failed: those tenants out, the rest again at once
                    rejects += [reject for _, reject in refused]
                    gone = {line for line, _ in refused}
                    pending = [(line, record) for line, record in pending if line not in gone]
                else:  # a conflict with another writer or throttling: back off, then the same again
                    time.sleep(0.05 * 2**attempt)
                continue
            return len(pending), rejects
        if pending:
            raise RuntimeError(
                f"DynamoDB cancelled the transaction of {len(pending)} tenant(s) {_TRANSACTION_ATTEMPTS} times; "
                "run the import again to finish it"
            )
        return 0, rejects

    def _transaction(self, pending: list[tuple[int, TenantRecord]]) -> list[dict[str, Any]]:
        """_ITEMS_PER_TENANT actions a tenant, in this order: reservation, record, audit event."""
        registry, audit = self.admin.settings.registry_table, self.admin.settings.audit_table
        events = self.admin.audit.items([self._created_event(record) for _, record in pending])
        actions: list[dict[str, Any]] = []
        for (_, record), event in zip(pending, events, strict=True):
            actions += [
                {
                    "Put": {
                        "TableName": registry,
                        "Item": to_attrs({**slug_reservation_key(record.slug), "owner": record.tenant_id}),
                        # Its own reservation is accepted: a reservation without its tenant (left by an
                        # import from before tenants were written in one transaction) is finished.
                        "ConditionExpression": "attribute_not_exists(tenant_id) OR #o = :me",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": to_attrs({":me": record.tenant_id}),
                    }
                },
                {
                    "Put": {
                        "TableName": registry,
                        "Item": to_attrs(record.to_item()),
                        "ConditionExpression": "attribute_not_exists(tenant_id)",
                    }
                },
                {"Put": {"TableName": audit, "Item": event}},
            ]
        return actions

    @staticmethod
    def _refused(pending: list[tuple[int, TenantRecord]], codes: list[str]) -> list[tuple[int, Reject]]:
        """(line, reject) of each tenant whose reservation or record failed its condition."""
        refused: list[tuple[int, Reject]] = []
        for n, (line, record) in enumerate(pending):
            first = n * _ITEMS_PER_TENANT
            slug, tenant = (codes[i] if i < len(codes) else "None" for i in (first, first + 1))
            if slug == "ConditionalCheckFailed":
                refused.append((line, Reject(line, f"the slug '{record.slug}' was taken during the import", "")))
            elif tenant == "ConditionalCheckFailed":
                refused.append(
                    (line, Reject(line, f"the tenant id '{record.tenant_id}' was taken during the import", ""))
                )
        return refused

    def _created_event(self, record: TenantRecord) -> AuditEvent:
        return AuditEvent(
            tenant_id=record.tenant_id,
            principal=self.admin.principal,
            action="admin:create",
            resource=f"tenant/{record.tenant_id}",
            outcome="allowed",
            reason=f"import: plan={record.plan} slug={record.slug} placement={self.admin.table_of(record)}",
            request_id=self.admin.request_id,
        )
