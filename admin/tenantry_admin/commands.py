"""`tenantry tenants ...` and `tenantry secrets ...`: the operator's commands.

Each command parses, calls tenantry_admin, and prints. Expected failures (bad
input, unknown tenant, a lost race) are one line on stderr and exit code 2;
AWS failures are one line and exit code 1. Never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tenantry.audit import AuditEvent
from tenantry.dal.members import MembershipStore
from tenantry.dal.oauth import OAuthStore
from tenantry.errors import InvalidInputError, TenantryError
from tenantry.metering.meter import MonthUsage
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.console import Command, Ops
from tenantry_admin.console import ProgressBar as _ProgressBar
from tenantry_admin.console import table as _table
from tenantry_admin.lifecycle import cli as lifecycle_cli
from tenantry_admin.member_quota import require_room
from tenantry_admin.offboarding import DRAIN_SECONDS, Offboarder
from tenantry_admin.reports import (
    customers_of,
    health,
    usage_line,
    validate_month,
)
from tenantry_admin.target import AdminTarget, TargetError, connect
from tenantry_admin.tenants import TenantAdmin, TenantChanges
from tenantry_admin.wiring import OperatorServices

__all__ = ["register", "run"]

EXIT_BAD_INPUT = 2
EXIT_AWS = 1
STATUSES = ("active", "suspended", "offboarding", "offboarded")


LOCAL_DRAIN_SECONDS = 2.0


# -- parsing helpers ---------------------------------------------------------------------------
def _pairs(values: list[str] | None, what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values or []:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(f"--{what} takes NAME=VALUE, got '{value[:60]}'.")
        pairs.append((name.strip(), setting.strip()))
    return pairs


def _features(values: list[str] | None) -> dict[str, bool | None]:
    meaning = {"on": True, "true": True, "off": False, "false": False, "default": None}
    parsed: dict[str, bool | None] = {}
    for name, setting in _pairs(values, "feature"):
        if setting.lower() not in meaning:
            raise InvalidInputError(f"--feature {name}={setting[:30]}: use on, off or default.")
        parsed[name] = meaning[setting.lower()]
    return parsed


def _quotas(values: list[str] | None) -> dict[str, int | None]:
    parsed: dict[str, int | None] = {}
    for name, setting in _pairs(values, "quota"):
        if setting.lower() == "default":
            parsed[name] = None
            continue
        try:
            parsed[name] = int(setting.replace("_", "").replace(",", ""))
        except ValueError:
            raise InvalidInputError(f"--quota {name}={setting[:30]}: use a whole number or default.") from None
    return parsed


def _read_secret_value(prompt: str) -> str:
    """From stdin when piped, else a hidden prompt: never argv (shell history), never echoed."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        value = stdin.read() if stdin is not None else ""
        value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if not value:
        raise InvalidInputError("No secret value given: pipe it on stdin or type it at the prompt.")
    return value


# -- rendering ---------------------------------------------------------------------------------
def _n(value: int) -> str:
    return f"{value:,}"


def _record_json(ops: Ops, record: TenantRecord) -> dict[str, Any]:
    config = record.config()
    return {
        **record.model_dump(mode="json"),
        "data_table": ops.admin.table_of(record),
        "effective": {**config.model_dump(mode="json"), "features": sorted(config.features)},
    }


