"""The isolation canary's exact requests as evaluator inputs, against a (possibly mutated) template.

Each canary case (tenantry.canary.cases) is mapped to the IAM request(s) AWS authorizes it as
(tenantry.canary.iam), made by a session of the tenant role tagged with canary tenant A, and turned
into the evaluator's input by the same `simulation()` the decision table uses.
"""

from __future__ import annotations

from typing import Any

from tenantry.canary.cases import CANARY_A, CanaryCase, CanaryTargets, build_cases
from tenantry.canary.iam import IamRequest, iam_requests
from tests.infra.iam.model import StackPolicies
from tests.infra.iam.table import Case, Layout, Target, Who, simulation, verdict

__all__ = ["canary_batch", "canary_cases", "canary_decisions", "canary_targets"]


def _table_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def canary_targets(model: StackPolicies, layout: Layout) -> CanaryTargets:
    """What the deployed canary's settings would name, read from the template."""
    key_arn, _ = model.key(layout.key)
    bucket, _ = model.bucket(layout.bucket)
    return CanaryTargets(
        cells=tuple(_table_name(model.table_arn(t)) for t in layout.pooled_tables),
        silo_prefix=layout.silo_prefix,
        key_arn=key_arn,
        bucket=bucket,
        tenant_role_arn=model.role(layout.tenant_role).arn,
        a_ciphertext=b"ciphertext of A",
        b_ciphertext=b"ciphertext of B",
    )


def canary_cases(model: StackPolicies, layout: Layout) -> list[CanaryCase]:
    return build_cases(canary_targets(model, layout))


def _target(model: StackPolicies, layout: Layout, request: IamRequest) -> Target:
    if request.kind == "table":
        by_name = {_table_name(model.table_arn(t)): t for t in layout.pooled_tables}
        if request.name in by_name:
            return Target("table", by_name[request.name])
        if request.name.startswith(layout.silo_prefix):
            return Target("silo", name=request.name[len(layout.silo_prefix) :])
        raise AssertionError(f"the canary names a table the template lacks: {request.name}")
    if request.kind == "key":
        assert request.name == model.key(layout.key)[0], request.name
        return Target("key", layout.key)
    if request.kind == "bucket":
        return Target("bucket", layout.bucket)
    if request.kind == "object":
        return Target("object", layout.bucket, request.name)
    assert request.name == model.role(layout.tenant_role).arn, request.name
    return Target("role", layout.tenant_role)


def canary_batch(model: StackPolicies, layout: Layout, prefix: str) -> dict[str, dict[str, Any]]:
    """Evaluator inputs, id `<prefix>#<case name>#<n>` for the n-th IAM request of each case."""
    me = Who(role=layout.tenant_role, tenant=CANARY_A)
    batch: dict[str, dict[str, Any]] = {}
    for case in canary_cases(model, layout):
        for n, request in enumerate(iam_requests(case)):
            as_case = Case(
                f"canary|{case.name}|{n}",
                case.service,
                me,
                request.action,
                _target(model, layout, request),
                dict(request.context),
            )
            batch[f"{prefix}#{case.name}#{n}"] = simulation(model, layout, as_case)
    return batch


def canary_decisions(cases: list[CanaryCase], decisions: dict[str, str], prefix: str) -> dict[str, str]:
    """Per case: 'allow' when IAM allows every request it is authorized as, 'deny' when any is denied,
    and the evaluator's error text when it could not decide (never counted as either)."""
    out: dict[str, str] = {}
    for case in cases:
        verdicts = [verdict(decisions[f"{prefix}#{case.name}#{n}"]) for n in range(len(iam_requests(case)))]
        errors = [v for v in verdicts if v not in {"allow", "deny"}]
        out[case.name] = errors[0] if errors else ("deny" if "deny" in verdicts else "allow")
    return out
