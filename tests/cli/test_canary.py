"""`tenantry canary run|status` locally, and the canary tenants kept out of lists, reports and onboarding."""

from __future__ import annotations

import json
from typing import Any

from tenantry.canary.cases import CANARY_A, CANARY_B
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error


def test_a_local_run_reports_every_case_and_claims_no_iam_result(tenantry: Any) -> None:
    run = tenantry("canary", "run")
    assert run.code == 0, run.err
    assert "locally (moto: no IAM)" in run.out
    assert "moto enforces no IAM" in run.out
    assert "PASS" not in run.out and "FAIL" not in run.out  # nothing proven here, so neither verdict
    assert "no IAM result claimed" in run.out
    for name in (
        "pool: GetItem of B's item",
        "cell 1: TransactWriteItems into B's partition",
        "kms: Decrypt B's secret under B's context",
        "sts: A's session assumes the tenant role with B's tag",
    ):
        assert name in run.out
    status = tenantry("canary", "status", "--json")
    assert status.code == 0, status.err
    shown = status.json()
    assert shown["mode"] == "local"
    by_name = {r["name"]: r for r in shown["results"]}
    # Per case, what can be known here: the guard's decision for the very request.
    assert by_name["pool: GetItem of B's item"]["guard"] == "deny"
    assert by_name["pool: GetItem of B's item"]["observed"] == "not run"
    assert by_name["own: A reads its own item"]["guard"] == "allow"
    assert by_name["kms: Decrypt B's secret under B's context"]["guard"] == "n/a"
    assert CANARY_B in by_name["pool: Query of B's partition"]["request"]
    assert json.dumps(shown).count("IAM is unproven") == 3  # the own requests, sent to moto


def test_the_canary_ids_are_reserved_and_never_listed_or_billed(tenantry: Any, platform: LocalPlatform) -> None:
    error = one_line_error(
        tenantry("tenants", "create", "--id", CANARY_A, "--slug", "canary-a", "--name", "X", "--plan", "free")
    )
    assert "reserved for the isolation canary" in error
    # A record under a canary id (a hand edit) is still left out of the list and the bill.
    platform.services.registry.put(
        TenantRecord(tenant_id=CANARY_B, slug="canary-b-by-hand", display_name="Hand-made", plan="free")
    )
    try:
        listed = tenantry("tenants", "list", "--json")
        assert listed.code == 0 and CANARY_B not in listed.out
        report = tenantry("tenants", "usage-report")
        assert report.code == 0 and CANARY_B not in report.out
    finally:
        platform.services.dynamodb.delete_item(
            TableName=platform.settings.registry_table, Key={"tenant_id": {"S": CANARY_B}}
        )


def test_evaluate_adds_the_offline_iam_decision_for_every_case(tenantry: Any) -> None:
    """The evaluator's decision for each exact request (a synth of the stack with the local cell count)."""
    run = tenantry("canary", "run", "--evaluate", "--json")
    assert run.code == 0, run.err
    shown = run.json()
    assert "offline IAM policy evaluator's" in shown["note"]
    by_name = {r["name"]: r for r in shown["results"]}
    assert by_name["pool: GetItem of B's item"]["evaluator"] == "deny (IAM due: deny)"
    assert by_name["cell 1: PutItem into B's partition"]["evaluator"] == "deny (IAM due: deny)"
    assert by_name["own: A decrypts its own secret"]["evaluator"] == "allow (IAM due: allow)"
    # IAM lets A use its own context; what refuses B's ciphertext there is KMS, which moto cannot show either.
    assert by_name["kms: Decrypt B's secret under A's context"]["evaluator"] == "allow (IAM due: allow)"
    assert all(r["evaluator"] for r in shown["results"])
    assert all(r["ok"] is None for r in shown["results"])  # still no IAM result claimed