def _show(ops: Ops, record: TenantRecord) -> None:
    config = record.config()
    overrides = [f"{k}={'on' if v else 'off'}" for k, v in sorted(record.feature_overrides.items())]
    quota_overrides = [f"{k}={_n(v)}" for k, v in record.quota_overrides.model_dump(exclude_none=True).items()]
    brand = record.branding.model_dump(exclude_none=True)
    placement = record.placement.mode + (f" {record.placement.cell}" if record.placement.mode == "cell" else "")
    ops.say(f"{record.tenant_id}  {record.display_name}  (slug {record.slug})")
    ops.say(f"  status     {record.status}")
    ops.say(f"  plan       {record.plan}")
    ops.say(f"  placement  {placement} -> {ops.admin.table_of(record)}")
    ops.say(
        f"  features   {', '.join(sorted(config.features))}"
        + (f"  (overrides: {', '.join(overrides)})" if overrides else "")
    )
    ops.say(
        f"  quotas     {_n(config.monthly_tool_calls)} calls/month, {_n(config.calls_per_minute)} calls/min, "
        f"{_n(config.max_customers)} customers"
        + (f"  (overrides: {', '.join(quota_overrides)})" if quota_overrides else "")
    )
    ops.say(f"  branding   {', '.join(f'{k}={v}' for k, v in brand.items()) or '-'}")
    ops.say(f"  version    {record.version} (created {record.created_at}, updated {record.updated_at})")
    if record.move is not None:
        move = record.move
        ops.say(
            f"  moving     {move.get('id')} to {move.get('target_table')}, at step {move.get('step')} "
            f"(started {move.get('started_at')} by {move.get('started_by')})"
        )


# -- tenants -----------------------------------------------------------------------------------
def _create(args: argparse.Namespace, ops: Ops) -> int:
    result = ops.admin.create(args.id, args.slug, args.name, args.plan, args.placement)
    ops.say(result.message)
    return 0


def _show_cmd(args: argparse.Namespace, ops: Ops) -> int:
    record = ops.admin.get(args.tenant_id)
    if args.json:
        ops.json(_record_json(ops, record))
    else:
        _show(ops, record)
    return 0


def _update(args: argparse.Namespace, ops: Ops) -> int:
    branding = {
        key: value
        for key, value in {
            "primary_color": args.brand_color,
            "logo_url": args.brand_logo_url,
            "company_name": args.brand_company,
            "custom_domain": args.custom_domain,
        }.items()
        if value is not None
    }
    changes = TenantChanges(
        plan=args.plan,
        display_name=args.name,
        features=_features(args.feature),
        quotas=_quotas(args.quota),
        branding=branding,
        expected_version=args.expected_version,
    )
    if changes.empty():
        ops.admin.update(args.tenant_id, changes)  # says what can be updated
    if changes.plan is None:
        ops.say(ops.admin.update(args.tenant_id, changes).message)
        return 0
    return lifecycle_cli.update_and_move(args, ops, changes)


def _suspend(args: argparse.Namespace, ops: Ops) -> int:
    ops.say(ops.admin.suspend(args.tenant_id).message)
    if ops.oauth is not None:
        # Its sign-ins end too: refresh tokens stop working now, access tokens within 15 minutes
        # (the function already refuses a suspended tenant's calls).
        revoked = ops.oauth.revoke_grants(args.tenant_id, "tenant suspended")
        _audit_revocations(ops, args.tenant_id, len(revoked), "tenant suspended")
        ops.say(f"Revoked {len(revoked)} sign-in(s) of {args.tenant_id}.")
    return 0


def _audit_revocations(ops: Ops, tenant_id: str, count: int, why: str) -> None:
    ops.services.audit.record(
        AuditEvent(
            tenant_id=tenant_id,
            principal=ops.admin.principal,
            action="oauth:revoke",
            resource=tenant_id,
            outcome="allowed",
            reason=f"{why}: {count} sign-in(s) revoked",
        )
    )


# -- memberships -------------------------------------------------------------------------------
def _member_user(value: str) -> str:
    user = value.strip()
    if not user or len(user) > 320 or any(c.isspace() for c in user):
        raise InvalidInputError(f"'{value[:60]}' is not a user: give the email address (or subject) they sign in with.")
    # Emails are compared lower-cased, as the authorization server reads them from the identity provider.
    return user.lower() if "@" in user else user


def _members_add(args: argparse.Namespace, ops: Ops) -> int:
    members, _ = ops.oauth_stores()
    user = _member_user(args.user)
    record = ops.admin.get(args.tenant)  # the tenant must exist
    if not members.is_member(user, record.tenant_id):
        require_room(record, len(members.members_of(record.tenant_id)), 1)
    added = members.add(user, record.tenant_id, added_by=ops.admin.principal)
    ops.services.audit.record(
        AuditEvent(
            tenant_id=record.tenant_id,
            principal=ops.admin.principal,
            action="members:add",
            resource=user,
            outcome="allowed",
            reason="" if added else "already a member",
        )
    )
    ops.say(f"{user} {'is now' if added else 'was already'} a member of {record.tenant_id}.")
    return 0


