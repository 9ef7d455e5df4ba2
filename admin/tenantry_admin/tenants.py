"""What an operator does to tenants: onboard, change, suspend, resume, and manage their secrets.

Every change is a read-modify-save on the registry record, conditional on the
version that was read, so two operators changing one tenant at once cannot
lose either's work: the second gets a ConflictError and nothing is written.
A status change writes the record and the marks admission checks in one
transaction, the marks stamped with the new version.
Every change (and every refused one) is recorded in the audit trail.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from annotated_types import Ge, Le
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from tenantry.audit import AuditEvent, AuditLog, Outcome
from tenantry.canary.cases import is_canary_tenant
from tenantry.dal.secrets import SecretInfo, SecretStore
from tenantry.errors import ConflictError, InvalidInputError, NotFoundError, TenantryError, aws_error_code
from tenantry.metering.meter import UsageMeter
from tenantry.settings import Settings
from tenantry.tenancy.context import TENANT_ID_PATTERN, TenantContext
from tenantry.tenancy.placement import Placement, place_tenant, table_for
from tenantry.tenancy.plans import FEATURES, PLAN_ORDER, Plan, QuotaOverrides
from tenantry.tenancy.registry import Branding, TenantRecord, TenantRegistry, TenantStatus
from tenantry_admin.silo_tables import silo_table_request

__all__ = ["AdminResult", "PlacementChoice", "TenantAdmin", "TenantChanges", "validate_tenant_id"]

PlacementChoice = Literal["auto", "pool", "cell", "silo"]
PLACEMENTS: tuple[PlacementChoice, ...] = ("auto", "pool", "cell", "silo")
# A slug becomes a subdomain (<slug>.mcp.example.com): one DNS label, lower case.
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_GONE: tuple[TenantStatus, ...] = ("offboarding", "offboarded")
_BRAND_HINTS = {
    "company_name": "at most 120 characters",
    "primary_color": "use #RRGGBB, e.g. #1A73E8",
    "logo_url": "an http(s):// URL",
    "custom_domain": "a lower-case host name, e.g. mcp.acme.example",
}


class AdminResult(BaseModel):
    """The record after an admin action, whether the action changed anything, and what to tell the operator."""

    record: TenantRecord
    changed: bool
    message: str


@dataclass
class TenantChanges:
    """An operator's update; None (or an empty dict) means leave as is, a None value inside means back to default."""

    plan: str | None = None
    display_name: str | None = None
    features: dict[str, bool | None] = field(default_factory=dict)
    quotas: dict[str, int | None] = field(default_factory=dict)
    branding: dict[str, str | None] = field(default_factory=dict)
    expected_version: int | None = None

    def empty(self) -> bool:
        return self.plan is None and self.display_name is None and not (self.features or self.quotas or self.branding)


def validate_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise InvalidInputError(
            f"'{tenant_id[:70]}' is not a valid tenant id: 3-63 characters from a-z, 0-9 and '-', "
            "starting and ending with a letter or digit."
        )
    return tenant_id


def _plan(value: str) -> Plan:
    if value not in PLAN_ORDER:
        raise InvalidInputError(f"Unknown plan '{value}': choose one of {', '.join(PLAN_ORDER)}.")
    return value


def _display_name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 120 or not name.isprintable():
        raise InvalidInputError("A tenant name is 1-120 printable characters.")
    return name


def _slug(value: str) -> str:
    if not SLUG_PATTERN.fullmatch(value):
        raise InvalidInputError(
            f"'{value[:70]}' is not a valid slug: it becomes a subdomain, so use one DNS label of 1-63 "
            "characters from a-z, 0-9 and '-', not starting or ending with '-'."
        )
    return value


