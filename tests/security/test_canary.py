"""The isolation canary's cases, its runner's classification and what it reports, on the local platform.

moto enforces no IAM: here the runner's AWS mode sees every cross-tenant request allowed, which is
exactly the path a broken deployment takes (metric, audit record naming the request, stored run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from botocore.stub import Stubber

from tenantry.canary.cases import CANARY_A, CANARY_B, CanaryTargets, build_cases, is_canary_tenant
from tenantry.canary.iam import iam_requests
from tenantry.canary.runner import VIOLATION_METRIC, _execute, guard_decision, last_run, run_canary
from tenantry.dal.items import to_attrs
from tenantry.dal.keys import canary_item_key
from tenantry.observability import add_metric_listener

if TYPE_CHECKING:
    from tenantry_local.platform import LocalPlatform

TARGETS = CanaryTargets(
    cells=("tenantry-data", "tenantry-data-cell-1"),
    silo_prefix="tenantry-silo-",
    key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
    bucket="branding",
    tenant_role_arn="arn:aws:iam::123456789012:role/tenant",
    a_ciphertext=b"a",
    b_ciphertext=b"b",
)


def test_the_cases_cover_every_promised_request() -> None:
    cases = build_cases(TARGETS)
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    for where in ("pool", "cell 1"):
        for op in ("GetItem", "Query", "PutItem", "BatchGetItem", "TransactWriteItems"):
            assert any(c.name.startswith(f"{where}:") and c.operation == op and c.expect == "deny" for c in cases)
    ops = {(c.service, c.operation, c.expect) for c in cases}
    assert {("kms", "Decrypt", "deny"), ("s3", "GetObject", "deny"), ("s3", "ListObjectsV2", "deny")} <= ops
    assert ("sts", "AssumeRole", "deny") in ops
    assert any(c.resource == "tenantry-silo-" + CANARY_B for c in cases)
    own = [c for c in cases if c.expect == "allow"]
    assert {(c.service, c.operation) for c in own} == {
        ("dynamodb", "PutItem"),
        ("dynamodb", "GetItem"),
        ("kms", "Decrypt"),
    }
    # B's key is the runtime's own key layout, never a copy of it.
    get_b = next(c for c in cases if c.name == "pool: GetItem of B's item")
    assert get_b.params["Key"] == to_attrs(canary_item_key(CANARY_B))
    # Every request maps to IAM requests naming the other tenant (or, for the wrong-context decrypt, A).
    for case in cases:
        assert iam_requests(case), case.name
    assert is_canary_tenant(CANARY_A) and not is_canary_tenant("ironworks-gym")


def test_the_wrong_context_decrypt_is_denied_by_the_ciphertext_not_by_iam() -> None:
    case = next(c for c in build_cases(TARGETS) if c.name == "kms: Decrypt B's secret under A's context")
    assert case.iam_decision == "allow" and case.expect == "deny"
    assert case.denied_by == ("InvalidCiphertextException",)


def test_classification_counts_only_the_expected_error_as_a_denial(platform: LocalPlatform) -> None:
    cases = {c.name: c for c in build_cases(TARGETS)}
    client = platform.services.session.create_client("dynamodb", region_name="eu-west-1")
    deny_case, own_case = cases["pool: GetItem of B's item"], cases["own: A reads its own item"]
    with Stubber(client) as stub:
        stub.add_client_error("get_item", "AccessDeniedException", http_status_code=400)
        assert _execute(client, deny_case) == ("deny", "AccessDeniedException")
        stub.add_client_error("get_item", "ResourceNotFoundException", http_status_code=400)
        assert _execute(client, deny_case) == ("error", "ResourceNotFoundException")  # not proof of a denial
        stub.add_response("get_item", {})
        assert _execute(client, deny_case) == ("allow", "")
        stub.add_client_error("get_item", "AccessDeniedException", http_status_code=400)
        assert _execute(client, own_case) == ("error", "AccessDeniedException")  # a failed own access


def test_the_guard_refuses_every_cross_tenant_data_request_and_passes_the_own_ones(platform: LocalPlatform) -> None:
    for case in build_cases(TARGETS):
        decision = guard_decision(platform.services, case, TARGETS)
        if case.service in {"kms", "sts"}:
            assert decision == "n/a"
        else:
            assert decision == case.expect, case.name


def test_a_local_run_claims_no_iam_result(platform: LocalPlatform) -> None:
    seen: list[tuple[str, float]] = []
    remove = add_metric_listener(lambda name, value: seen.append((name, value)))
    try:
        run = run_canary(platform.services, mode="local")
    finally:
        remove()
    assert "moto enforces no IAM" in run.note
    assert run.violations == []
    for result in run.results:
        if result.expect == "deny":
            assert result.observed == "not run" and result.ok is None, result
        else:
            assert result.observed == "allow" and result.ok is None and "IAM is unproven" in result.detail
    assert (VIOLATION_METRIC, 0) in seen
    stored = last_run(platform.services)
    assert stored is not None and stored.run_id == run.run_id and stored.mode == "local"


def test_an_unexpected_allow_raises_the_metric_and_an_audit_record_naming_the_request(
    platform: LocalPlatform,
) -> None:
    """In AWS mode against moto every cross-tenant request goes through: the broken-deployment path."""
    seen: list[tuple[str, float]] = []
    remove = add_metric_listener(lambda name, value: seen.append((name, value)))
    try:
        run = run_canary(platform.services, mode="aws")
        again = run_canary(platform.services, mode="aws")  # the fixtures exist now: idempotent
    finally:
        remove()
    by_name = {r.name: r for r in run.results}
    assert all(r.ok for r in run.results if r.expect == "allow")
    # moto does bind a ciphertext to its context: that case holds even there.
    assert by_name["kms: Decrypt B's secret under A's context"].ok is True
    opened = [r for r in run.results if r.expect == "deny" and r.observed == "allow"]
    assert len(opened) >= 10 and all(r.ok is False for r in opened)
    assert (VIOLATION_METRIC, len(run.violations)) in seen
    assert len(again.violations) == len(run.violations)
    records = [e for e in platform.services.audit.recent(CANARY_A, limit=200) if e.request_id == run.run_id]
    assert len(records) == len(run.violations)
    assert all(any(f": {r.name}: " in e.reason for e in records) for r in run.violations)
    get_b = next(e for e in records if "pool: GetItem of B's item" in e.reason)
    assert get_b.outcome == "allowed" and get_b.action == "canary:dynamodb:GetItem"
    assert CANARY_B in get_b.resource and "tenantry-data" in get_b.resource
    stored = last_run(platform.services)
    assert stored is not None and stored.run_id == again.run_id


@pytest.mark.parametrize("tenant", [CANARY_A, CANARY_B])
def test_canary_tenants_are_not_registered(platform: LocalPlatform, tenant: str) -> None:
    run_canary(platform.services, mode="local")
    assert platform.services.registry.load(tenant) is None


def test_the_lambda_handler_runs_in_aws_mode_from_the_functions_settings(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantry.canary.handler import handler
    from tenantry.settings import get_settings

    for name, value in platform.environment().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        summary = handler({"source": "aws.events"}, None)
    finally:
        get_settings.cache_clear()
    assert summary["cases"] == len(build_cases(TARGETS))
    # moto allows what IAM would refuse: the handler reports it as violations, never as a pass.
    assert summary["violations"] >= 10
    stored = last_run(platform.services)
    assert stored is not None and stored.run_id == summary["run_id"] and stored.mode == "aws"