def _members_remove(args: argparse.Namespace, ops: Ops) -> int:
    members, oauth = ops.oauth_stores()
    user = _member_user(args.user)
    removed = members.remove(user, args.tenant)
    revoked = oauth.revoke_grants(args.tenant, "membership removed", subject=user)
    ops.services.audit.record(
        AuditEvent(
            tenant_id=args.tenant,
            principal=ops.admin.principal,
            action="members:remove",
            resource=user,
            outcome="allowed",
            reason=f"{len(revoked)} sign-in(s) revoked" + ("" if removed else "; was not a member"),
        )
    )
    if not removed:
        ops.say(f"{user} was not a member of {args.tenant}; revoked {len(revoked)} sign-in(s) anyway.")
    else:
        ops.say(f"Removed {user} from {args.tenant}; revoked {len(revoked)} sign-in(s).")
    return 0


def _members_list(args: argparse.Namespace, ops: Ops) -> int:
    members, _ = ops.oauth_stores()
    if args.user:
        tenants = members.tenants_of(_member_user(args.user))
        if args.json:
            ops.json({"user": _member_user(args.user), "tenants": tenants})
        else:
            ops.say("\n".join(tenants) if tenants else "(member of no tenant)")
        return 0
    if not args.tenant:
        raise InvalidInputError("Pass --tenant ID (its members) or --user EMAIL (their tenants).")
    users = members.members_of(args.tenant)
    if args.json:
        ops.json({"tenant_id": args.tenant, "members": users})
    else:
        ops.say("\n".join(users) if users else f"(no members in {args.tenant})")
    return 0


def _resume(args: argparse.Namespace, ops: Ops) -> int:
    ops.say(ops.admin.resume(args.tenant_id).message)
    return 0


def _offboard(args: argparse.Namespace, ops: Ops) -> int:
    record = ops.admin.get(args.tenant_id)
    if not args.yes and record.status != "offboarded":
        if not sys.stdin.isatty():
            raise InvalidInputError("Offboarding deletes the tenant's data for good: pass --yes to confirm.")
        typed = input(f"Offboarding deletes {record.tenant_id}'s data and secrets for good. Type its id to go on: ")
        if typed.strip() != record.tenant_id:
            raise InvalidInputError("Not confirmed; nothing was changed.")
    if args.export and record.status != "offboarded":
        # The archive first: if the export fails, nothing is deleted (the audit trail records both).
        ops.say(
            lifecycle_cli.export_to(ops, record.tenant_id, Path(args.export), args.stack, overwrite=args.yes).message
        )
    if record.status not in ("offboarding", "offboarded"):
        print(
            f"{record.tenant_id}: tool calls are refused from now on; waiting {ops.drain_seconds:.0f} s for calls "
            "already running to finish before deleting.",
            file=ops.err,
        )
    bar = _ProgressBar(ops.err, f"offboarding {record.tenant_id}")
    try:
        report = Offboarder(
            ops.admin, ops.services.clients, workers=ops.delete_workers, drain_seconds=ops.drain_seconds
        ).run(record.tenant_id, bar)
    finally:
        bar.close()
    ops.say(report.message)
    return 0


def _usage_and_customers(ops: Ops, record: TenantRecord, month: str) -> tuple[MonthUsage, int]:
    usage = ops.services.usage.month(record.tenant_id, month)
    return usage, customers_of(ops.services.customer_store, record, ops.admin.context_for(record))


def _month_of(args: argparse.Namespace, ops: Ops) -> tuple[TenantRecord, MonthUsage, int]:
    """The tenant named on the command line, its usage in --month, and its customer count now."""
    month = validate_month(args.month)
    record = ops.admin.get(args.tenant_id)
    return record, *_usage_and_customers(ops, record, month)


