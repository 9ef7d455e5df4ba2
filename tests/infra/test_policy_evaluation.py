"""Tenant isolation, decided by an IAM policy evaluator rather than read off the template's text.

The synthesized template's policies (intrinsics resolved to concrete ARNs) go to
@cloud-copilot/iam-simulate (pinned in package.json), which evaluates identity policies, resource
policies (key, bucket, table, trust) and condition keys the way IAM does. The decision table
(tests/infra/iam/table.py) asks it for every own-tenant and cross-tenant request; each mutation
below removes or widens one isolating condition in a copy of the template and shows which requests
the table then catches, so the table cannot pass on a broken policy. Every policy and every variant
is evaluated in one Node process per session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.constructs.auth import AuthorizationServer, KeyStage
from tests.infra.conftest import REPO, Synth
from tests.infra.iam.model import PolicyNotFound, StackPolicies, mutated
from tests.infra.iam.table import (
    EVALUATOR_PACKAGE,
    OTHER,
    OWN,
    PREFIXED,
    Case,
    Layout,
    cases,
    evaluate,
    simulation,
    verdict,
)

Template = dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def layout_of(s: Synth) -> Layout:
    data = s.stack.node.find_child("Data")
    pooled = [s.logical_id("Data/Data")]
    n = 1
    while data.node.try_find_child(f"DataCell{n}") is not None:
        pooled.append(s.logical_id(f"Data/DataCell{n}"))
        n += 1
    trust = s.raw["Resources"][s.logical_id("TenantAccess/Role")]["Properties"]["AssumeRolePolicyDocument"]
    named = [p for st in trust["Statement"] for p in _as_list(st["Principal"].get("AWS", []))]
    outside = tuple(sorted({p for p in named if isinstance(p, str) and p.startswith("arn:")}))
    auth = s.stack.node.find_child("Auth")
    assert isinstance(auth, AuthorizationServer)
    # Which key signs, which is the staged next one and which the previous one, by the construct's stages.
    stages = {
        stage: s.stack.resolve(s.stack.get_logical_id(key.node.default_child))
        for stage, key in auth.signing_key_stages.items()
    }
    return Layout(
        tenant_role=s.logical_id("TenantAccess/Role"),
        execution_role=s.logical_id("Execution/Role"),
        pooled_tables=tuple(pooled),
        other_tables=tuple(s.logical_id(f"Data/{t}") for t in ("Registry", "Usage", "Audit")),
        key=s.logical_id("Secrets/Key"),
        bucket=s.logical_id("Branding/Bucket"),
        silo_prefix="tenantry-silo-",
        outside_principals=outside,
        signing_key=stages[KeyStage.SIGNS],
        signing_role=s.logical_id("Auth/Role"),
        previous_signing_key=stages.get(KeyStage.PREVIOUS, ""),
        next_signing_key=stages.get(KeyStage.NEXT, ""),
        canary_role=s.logical_id("CanaryRole/Role") if s.stack.node.try_find_child("CanaryRole") else "",
    )


def other_roles(s: Synth, layout: Layout) -> tuple[str, ...]:
    return tuple(
        sorted(r for r in s.resources("AWS::IAM::Role") if r not in {layout.tenant_role, layout.execution_role})
    )


# --- mutations: one isolating condition removed or widened, in a copy of the template -----------------


def _policy_of_role(template: Template, role_id: str) -> dict[str, Any]:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            return resource["Properties"]["PolicyDocument"]  # type: ignore[no-any-return]
    raise PolicyNotFound(f"no policy attached to {role_id}")


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    for statement in document["Statement"]:
        if statement.get("Sid") == sid:
            return statement  # type: ignore[no-any-return]
    raise PolicyNotFound(f"no statement {sid}")


def _key_policy(template: Template, layout: Layout) -> dict[str, Any]:
    return template["Resources"][layout.key]["Properties"]["KeyPolicy"]  # type: ignore[no-any-return]


def _drop_denies(document: dict[str, Any]) -> None:
    denies = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    if not denies:
        raise PolicyNotFound("the policy has no Deny statement to remove")
    document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]


def _trust_statements(template: Template, layout: Layout) -> list[dict[str, Any]]:
    trust = template["Resources"][layout.tenant_role]["Properties"]["AssumeRolePolicyDocument"]
    return trust["Statement"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Mutation:
    name: str
    change: Callable[[Template, Layout], None]
    # Requests that must now be allowed (at least one must exist)...
    opens: Callable[[Case, Layout], bool] = lambda c, lay: False
    # ...and requests that must still be denied (for the layer-independence proofs).
    holds: Callable[[Case, Layout], bool] = lambda c, lay: False
    # The template it changes: "custom" for what only that variant has (a rotated signing key).
    variant: str = "default"


def _rows(template: Template, layout: Layout) -> dict[str, Any]:
    return _statement(_policy_of_role(template, layout.tenant_role), "TenantRowsOnly")


def _kms_identity(template: Template, layout: Layout) -> dict[str, Any]:
    return _statement(_policy_of_role(template, layout.tenant_role), "TenantSecretsOnly")


def _no_leading_keys_check(t: Template, lay: Layout) -> None:
    del _rows(t, lay)["Condition"]["ForAllValues:StringEquals"]


def _grant_scan(t: Template, lay: Layout) -> None:
    _rows(t, lay)["Action"] = [*_rows(t, lay)["Action"], "dynamodb:Scan"]


def _grant_scan_without_null_check(t: Template, lay: Layout) -> None:
    _grant_scan(t, lay)
    del _rows(t, lay)["Condition"]["Null"]


def _widen_silo_pattern(t: Template, lay: Layout) -> None:
    text = json.dumps(_rows(t, lay)["Resource"])
    assert "tenantry-silo-${aws:PrincipalTag/tenant_id}" in text
    _rows(t, lay)["Resource"] = json.loads(
        text.replace("tenantry-silo-${aws:PrincipalTag/tenant_id}", "tenantry-silo-*")
    )


def _rows_on_every_table(t: Template, lay: Layout) -> None:
    _rows(t, lay)["Resource"] = "*"


def _no_kms_identity_condition(t: Template, lay: Layout) -> None:
    del _kms_identity(t, lay)["Condition"]


def _no_key_policy_denies(t: Template, lay: Layout) -> None:
    _drop_denies(_key_policy(t, lay))


def _no_kms_layer_at_all(t: Template, lay: Layout) -> None:
    _no_kms_identity_condition(t, lay)
    _no_key_policy_denies(t, lay)


def _widen_objects(t: Template, lay: Layout) -> None:
    statement = _statement(_policy_of_role(t, lay.tenant_role), "TenantBrandingObjects")
    text = json.dumps(statement["Resource"])
    assert "/tenants/${aws:PrincipalTag/tenant_id}/*" in text
    statement["Resource"] = json.loads(text.replace("/tenants/${aws:PrincipalTag/tenant_id}/*", "/*"))


def _no_bucket_denies(t: Template, lay: Layout) -> None:
    for resource in t["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            document = resource["Properties"]["PolicyDocument"]
            document["Statement"] = [s for s in document["Statement"] if "Bool" in s.get("Condition", {})]


def _no_listing_prefix(t: Template, lay: Layout) -> None:
    del _statement(_policy_of_role(t, lay.tenant_role), "ListTenantBrandingPrefix")["Condition"]


def _trust_without(key: str) -> Callable[[Template, Layout], None]:
    def change(t: Template, lay: Layout) -> None:
        for statement in _trust_statements(t, lay):
            for operator in list(statement["Condition"]):
                statement["Condition"][operator].pop(key, None)
                if not statement["Condition"][operator]:
                    del statement["Condition"][operator]

    return change


def _trust_allows_wildcard_tags(t: Template, lay: Layout) -> None:
    for statement in _trust_statements(t, lay):
        del statement["Condition"]["StringNotLike"]


def _function_reads_tenant_rows(t: Template, lay: Layout) -> None:
    statement = _statement(_policy_of_role(t, lay.execution_role), "MeterUsage")
    statement["Resource"] = [statement["Resource"], {"Fn::GetAtt": [lay.pooled_tables[0], "Arn"]}]


def _signing_statement(t: Template, lay: Layout) -> dict[str, Any]:
    return _statement(t["Resources"][lay.signing_key]["Properties"]["KeyPolicy"], "OnlyTheAuthorizationServerSigns")


def _signing_key_for_the_whole_account(t: Template, lay: Layout) -> None:
    del _signing_statement(t, lay)["Condition"]


def _function_role_may_sign(t: Template, lay: Layout) -> None:
    _policy_of_role(t, lay.execution_role)["Statement"].append(
        {"Effect": "Allow", "Action": ["kms:Sign"], "Resource": {"Fn::GetAtt": [lay.signing_key, "Arn"]}}
    )


def _anyone_signs(t: Template, lay: Layout) -> None:
    _signing_key_for_the_whole_account(t, lay)
    _function_role_may_sign(t, lay)


def _published_key(stage: KeyStage, lay: Layout) -> str:
    return {KeyStage.PREVIOUS: lay.previous_signing_key, KeyStage.NEXT: lay.next_signing_key}[stage]


_PUBLISH_SID = {KeyStage.PREVIOUS: "PublishPreviousSigningKey", KeyStage.NEXT: "PublishNextSigningKey"}


def _key_policy_allows_sign(stage: KeyStage) -> Callable[[Template, Layout], None]:
    def change(t: Template, lay: Layout) -> None:
        key_policy = t["Resources"][_published_key(stage, lay)]["Properties"]["KeyPolicy"]
        _statement(key_policy, "OnlyTheAuthorizationServerPublishes")["Action"] = ["kms:GetPublicKey", "kms:Sign"]

    return change


def _server_role_may_sign_with(stage: KeyStage) -> Callable[[Template, Layout], None]:
    def change(t: Template, lay: Layout) -> None:
        _statement(_policy_of_role(t, lay.signing_role), _PUBLISH_SID[stage])["Action"] = [
            "kms:GetPublicKey",
            "kms:Sign",
        ]

    return change


def _published_key_signs(stage: KeyStage) -> Callable[[Template, Layout], None]:
    def change(t: Template, lay: Layout) -> None:
        _key_policy_allows_sign(stage)(t, lay)
        _server_role_may_sign_with(stage)(t, lay)

    return change


def _server_signs_with(stage: KeyStage) -> Callable[[Case, Layout], bool]:
    def match(c: Case, lay: Layout) -> bool:
        return (
            c.target.logical_id == _published_key(stage, lay)
            and c.who.role == lay.signing_role
            and c.action == "kms:Sign"
        )

    return match


def _signs(c: Case, lay: Layout) -> bool:
    return c.service == "kms" and c.target.logical_id == lay.signing_key and c.who.role != lay.signing_role


def _is(service: str, who: str = "", action: str = "", kind: str = "") -> Callable[[Case, Layout], bool]:
    def match(case: Case, lay: Layout) -> bool:
        role = {"tenant": lay.tenant_role, "function": lay.execution_role, "": case.who.role}[who]
        return (
            case.service == service
            and case.who.role == role
            and (not action or case.action == action)
            and (not kind or case.target.kind == kind)
        )

    return match


def _tenant_reads(*keys: list[str]) -> Callable[[Case, Layout], bool]:
    def match(c: Case, lay: Layout) -> bool:
        return (
            _is("dynamodb", "tenant", kind="table")(c, lay)
            and c.who.tenant == OWN
            and c.target.logical_id in lay.pooled_tables
            and c.action.endswith(("Item", "Query"))
            and not c.action.startswith("dynamodb:Batch")
            and c.context.get("dynamodb:LeadingKeys") in keys
        )

    return match


MUTATIONS = [
    Mutation(
        "dynamodb: no LeadingKeys check",
        _no_leading_keys_check,
        opens=_tenant_reads([OTHER], [PREFIXED], [OWN, OTHER]),
    ),
    Mutation(
        "dynamodb: Scan granted (the Null check still holds)",
        _grant_scan,
        holds=_is("dynamodb", "tenant", "dynamodb:Scan"),
    ),
    Mutation(
        "dynamodb: Scan granted and no Null check",
        _grant_scan_without_null_check,
        opens=lambda c, lay: _is("dynamodb", "tenant", "dynamodb:Scan", "table")(c, lay) and c.who.tenant == OWN,
    ),
    Mutation(
        "dynamodb: silo tables tenantry-silo-*",
        _widen_silo_pattern,
        opens=lambda c, lay: (
            _is("dynamodb", "tenant", kind="silo")(c, lay)
            and c.who.tenant == OWN
            and c.action != "dynamodb:Scan"
            and c.context.get("dynamodb:LeadingKeys") == [OWN]
            and c.target.name != OWN
        ),
    ),
    Mutation(
        "dynamodb: tenant rows on every table",
        _rows_on_every_table,
        opens=lambda c, lay: (
            _is("dynamodb", "tenant", "dynamodb:GetItem", "table")(c, lay)
            and c.who.tenant == OWN
            and c.target.logical_id in lay.other_tables
        ),
    ),
    Mutation(
        "dynamodb: the function role reads a pooled table",
        _function_reads_tenant_rows,
        opens=lambda c, lay: (
            _is("dynamodb", "function", "dynamodb:GetItem", "table")(c, lay)
            and c.target.logical_id == lay.pooled_tables[0]
        ),
    ),
    Mutation(
        "kms: identity policy without its context condition (key policy alone)",
        _no_kms_identity_condition,
        holds=lambda c, lay: c.service == "kms" and c.cross_tenant,
    ),
    Mutation(
        "kms: key policy without its Deny statements (identity policy alone)",
        _no_key_policy_denies,
        holds=lambda c, lay: c.service == "kms" and c.cross_tenant,
    ),
    Mutation(
        "kms: neither layer",
        _no_kms_layer_at_all,
        opens=lambda c, lay: (
            _is("kms", "tenant")(c, lay)
            and c.who.tenant == OWN
            and c.action in {"kms:Encrypt", "kms:Decrypt"}
            and c.context.get("kms:EncryptionContext:tenant_id") in {OTHER, PREFIXED}
        ),
    ),
    Mutation(
        "kms: signing key policy open to the whole account (IAM alone)",
        _signing_key_for_the_whole_account,
        holds=_signs,
    ),
    Mutation(
        "kms: the function role granted kms:Sign (key policy alone)",
        _function_role_may_sign,
        holds=_signs,
    ),
    Mutation(
        "kms: anyone may sign tokens",
        _anyone_signs,
        opens=lambda c, lay: _signs(c, lay) and c.who.role == lay.execution_role and c.action == "kms:Sign",
    ),
    *(
        mutation
        for stage, name in ((KeyStage.PREVIOUS, "previous"), (KeyStage.NEXT, "staged next"))
        for mutation in (
            Mutation(
                f"kms: {name} signing key's policy allows Sign (IAM alone)",
                _key_policy_allows_sign(stage),
                holds=_server_signs_with(stage),
                variant="custom",
            ),
            Mutation(
                f"kms: server role granted Sign on the {name} key (key policy alone)",
                _server_role_may_sign_with(stage),
                holds=_server_signs_with(stage),
                variant="custom",
            ),
            Mutation(
                f"kms: the {name} signing key signs",
                _published_key_signs(stage),
                opens=_server_signs_with(stage),
                variant="custom",
            ),
        )
    ),
    Mutation(
        "s3: objects anywhere in the bucket",
        _widen_objects,
        opens=lambda c, lay: _is("s3", "tenant", kind="object")(c, lay) and c.who.tenant == OWN,
    ),
    Mutation(
        "s3: listing without the prefix condition",
        _no_listing_prefix,
        opens=lambda c, lay: (
            (_is("s3", "tenant", "s3:ListBucket")(c, lay) or _is("s3", "tenant", "s3:ListBucketVersions")(c, lay))
            and c.who.tenant == OWN
        ),
    ),
    Mutation(
        "sts: trust without the tenant_id tag requirement",
        _trust_without("aws:RequestTag/tenant_id"),
        opens=lambda c, lay: (
            _is("sts", "function")(c, lay)
            and not c.context.get("aws:RequestTag/tenant_id")
            and c.context.get("aws:TagKeys", ["tenant_id"]) == ["tenant_id"]
        ),
    ),
    Mutation(
        "sts: trust accepts wildcard characters in the tenant_id tag",
        _trust_allows_wildcard_tags,
        opens=lambda c, lay: (
            _is("sts", "function")(c, lay)
            and any(ch in str(c.context.get("aws:RequestTag/tenant_id", "")) for ch in "*?$")
            and c.context.get("aws:TagKeys") == ["tenant_id"]
        ),
    ),
    Mutation(
        "sts: trust without the only-tenant_id-tag rule",
        _trust_without("aws:TagKeys"),
        opens=lambda c, lay: _is("sts", "function")(c, lay) and c.context.get("aws:TagKeys") == ["tenant_id", "plan"],
    ),
]


# --- one evaluation for the whole session ----------------------------------------------------------


@dataclass
class Run:
    layout: Layout
    table: list[Case]
    decisions: dict[str, str]  # case id -> decision, for the synthesized template


@dataclass
class Evaluated:
    variants: dict[str, Run]
    mutated: dict[str, dict[str, str]]  # mutation name -> case id -> decision (in the mutation's variant)
    canary: str


@pytest.fixture(scope="module")
def evaluated(synth: Synth, custom: Synth) -> Iterator[Evaluated]:
    batch: dict[str, dict[str, Any]] = {}
    runs: dict[str, tuple[Layout, list[Case]]] = {}
    synths = {"default": synth, "custom": custom}
    for name, variant in synths.items():
        layout = layout_of(variant)
        table = cases(layout, other_roles(variant, layout))
        model = StackPolicies.from_template(variant.raw)
        for case in table:
            batch[f"{name}#{case.id}"] = simulation(model, layout, case)
        runs[name] = (layout, table)
    broken: dict[str, str] = {}
    for mutation in MUTATIONS:
        layout, table = runs[mutation.variant]
        raw = synths[mutation.variant].raw
        try:
            model = StackPolicies.from_template(mutated(raw, lambda t, m=mutation, lay=layout: m.change(t, lay)))  # type: ignore[misc]
        except PolicyNotFound as error:  # the statement the mutation targets is gone: its test fails
            broken[mutation.name] = str(error)
            continue
        for case in table:
            batch[f"{mutation.name}#{case.id}"] = simulation(model, layout, case)
    # An input the evaluator cannot read must surface as an error, never as a denial.
    batch["canary"] = {"request": {"principal": "x"}, "identityPolicies": [{"name": "bad", "policy": 42}]}
    decisions = evaluate(batch)
    yield Evaluated(
        variants={
            name: Run(lay, tab, {c.id: decisions[f"{name}#{c.id}"] for c in tab}) for name, (lay, tab) in runs.items()
        },
        mutated={
            m.name: {
                c.id: decisions.get(f"{m.name}#{c.id}", f"Error: {broken.get(m.name)}") for c in runs[m.variant][1]
            }
            for m in MUTATIONS
        },
        canary=decisions["canary"],
    )


# --- the proofs ------------------------------------------------------------------------------------


def test_the_evaluator_is_the_pinned_version_and_reports_errors_as_errors(evaluated: Evaluated) -> None:
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["@cloud-copilot/iam-simulate"]
    installed = json.loads((EVALUATOR_PACKAGE / "package.json").read_text())["version"]
    assert installed == pinned
    assert evaluated.canary.startswith("Error"), evaluated.canary
    assert verdict(evaluated.canary) not in {"allow", "deny"}


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_own_tenant_requests_are_allowed_and_every_other_request_denied(evaluated: Evaluated, variant: str) -> None:
    run = evaluated.variants[variant]
    wrong = {c.id: run.decisions[c.id] for c in run.table if verdict(run.decisions[c.id]) != c.expect}
    assert wrong == {}
    # The table covers every service, both outcomes, and cross-tenant requests by the hundred.
    assert {c.service for c in run.table} == {"dynamodb", "kms", "s3", "sts"}
    assert sum(c.expect == "allow" for c in run.table) >= 20
    assert sum(c.cross_tenant for c in run.table) >= 140


def test_the_custom_variant_covers_every_cell_and_the_opt_in_principals(evaluated: Evaluated) -> None:
    layout = evaluated.variants["custom"].layout
    assert len(layout.pooled_tables) == 3
    assert len(layout.outside_principals) == 2
    assert layout.previous_signing_key  # generation 2: the previous key is evaluated too
    assert layout.next_signing_key  # signing_key_next: generation 3's staged key too
    assert len({layout.signing_key, layout.previous_signing_key, layout.next_signing_key}) == 3


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_each_mutation_is_caught(evaluated: Evaluated, mutation: Mutation) -> None:
    run = evaluated.variants[mutation.variant]
    after = evaluated.mutated[mutation.name]
    opened = [c for c in run.table if c.expect == "deny" and mutation.opens(c, run.layout)]
    held = [c for c in run.table if mutation.holds(c, run.layout)]
    assert opened or held, "the mutation names no request"
    for case in opened:
        assert verdict(after[case.id]) == "allow", f"{case.id}: {after[case.id]}"
    for case in held:
        assert verdict(after[case.id]) == case.expect, f"{case.id}: {after[case.id]}"
    # Whatever the mutation opens shows up as a failure of the main table: nothing it should catch slips by.
    if opened:
        assert any(verdict(after[c.id]) != c.expect for c in run.table)


def test_a_missing_policy_or_resource_fails_closed(synth: Synth) -> None:
    layout = layout_of(synth)
    table = cases(layout, other_roles(synth, layout))
    kms_case = next(c for c in table if c.service == "kms")

    def drop(logical_id: str) -> Template:
        return mutated(synth.raw, lambda t: t["Resources"].pop(logical_id))

    with pytest.raises(PolicyNotFound):
        simulation(StackPolicies.from_template(drop(layout.key)), layout, kms_case)
    # The tenant role's policy names the tables: without one, its ARN cannot be resolved.
    with pytest.raises(PolicyNotFound):
        StackPolicies.from_template(drop(layout.pooled_tables[0]))
    with pytest.raises(PolicyNotFound):
        StackPolicies.from_template(
            mutated(
                synth.raw,
                lambda t: t["Resources"][layout.tenant_role]["Properties"].update(
                    ManagedPolicyArns=["arn:aws:iam::aws:policy/SomethingUnknown"]
                ),
            )
        )
