"""The isolation canary, proven offline: every exact request it makes, decided by the IAM policy evaluator.

Against the synthesized template, every cross-tenant request the canary sends is denied and every own
request allowed. Two template mutations (the LeadingKeys condition dropped; the KMS encryption-context
conditions dropped) turn the canary's expectation red here, so the canary deployed would alarm on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.canary.cases import CanaryCase
from tests.infra.conftest import Synth
from tests.infra.iam.canary import canary_batch, canary_cases, canary_decisions
from tests.infra.iam.model import StackPolicies, mutated
from tests.infra.iam.table import Layout, evaluate
from tests.infra.test_policy_evaluation import _key_policy, _kms_identity, _rows, layout_of

Template = dict[str, Any]


def _no_leading_keys(t: Template, lay: Layout) -> None:
    del _rows(t, lay)["Condition"]["ForAllValues:StringEquals"]


def _no_kms_identity_context(t: Template, lay: Layout) -> None:
    del _kms_identity(t, lay)["Condition"]


def _no_key_policy_context_deny(t: Template, lay: Layout) -> None:
    policy = _key_policy(t, lay)
    before = len(policy["Statement"])
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "DenyOtherTenantsContext"]
    assert len(policy["Statement"]) == before - 1


def _no_kms_context(t: Template, lay: Layout) -> None:
    _no_kms_identity_context(t, lay)
    _no_key_policy_context_deny(t, lay)


MUTATIONS: dict[str, Callable[[Template, Layout], None]] = {
    "leading keys dropped": _no_leading_keys,
    "kms context dropped (identity policy only)": _no_kms_identity_context,
    "kms context dropped (key policy only)": _no_key_policy_context_deny,
    "kms context dropped": _no_kms_context,
}


@dataclass
class Proof:
    cases: dict[str, list[CanaryCase]]  # variant ("synth", "custom", or a mutation of synth) -> the canary's cases
    decisions: dict[str, dict[str, str]]  # variant -> case name -> the evaluator's decision


@pytest.fixture(scope="module")
def proof(synth: Synth, custom: Synth) -> Proof:
    models: dict[str, tuple[StackPolicies, Layout]] = {}
    for name, variant in (("synth", synth), ("custom", custom)):
        models[name] = (StackPolicies.from_template(variant.raw), layout_of(variant))
    layout = models["synth"][1]
    for name, change in MUTATIONS.items():
        models[name] = (StackPolicies.from_template(mutated(synth.raw, lambda t, c=change: c(t, layout))), layout)  # type: ignore[misc]
    batch: dict[str, dict[str, Any]] = {}
    for name, (model, lay) in models.items():
        batch.update(canary_batch(model, lay, name))
    decisions = evaluate(batch)
    cases = {name: canary_cases(model, lay) for name, (model, lay) in models.items()}
    return Proof(cases, {name: canary_decisions(cases[name], decisions, name) for name in models})


def _wrong(proof: Proof, variant: str) -> dict[str, str]:
    decided = proof.decisions[variant]
    return {c.name: decided[c.name] for c in proof.cases[variant] if decided[c.name] != c.iam_decision}


@pytest.mark.parametrize("variant", ["synth", "custom"])
def test_every_canary_request_gets_the_decision_the_canary_expects(proof: Proof, variant: str) -> None:
    cases = proof.cases[variant]
    assert _wrong(proof, variant) == {}
    # Every cross-tenant request is denied by IAM itself, except the one KMS's ciphertext binding refuses.
    assert {c.name for c in cases if c.iam_decision == "allow"} == {c.name for c in cases if c.expect == "allow"} | {
        "kms: Decrypt B's secret under A's context"
    }
    assert sum(c.expect == "deny" for c in cases) >= 11


def test_the_custom_variant_covers_every_cell(proof: Proof) -> None:
    names = {c.name for c in proof.cases["custom"]}
    assert {"pool: GetItem of B's item", "cell 1: GetItem of B's item", "cell 2: GetItem of B's item"} <= names


def test_dropping_the_leading_keys_condition_turns_the_canary_red(proof: Proof) -> None:
    wrong = _wrong(proof, "leading keys dropped")
    for op in (
        "GetItem of B's item",
        "Query of B's partition",
        "PutItem into B's partition",
        "TransactWriteItems into B's partition",
    ):
        assert wrong.get(f"pool: {op}") == "allow", wrong
    # BatchGetItem is never granted and a silo table of B never matches: those hold on their own.
    assert "pool: BatchGetItem of A's and B's items" not in wrong
    assert "silo: GetItem in B's silo table" not in wrong


def test_dropping_the_kms_context_conditions_turns_the_canary_red(proof: Proof) -> None:
    assert _wrong(proof, "kms context dropped") == {"kms: Decrypt B's secret under B's context": "allow"}


@pytest.mark.parametrize(
    "variant", ["kms context dropped (identity policy only)", "kms context dropped (key policy only)"]
)
def test_either_kms_layer_alone_keeps_the_canary_green(proof: Proof, variant: str) -> None:
    assert _wrong(proof, variant) == {}