def _usage(args: argparse.Namespace, ops: Ops) -> int:
    record, usage, customers = _month_of(args, ops)
    line = usage_line(record, usage, customers)
    if args.json:
        ops.json(line.model_dump(mode="json"))
        return 0
    ops.say(f"{line.tenant_id}  {line.month}  plan {line.plan} ({line.status})")
    ops.say(
        f"  calls      {_n(line.calls)} of {_n(line.monthly_quota)}"
        f"  (included {_n(line.included_calls)}, overage {_n(line.overage_calls)})"
    )
    ops.say(f"  refused    {_n(line.quota_denied)} over quota, {_n(line.rate_denied)} over rate")
    ops.say(f"  customers  {_n(line.customers)} of {_n(line.max_customers)}")
    if line.tools:
        ops.say()
        rows = [
            [tool, _n(t.calls), _n(t.errors), _n(t.total_ms // t.calls if t.calls else 0)]
            for tool, t in line.tools.items()
        ]
        _table(ops, ["  TOOL", "CALLS", "ERRORS", "AVG_MS"], [["  " + r[0], *r[1:]] for r in rows])
    return 0


def _audit(args: argparse.Namespace, ops: Ops) -> int:
    if not 1 <= args.limit <= 1000:
        raise InvalidInputError("--limit takes 1 to 1000.")
    record = ops.admin.get(args.tenant_id)
    events = ops.services.audit.recent(record.tenant_id, args.limit)
    if args.json:
        ops.json([e.model_dump() for e in events])
        return 0
    rows = [[e.at, e.principal, e.action, e.outcome, e.resource, e.reason] for e in events]
    _table(ops, ["AT", "PRINCIPAL", "ACTION", "OUTCOME", "RESOURCE", "REASON"], rows)
    return 0


def _health(args: argparse.Namespace, ops: Ops) -> int:
    record, usage, customers = _month_of(args, ops)
    report = health(record, usage, customers)
    if args.json:
        ops.json(report.model_dump(mode="json"))
        return 0

    def ms(value: int | None) -> str:
        return "-" if value is None else f"<= {_n(value)} ms"

    ops.say(f"{report.tenant_id}  {report.month}  {report.status}, plan {report.plan}")
    ops.say(f"  calls       {_n(report.calls)}   errors {_n(report.errors)} ({report.error_rate_percent}%)")
    ops.say(f"  latency     p50 {ms(report.p50_ms)}   p99 {ms(report.p99_ms)}")
    ops.say(f"  quota       {_n(report.calls)} / {_n(report.monthly_quota)} calls ({report.quota_used_percent}%)")
    ops.say(
        f"  refusals    {_n(report.rate_denied)} rate (limit {_n(report.calls_per_minute)}/min), "
        f"{_n(report.quota_denied)} quota"
    )
    ops.say(f"  customers   {_n(report.customers)} / {_n(report.max_customers)} ({report.customers_used_percent}%)")
    return 0


# -- secrets -----------------------------------------------------------------------------------
def _secret_set(args: argparse.Namespace, ops: Ops) -> int:
    rotate = args.secrets_command == "rotate"
    ops.admin.get(args.tenant)  # an unknown tenant is told before anyone types a secret
    value = _read_secret_value(f"{'New value' if rotate else 'Value'} for {args.tenant}/{args.name} (not echoed): ")
    info = ops.admin.set_secret(args.tenant, args.name, value, rotate=rotate)
    verb = "Rotated" if rotate else "Set"
    ops.say(f"{verb} secret {args.name} for {args.tenant}: version {info.version}, {info.fingerprint}.")
    return 0


def _secret_delete(args: argparse.Namespace, ops: Ops) -> int:
    ops.admin.delete_secret(args.tenant, args.name)
    ops.say(f"Deleted secret {args.name} of {args.tenant}; its ciphertext is gone.")
    return 0


def _secret_list(args: argparse.Namespace, ops: Ops) -> int:
    secrets = ops.admin.list_secrets(args.tenant)
    if args.json:
        ops.json([s.model_dump() for s in secrets])
        return 0
    if not secrets:
        ops.say(f"{args.tenant} has no secrets.")
        return 0
    rows = [[s.name, s.fingerprint, str(s.version), s.updated_at] for s in secrets]
    _table(ops, ["NAME", "FINGERPRINT", "VERSION", "UPDATED"], rows)
    return 0


# -- wiring ------------------------------------------------------------------------------------
def _target_parent() -> argparse.ArgumentParser:
    """`--stack` and `--region`, which every command that reaches AWS (or the local server) takes."""
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--stack", help="a deployed stack's name (default: the running local server)")
    target.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    return target


def subcommands_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The subcommand group of a parser `register` made (`tenants`, `members`), for modules that add to it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"{parser.prog} has no subcommands")


def add_admin_command(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, func: Command, help: str, **options: Any
) -> argparse.ArgumentParser:
    """A command run through `run` with the operator's services, taking --stack and --region."""
    options.setdefault("description", help)
    parser: argparse.ArgumentParser = group.add_parser(name, help=help, parents=[_target_parent()], **options)
    parser.set_defaults(func=run, admin_func=func)
    return parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tenants`, `secrets` and `members` to the `tenantry` parser."""
    target = _target_parent()
    reads = argparse.ArgumentParser(add_help=False)
    reads.add_argument("--json", action="store_true", help="print JSON")

    tenants = sub.add_parser("tenants", help="onboard, change, watch and offboard tenants")
    tsub = tenants.add_subparsers(dest="tenants_command", required=True, metavar="COMMAND")

    def command(parent: Any, name: str, func: Command, help: str, read: bool = False) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=help, description=help, parents=[target, *([reads] if read else [])]
        )
        parser.set_defaults(func=run, admin_func=func)
        return parser

    p = command(tsub, "create", _create, "onboard a tenant")
    p.add_argument("--id", required=True, help="tenant id: 3-63 of a-z, 0-9, '-' (the token's tenant_id claim)")
    p.add_argument("--slug", required=True, help="its subdomain label")
    p.add_argument("--name", required=True, help="display name")
    p.add_argument("--plan", required=True, help="free, starter, professional or business")
    p.add_argument("--placement", default="auto", help="pool, cell, silo or auto (default: auto)")
    p = command(tsub, "show", _show_cmd, "show a tenant's record and effective configuration", read=True)
    p.add_argument("tenant_id")
    # `list`, `usage-report` and `top`: tenantry_admin.fleet (paged, any fleet size).
    p = command(tsub, "update", _update, "change plan, name, features, quotas or branding")
    p.add_argument("tenant_id")
    p.add_argument("--plan")
    p.add_argument("--name")
    p.add_argument("--feature", action="append", metavar="NAME=on|off|default")
    p.add_argument("--quota", action="append", metavar="NAME=N|default")
    p.add_argument("--brand-color", metavar="#RRGGBB")
    p.add_argument("--brand-logo-url", metavar="URL")
    p.add_argument("--brand-company", metavar="NAME")
    p.add_argument("--custom-domain", metavar="HOST")
    p.add_argument("--expected-version", type=int, metavar="N", help="refuse if the record is no longer version N")
    p.add_argument("--no-move", action="store_true", help="change the plan but keep the tenant's data where it is")
    p.add_argument("--yes", action="store_true", help="do not ask before a plan change that moves the tenant")
    p = command(tsub, "suspend", _suspend, "stop a tenant's tool calls (data kept)")
    p.add_argument("tenant_id")
    p = command(tsub, "resume", _resume, "let a suspended tenant call tools again")
    p.add_argument("tenant_id")
    p = command(tsub, "offboard", _offboard, "delete a tenant's data and secrets; keep its audit trail")
    p.add_argument("tenant_id")
    p.add_argument("--export", metavar="FILE", help="export the tenant to FILE first (tenants export)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    lifecycle_cli.register(tsub, command)
    p = command(tsub, "usage", _usage, "a tenant's usage in a month", read=True)
    p.add_argument("tenant_id")
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    p = command(tsub, "audit", _audit, "a tenant's audit trail, newest first", read=True)
    p.add_argument("tenant_id")
    p.add_argument("--limit", type=int, default=50)
    p = command(tsub, "health", _health, "calls, errors, latency, quota and refusals this month", read=True)
    p.add_argument("tenant_id")
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")

    lifecycle_cli.register_cells(sub, command)

    secrets = sub.add_parser("secrets", help="a tenant's integration secrets (values from stdin or a prompt)")
    ssub = secrets.add_subparsers(dest="secrets_command", required=True, metavar="COMMAND")
    for name, func, help in (
        ("set", _secret_set, "store a new secret (value from stdin or a hidden prompt)"),
        ("rotate", _secret_set, "replace a secret's value (from stdin or a hidden prompt)"),
        ("delete", _secret_delete, "delete a secret"),
    ):
        p = command(ssub, name, func, help)
        p.add_argument("--tenant", required=True)
        p.add_argument("name")
    p = command(ssub, "list", _secret_list, "names and fingerprints, never values", read=True)
    p.add_argument("--tenant", required=True)

    from tenantry_admin.canary import register as register_canary

    register_canary(sub, target, reads, run)

    members = sub.add_parser("members", help="who may sign in for which tenant")
    msub = members.add_subparsers(dest="members_command", required=True, metavar="COMMAND")
    p = command(msub, "add", _members_add, "let a user sign in for a tenant")
    p.add_argument("--tenant", required=True)
    p.add_argument("--user", required=True, help="the email address they sign in with")
    p = command(msub, "remove", _members_remove, "remove a membership and revoke its sign-ins")
    p.add_argument("--tenant", required=True)
    p.add_argument("--user", required=True)
    p = command(msub, "list", _members_list, "a tenant's members, or a user's tenants", read=True)
    p.add_argument("--tenant")
    p.add_argument("--user")


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Audit events are in the audit table; their log echo would only garble the CLI's output."""
    from tenantry.observability import get_logger

    logger = get_logger()
    level = logger.log_level
    logger.setLevel(logging.ERROR)
    noisy = [logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")]
    levels = [n.level for n in noisy]
    for n in noisy:
        n.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        for n, lvl in zip(noisy, levels, strict=True):
            n.setLevel(lvl)


def run(args: argparse.Namespace) -> int:
    """Run one admin command against its target; every expected failure is one line on stderr."""
    func: Command = args.admin_func
    try:
        with connect(Path(args.state_dir), args.stack, args.region) as target, _quiet_logs():
            services = _services_for(target)
            admin = TenantAdmin(
                registry=services.registry,
                audit=services.audit,
                secret_store=services.secret_store,
                dynamodb=services.dynamodb,
                settings=target.settings,
                principal=target.principal,
                silo_plans=frozenset(target.settings.silo_plans),
            )
            workers = 8 if args.stack else 1
            drain = DRAIN_SECONDS if args.stack else LOCAL_DRAIN_SECONDS
            ops = Ops(services, admin, sys.stdout, sys.stderr, workers, drain)
            if target.oauth_tables is not None:
                ops.members = MembershipStore(services.dynamodb, target.oauth_tables[0])
                ops.oauth = OAuthStore(services.dynamodb, target.oauth_tables[1])
            return func(args, ops)
    except (TenantryError, TargetError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return _fail(f"AWS refused the request: {error.get('Code')}: {error.get('Message')}", EXIT_AWS)
    except BotoCoreError as exc:
        return _fail(f"AWS is not reachable: {exc}", EXIT_AWS)
    except KeyboardInterrupt:
        return _fail("Interrupted; re-run the command to continue where it stopped.", 130)


_services: dict[tuple[str, str], OperatorServices] = {}


def _services_for(target: AdminTarget) -> OperatorServices:
    """One set of clients per target and process: a boto3 session costs ~0.3 s to build.

    Safe to reuse because admin paths read the registry uncached (load/all); it
    matters to an admin Lambda's warm container and to tests running many commands.
    """
    key = (target.where, target.settings.model_dump_json())
    if key not in _services:
        _services[key] = OperatorServices.create(target.settings, target.session)
    return _services[key]


def _fail(message: str, code: int) -> int:
    print("tenantry: " + " ".join(message.split()), file=sys.stderr)
    return code
