"""Run the canary: set up the two synthetic tenants, send every case as tenant A, classify, alarm, record.

A's requests go through the same tenant role and tenant_id session tag as the MCP function's
(isolation/credentials.py): `TenantCredentials.session_for(A)` is the very session the function
would use for A. They are sent on clients WITHOUT the in-process guard (isolation/guard.py): the
guard would refuse every cross-tenant request before it left the process, and the canary's point
is to prove that IAM and KMS refuse it too. The guard's own decision is reported alongside
(`guard_decision`), computed without sending anything.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore import xform_name
from botocore.exceptions import ClientError

from tenantry.audit import AuditEvent
from tenantry.canary.cases import (
    CANARY_A,
    CANARY_B,
    SECRET_NAME,
    CanaryCase,
    CanaryTargets,
    build_cases,
    canary_context,
    logo_key,
    secret_item_key,
)
from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import canary_result_key
from tenantry.errors import ConflictError, CrossTenantAccessError, aws_error_code
from tenantry.isolation.guard import install_guard, install_s3_guard
from tenantry.observability import emit_metric
from tenantry.stores import Stores
from tenantry.tenancy.context import TenantContext

__all__ = [
    "VIOLATION_METRIC",
    "CanaryRun",
    "CaseResult",
    "guard_decision",
    "last_run",
    "prepare",
    "run_canary",
]

# One number per run, no tenant dimension: how many cases did not get the decision due. The stack's
# alarm fires on any, and on none reported at all (a canary that stopped running proves nothing).
VIOLATION_METRIC = "CanaryViolations"
Observed = Literal["allow", "deny", "error", "not run"]
Mode = Literal["aws", "local"]


@dataclass
class CaseResult:
    name: str
    request: str
    expect: str
    observed: Observed
    detail: str = ""  # the error code, or why it was not run
    ok: bool | None = None  # None: nothing was observed that could prove it either way
    guard: str = ""  # the in-process guard's decision for the same request: allow, deny or n/a
    evaluator: str = ""  # the offline IAM evaluator's decision, when it was asked (local runs)


@dataclass
class CanaryRun:
    run_id: str
    at: str
    mode: Mode
    results: list[CaseResult] = field(default_factory=list)
    note: str = ""

    @property
    def violations(self) -> list[CaseResult]:
        return [r for r in self.results if r.ok is False]

    def to_item(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "at": self.at,
            "mode": self.mode,
            "note": self.note,
            "violations": len(self.violations),
            "results": json.dumps([asdict(r) for r in self.results]),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CanaryRun:
        results = [CaseResult(**r) for r in json.loads(str(item["results"]))]
        return cls(str(item["run_id"]), str(item["at"]), item["mode"], results, str(item.get("note", "")))


def _targets(stores: Stores) -> CanaryTargets:
    settings = stores.settings
    return CanaryTargets(
        cells=tuple(settings.cells()),
        silo_prefix=settings.silo_table_prefix,
        key_arn=settings.secrets_key_arn,
        bucket=settings.branding_bucket,
        tenant_role_arn=settings.tenant_role_arn,
    )


# A 1x1 transparent PNG: B's logo, so a GetObject that IAM wrongly allowed returns it (not a 403 for
# a missing key, which S3 answers when ListBucket is not allowed either).
_PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000"
    "0500010d0a2db40000000049454e44ae426082"
)


def prepare(stores: Stores, run_id: str) -> CanaryTargets:
    """Create what the cases need, each tenant acting for itself through the guarded MCP path.

    Idempotent: each tenant's secret is set once and B's logo put once; later runs only read them.
    """
    targets = _targets(stores)
    pool = targets.cells[0]
    ciphertexts: dict[str, bytes] = {}
    for tenant_id in (CANARY_A, CANARY_B):
        tenant = canary_context(tenant_id, pool, run_id)
        item = _secret_item(stores, tenant)
        if item is None:  # the first run (a refused conditional write costs as much as a write: look first)
            with contextlib.suppress(ConflictError):  # a concurrent first run set it
                stores.secret_store.set(tenant, SECRET_NAME, f"canary secret of {tenant_id}")
            item = _secret_item(stores, tenant)
        if item is None:
            raise RuntimeError(f"the canary could not set up {tenant_id}'s secret")
        ciphertexts[tenant_id] = bytes(item["ciphertext"])
    b = canary_context(CANARY_B, pool, run_id)
    s3 = stores.clients.s3(b, targets.bucket)
    listed = s3.list_objects_v2(Bucket=targets.bucket, Prefix=logo_key(CANARY_B))
    if not listed.get("Contents"):
        s3.put_object(Bucket=targets.bucket, Key=logo_key(CANARY_B), Body=_PIXEL, ContentType="image/png")
    return CanaryTargets(
        **{**asdict(targets), "a_ciphertext": ciphertexts[CANARY_A], "b_ciphertext": ciphertexts[CANARY_B]}
    )


def _secret_item(stores: Stores, tenant: TenantContext) -> dict[str, Any] | None:
    item = (
        stores.clients.dynamodb(tenant)
        .get_item(
            TableName=tenant.data_table,
            Key=to_attrs(secret_item_key(tenant.tenant_id, tenant.data_table)),
            ConsistentRead=True,
        )
        .get("Item")
    )
    return from_attrs(item) if item else None


class _NotSent(Exception):
    """Raised at before-send: the request passed every in-process check and would have left."""


def guard_decision(stores: Stores, case: CanaryCase, targets: CanaryTargets) -> str:
    """What the in-process guard says about this request as A, decided without sending anything."""
    if case.service not in {"dynamodb", "s3"}:
        return "n/a"  # KMS and STS have no in-process guard: IAM and the key policy alone decide
    client: Any = stores.session.create_client(
        case.service, aws_access_key_id="guard", aws_secret_access_key="guard", region_name="us-east-1"
    )
    if case.service == "dynamodb":
        install_guard(client, CANARY_A, [targets.cells[0]])
    else:
        install_s3_guard(client, CANARY_A, targets.bucket)

    def stop(**_: Any) -> None:
        raise _NotSent

    client.meta.events.register_first("before-send", stop)
    try:
        getattr(client, xform_name(case.operation))(**case.params)
    except CrossTenantAccessError:
        return "deny"
    except _NotSent:
        return "allow"
    finally:
        client.close()
    return "allow"


def _execute(client: Any, case: CanaryCase) -> tuple[Observed, str]:
    try:
        getattr(client, xform_name(case.operation))(**case.params)
    except ClientError as exc:
        code = aws_error_code(exc)
        if case.expect == "deny" and code in case.denied_by:
            return "deny", code
        return "error", code
    return "allow", ""


def run_canary(
    stores: Stores,
    *,
    mode: Mode = "aws",
    evaluator: Callable[[list[CanaryCase], CanaryTargets], dict[str, str]] | None = None,
) -> CanaryRun:
    """One run. mode="aws": every case is sent as A and judged by what AWS answers. mode="local": moto
    enforces no IAM, so only A's own requests are sent (they show the path works, not that IAM allows
    them) and no cross-tenant result is claimed; each case carries the guard's (and, if given, the
    offline evaluator's) decision instead."""
    run_id = f"canary-{uuid.uuid4().hex[:12]}"
    run = CanaryRun(run_id, datetime.now(UTC).isoformat(timespec="seconds"), mode)
    targets = prepare(stores, run_id)
    cases = build_cases(targets)
    decisions = evaluator(cases, targets) if evaluator is not None else {}
    # The function's own path to A's credentials: the tenant role, tagged tenant_id=A. Clients built
    # from it carry no guard, on purpose (module docstring).
    scoped = stores.credentials.session_for(CANARY_A)
    clients: dict[str, Any] = {}
    for case in cases:
        result = CaseResult(
            case.name,
            case.describe(),
            case.expect,
            "not run",
            guard=guard_decision(stores, case, targets),
            evaluator=decisions.get(case.name, ""),
        )
        if mode == "aws" or case.expect == "allow":
            client = clients.get(case.service) or clients.setdefault(case.service, scoped.client(case.service))
            result.observed, result.detail = _execute(client, case)
            if mode == "aws":
                result.ok = result.observed == case.expect
            elif result.observed != "allow":  # locally an own request that fails is still a failure
                result.ok = False
            else:
                result.detail = "sent to moto, which enforces no IAM: the path works, IAM is unproven"
        else:
            result.detail = "not sent: moto enforces no IAM, so no IAM decision can be observed here"
        run.results.append(result)
    for client in clients.values():
        client.close()
    if mode == "local":
        run.note = (
            "Local run: moto enforces no IAM, KMS key policy or S3 policy, so no IAM decision was observed and "
            "no cross-tenant request was sent. `guard` is the in-process guard's decision for the request"
            + (
                "; `evaluator` is the offline IAM policy evaluator's, against the synthesized template."
                if decisions
                else ". The offline IAM policy evaluator decides these exact requests against the synthesized "
                "template in tests/infra/test_canary_evaluation.py (or add --evaluate in a checkout with Node)."
            )
        )
    _report(stores, run, cases)
    return run


def _report(stores: Stores, run: CanaryRun, cases: list[CanaryCase]) -> None:
    """The metric (always, 0 when all is well), an audit record per violation, and the run itself."""
    emit_metric(VIOLATION_METRIC, len(run.violations))
    by_name = {c.name: c for c in cases}
    for result in run.violations:
        case = by_name[result.name]
        stores.audit.record(
            AuditEvent(
                tenant_id=CANARY_A,
                principal="isolation-canary",
                action=f"canary:{case.service}:{case.operation}",
                resource=result.request[:1000],
                outcome="allowed" if result.observed == "allow" else "error",
                reason=f"isolation canary: {result.name}: expected {result.expect}, observed {result.observed}"
                + (f" ({result.detail})" if result.detail else ""),
                request_id=run.run_id,
            )
        )
    stores.dynamodb.put_item(
        TableName=stores.settings.audit_table, Item=to_attrs({**canary_result_key(), **run.to_item()})
    )


def last_run(stores: Stores) -> CanaryRun | None:
    item = stores.dynamodb.get_item(
        TableName=stores.settings.audit_table, Key=to_attrs(canary_result_key()), ConsistentRead=True
    ).get("Item")
    return CanaryRun.from_item(from_attrs(item)) if item else None