@dataclass
class TenantAdmin:
    registry: TenantRegistry
    audit: AuditLog
    secret_store: SecretStore
    # The operator's own DynamoDB client: registry slug reservations and silo tables.
    dynamodb: Any
    settings: Settings
    principal: str
    silo_plans: frozenset[str] = frozenset({"business"})
    request_id: str = field(default_factory=lambda: f"admin-{uuid.uuid4().hex[:12]}")
    # Writes the status marks admission checks; built on the operator's client when not given.
    usage: UsageMeter | None = None
    # A KMS client tells the AWS managed DynamoDB key from a customer managed one when a silo table
    # copies the data table's encryption; without it, the stack's AWS managed key is assumed.
    kms: Any = None

    @property
    def meter(self) -> UsageMeter:
        if self.usage is None:
            self.usage = UsageMeter(self.dynamodb, self.settings.usage_table)
        return self.usage

    # -- reading ---------------------------------------------------------------------------
    def get(self, tenant_id: str) -> TenantRecord:
        record = self.registry.load(validate_tenant_id(tenant_id))
        if record is None:
            raise NotFoundError(f"No tenant '{tenant_id}'.")
        return record

    def tenants(self, statuses: set[str] | None = None) -> list[TenantRecord]:
        """Every tenant (lists, usage reports, bills): never the isolation canary's synthetic tenants.

        The canary never registers them; a record under one of their ids could only be a leftover or a
        hand edit, and must not appear on a bill either way.
        """
        records = self.registry.all()
        return [r for r in records if not is_canary_tenant(r.tenant_id) and (not statuses or r.status in statuses)]

    def table_of(self, record: TenantRecord) -> str:
        return table_for(record.tenant_id, record.placement, self.settings.cells(), self.settings.silo_table_prefix)

    def context_for(self, record: TenantRecord) -> TenantContext:
        """The tenant context an admin action runs in: the tenant's own table, credentials and guard."""
        return record.context(self.principal, self.request_id, self.table_of(record))

    # -- onboarding ------------------------------------------------------------------------
    def create(self, tenant_id: str, slug: str, name: str, plan: str, placement: str = "auto") -> AdminResult:
        validate_tenant_id(tenant_id)
        if is_canary_tenant(tenant_id):
            # Its partition is the canary's: a real tenant there would share data with the probe.
            raise InvalidInputError(f"The tenant id '{tenant_id}' is reserved for the isolation canary.")
        record = TenantRecord(
            tenant_id=tenant_id,
            slug=_slug(slug),
            display_name=_display_name(name),
            plan=_plan(plan),
            placement=self._placement(tenant_id, plan, placement),
            branding=Branding(company_name=_display_name(name)),
        )
        if self.registry.load(tenant_id) is not None:
            raise ConflictError(f"The tenant id '{tenant_id}' is already taken.")
        created_table = record.placement.mode == "silo" and self._ensure_silo_table(tenant_id)
        try:
            self.registry.create(record)
        except ConflictError:
            if created_table:  # ours, just made: do not leave an orphan behind
                self.drop_silo_table(tenant_id)
            raise
        where = self.table_of(record)
        self.record_audit(record.tenant_id, "create", "allowed", f"plan={plan} slug={slug} placement={where}")
        return AdminResult(
            record=record,
            changed=True,
            message=f"Created tenant {tenant_id} ({record.display_name}) on the {plan} plan, data in {where}.",
        )

    def _placement(self, tenant_id: str, plan: str, choice: str) -> Placement:
        cells = len(self.settings.cells())
        if choice == "auto":
            return place_tenant(tenant_id, plan, cells, self.silo_plans)
        if choice == "pool":
            return Placement(mode="pool", cell=0)
        if choice == "silo":
            return Placement(mode="silo")
        if choice == "cell":
            if cells <= 1:
                raise InvalidInputError("This deployment has a single cell; use --placement pool or auto.")
            return place_tenant(tenant_id, plan, cells)
        raise InvalidInputError(f"Unknown placement '{choice}': choose one of {', '.join(PLACEMENTS)}.")

    def _ensure_silo_table(self, tenant_id: str) -> bool:
        """Create the tenant's own table like the stack's data table; True if this call created it.

        Keys, encryption (the same KMS key, or the AWS managed one), deletion protection and tags
        come from the data table (silo_tables.py), plus the tag tenant_id. Point-in-time recovery
        is always on: a silo table is one tenant's only copy of its data.
        """
        name = self.settings.silo_table_prefix + tenant_id
        request = silo_table_request(self.dynamodb, self.kms, self.settings.data_table, name, tenant_id)
        try:
            self.dynamodb.create_table(**request)
        except ClientError as exc:
            if aws_error_code(exc) != "ResourceInUseException":
                raise
            return False
        # PITR can only be turned on for an ACTIVE table; callers write only after this returns.
        self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        self.dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        return True

    def drop_silo_table(self, tenant_id: str) -> bool:
        """Delete the tenant's own table; False if it was already gone."""
        name = self.settings.silo_table_prefix + tenant_id
        try:
            self.dynamodb.update_table(TableName=name, DeletionProtectionEnabled=False)
            self.dynamodb.delete_table(TableName=name)
        except ClientError as exc:
            if aws_error_code(exc) != "ResourceNotFoundException":
                raise
            return False
        self.dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        return True

    # -- changes ---------------------------------------------------------------------------
    def update(self, tenant_id: str, changes: TenantChanges) -> AdminResult:
        if changes.empty():
            raise InvalidInputError(
                "Nothing to update: pass at least one of --plan, --name, --feature, --quota, --brand-*."
            )
        record = self._changeable(tenant_id)
        version = record.version if changes.expected_version is None else changes.expected_version
        updates: dict[str, Any] = {}
        said: list[str] = []
        if changes.plan is not None and changes.plan != record.plan:
            updates["plan"] = _plan(changes.plan)
            said.append(f"plan {record.plan}->{changes.plan}")
        if changes.display_name is not None:
            updates["display_name"] = _display_name(changes.display_name)
            said.append(f"name={updates['display_name']!r}")
        if changes.features:
            updates["feature_overrides"] = self._features(record, changes.features)
            said += [
                f"feature {k}={'default' if v is None else ('on' if v else 'off')}" for k, v in changes.features.items()
            ]
        if changes.quotas:
            updates["quota_overrides"] = self._quotas(record, changes.quotas)
            said += [f"quota {k}={'default' if v is None else v}" for k, v in changes.quotas.items()]
        if changes.branding:
            updates["branding"] = self._branding(record, changes.branding)
            said += [f"branding {k}={'default' if v is None else v}" for k, v in changes.branding.items()]
        saved = self._save(record.model_copy(update=updates), version, "update", "; ".join(said))
        return AdminResult(record=saved, changed=True, message=f"Updated {tenant_id} (version {saved.version}).")

    @staticmethod
    def _features(record: TenantRecord, changes: dict[str, bool | None]) -> dict[str, bool]:
        merged = dict(record.feature_overrides)
        for name, enabled in changes.items():
            if name not in FEATURES:
                raise InvalidInputError(f"Unknown feature '{name}': choose from {', '.join(FEATURES)}.")
            if enabled is None:
                merged.pop(name, None)
            else:
                merged[name] = enabled
        return merged

    @staticmethod
    def _quotas(record: TenantRecord, changes: dict[str, int | None]) -> QuotaOverrides:
        known = QuotaOverrides.model_fields
        merged = record.quota_overrides.model_dump()
        for name, value in changes.items():
            if name not in known:
                raise InvalidInputError(f"Unknown quota '{name}': choose from {', '.join(known)}.")
            merged[name] = value
        try:
            return QuotaOverrides.model_validate(merged)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0])
            bounds = known[name].metadata
            low = next((m.ge for m in bounds if isinstance(m, Ge)), None)
            high = next((m.le for m in bounds if isinstance(m, Le)), None)
            raise InvalidInputError(
                f"Quota {name}={changes.get(name)} is out of range: use {low} to {high:,}, or 'default'."
            ) from None

    @staticmethod
    def _branding(record: TenantRecord, changes: dict[str, str | None]) -> Branding:
        merged = record.branding.model_dump()
        merged.update({k: (v or None) for k, v in changes.items()})
        try:
            return Branding.model_validate(merged)
        except ValidationError as exc:
            name = str(exc.errors()[0]["loc"][0])
            raise InvalidInputError(
                f"Branding {name}={changes.get(name)!r} is not valid: {_BRAND_HINTS.get(name, 'see --help')}."
            ) from None

    def suspend(self, tenant_id: str) -> AdminResult:
        return self._set_status(tenant_id, "suspended", "suspend")

    def resume(self, tenant_id: str) -> AdminResult:
        return self._set_status(tenant_id, "active", "resume")

    def _set_status(self, tenant_id: str, status: TenantStatus, action: str) -> AdminResult:
        """Change the status and the mark admission checks in one transaction (every container sees it at once).

        Re-running re-applies the marks of the stored version (for marks written before they were
        transactional, or on a month item created since).
        """
        record = self._changeable(tenant_id)
        if record.status == status:
            self.registry.confirm_with(
                record, self.meter.mark_updates(tenant_id, status, record.version), str(uuid.uuid4())
            )
            return AdminResult(record=record, changed=False, message=f"Tenant {tenant_id} is already {status}.")
        saved = self.change_status(record, status, action)
        return AdminResult(
            record=saved,
            changed=True,
            message=f"Tenant {tenant_id} is now {status}; the next call in every running container sees it.",
        )

    def change_status(self, record: TenantRecord, status: TenantStatus, action: str) -> TenantRecord:
        """Save `status` and set or clear the marks, stamped with the new version: one TransactWriteItems.

        Its ClientRequestToken makes botocore's resend after a lost response idempotent. On a
        conflict the stored record is read back and the operator told what it says now.
        """
        version = record.version + 1
        changed = record.model_copy(update={"status": status, "status_since": datetime.now(UTC).isoformat()})
        summary = f"status {record.status}->{status}"
        try:
            saved = self.registry.save_with(
                changed, record.version, self.meter.mark_updates(record.tenant_id, status, version), str(uuid.uuid4())
            )
        except ConflictError as exc:
            current = self.registry.load(record.tenant_id)
            now = f"it is now {current.status} (version {current.version})" if current else "it no longer exists"
            self.record_audit(record.tenant_id, action, "denied", f"conflict: {summary}; {now}")
            raise ConflictError(
                f"Tenant {record.tenant_id} was changed by someone else since version {record.version}: {now}. "
                f"This command wrote nothing. Run `tenantry tenants show {record.tenant_id}` and retry."
            ) from exc
        self.record_audit(record.tenant_id, action, "allowed", summary)
        return saved

    def _changeable(self, tenant_id: str) -> TenantRecord:
        record = self.get(tenant_id)
        if record.status in _GONE:
            raise InvalidInputError(f"Tenant {tenant_id} is {record.status}; it can no longer be changed.")
        return record

    def _save(self, record: TenantRecord, expected_version: int, action: str, summary: str) -> TenantRecord:
        try:
            saved = self.registry.save(record, expected_version)
        except ConflictError as exc:
            self.record_audit(record.tenant_id, action, "denied", f"conflict: {summary}")
            raise ConflictError(
                f"Tenant {record.tenant_id} was changed by someone else since version {expected_version}; "
                f"nothing was written. Run `tenantry tenants show {record.tenant_id}` and retry."
            ) from exc
        self.record_audit(record.tenant_id, action, "allowed", summary)
        return saved

    # -- secrets ---------------------------------------------------------------------------
    def set_secret(self, tenant_id: str, name: str, value: str, *, rotate: bool) -> SecretInfo:
        record = self._changeable(tenant_id)
        action = "secrets.rotate" if rotate else "secrets.set"
        try:
            info = self.secret_store.set(self.context_for(record), name, value, rotate=rotate)
        except TenantryError as exc:
            self.record_audit(tenant_id, action, "denied", str(exc), resource=f"secret/{name}")
            raise
        self.record_audit(tenant_id, action, "allowed", f"version {info.version}", resource=f"secret/{name}")
        return info

    def delete_secret(self, tenant_id: str, name: str) -> None:
        record = self._changeable(tenant_id)
        self.secret_store.delete(self.context_for(record), name)
        self.record_audit(tenant_id, "secrets.delete", "allowed", "ciphertext deleted", resource=f"secret/{name}")

    def list_secrets(self, tenant_id: str) -> list[SecretInfo]:
        record = self.get(tenant_id)
        if record.status == "offboarded":
            return []
        return self.secret_store.list(self.context_for(record))

    # -- audit -----------------------------------------------------------------------------
    def record_audit(self, tenant_id: str, action: str, outcome: Outcome, reason: str, resource: str = "") -> None:
        self.audit.record(
            AuditEvent(
                tenant_id=tenant_id,
                principal=self.principal,
                action=f"admin:{action}",
                resource=resource or f"tenant/{tenant_id}",
                outcome=outcome,
                reason=reason,
                request_id=self.request_id,
            )
        )
