"""The isolation the template promises: the function alone cannot touch tenant data, and a tenant
session reaches only rows, secrets and files keyed by its own tenant_id tag."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

TAG = "${aws:PrincipalTag/tenant_id}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of_role(synth: Synth, role_path: str) -> list[dict[str, Any]]:
    role_id = synth.logical_id(role_path)
    found = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    for inline in synth.raw["Resources"][role_id]["Properties"].get("Policies", []):
        found += inline["PolicyDocument"]["Statement"]
    return found


def refs(value: Any) -> str:
    return json.dumps(value)


def tenant_table_ids(synth: Synth) -> list[str]:
    ids = [synth.logical_id("Data/Data")]
    n = 1
    while synth.stack.node.find_child("Data").node.try_find_child(f"DataCell{n}") is not None:
        ids.append(synth.logical_id(f"Data/DataCell{n}"))
        n += 1
    return ids


def test_tenant_rows_are_pinned_to_the_session_tag_on_every_data_table(synth: Synth, custom: Synth) -> None:
    for variant in (synth, custom):
        (statement,) = [
            s
            for s in statements_of_role(variant, "TenantAccess/Role")
            if any(a.startswith("dynamodb:") for a in _list(s["Action"]))
        ]
        assert statement["Condition"]["ForAllValues:StringEquals"] == {"dynamodb:LeadingKeys": [TAG]}
        assert statement["Condition"]["Null"] == {"dynamodb:LeadingKeys": "false"}
        # Scan carries no LeadingKeys, and ForAllValues over nothing is true: it must never be granted.
        assert set(statement["Action"]) == {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:BatchWriteItem",  # a move's copy; ForAllValues holds every key of a batch to the tag
        }
        resources = refs(statement["Resource"])
        for table_id in tenant_table_ids(variant):
            assert table_id in resources
        assert f":table/tenantry-silo-{TAG}" in resources
    assert len(tenant_table_ids(custom)) == 3


def test_tenant_secrets_have_two_layers_an_identity_condition_and_key_policy_denies(synth: Synth) -> None:
    # The decisions themselves are in test_policy_evaluation.py; this pins the shape that makes the
    # layers independent: the key policy never allows the role by name (that would bypass IAM).
    key_id = synth.logical_id("Secrets/Key")
    role_arn = {"Fn::GetAtt": [synth.logical_id("TenantAccess/Role"), "Arn"]}
    (iam_statement,) = [
        s
        for s in statements_of_role(synth, "TenantAccess/Role")
        if any(a.startswith("kms:") for a in _list(s["Action"]))
    ]
    assert iam_statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:tenant_id": TAG}}
    assert iam_statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key_policy = synth.raw["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    crypto = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    allows = [s for s in key_policy if s["Effect"] == "Allow" and crypto & set(_list(s["Action"]))]
    (delegation,) = allows
    assert delegation["Principal"]["AWS"]["Fn::Join"][1][-1] == ":root"
    assert delegation["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role_arn}}
    denies = {s["Sid"]: s for s in key_policy if s["Effect"] == "Deny"}
    assert set(denies) == {"DenyOtherTenantsContext", "DenyWithoutTenantTag", "DenyWithoutTenantContext"}
    for deny in denies.values():
        assert crypto <= set(deny["Action"])
        assert deny["Condition"]["ArnEquals"] == {"aws:PrincipalArn": role_arn}
    assert "role" not in json.dumps([s["Principal"] for s in key_policy])


def test_tenant_branding_is_limited_to_the_sessions_prefix(synth: Synth) -> None:
    s3 = [
        s
        for s in statements_of_role(synth, "TenantAccess/Role")
        if any(a.startswith("s3:") for a in _list(s["Action"]))
    ]
    objects = next(s for s in s3 if "s3:GetObject" in s["Action"])
    assert objects["Resource"]["Fn::Join"][1][-1] == f"/tenants/{TAG}/*"
    listing = next(s for s in s3 if s["Action"] == ["s3:ListBucket", "s3:ListBucketVersions"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"tenants/{TAG}/*"]}}


def test_only_the_function_and_canary_roles_can_assume_tenant_access_and_only_with_a_tenant_tag(
    synth: Synth, custom: Synth
) -> None:
    trust = synth.raw["Resources"][synth.logical_id("TenantAccess/Role")]["Properties"]["AssumeRolePolicyDocument"]
    function_role = {"Fn::GetAtt": [synth.logical_id("Execution/Role"), "Arn"]}
    # The isolation canary becomes its synthetic tenants the way the function becomes any tenant (CDK merges
    # the two principals into one statement: the conditions are the same).
    canary_role = {"Fn::GetAtt": [synth.logical_id("CanaryRole/Role"), "Arn"]}
    without_canary = custom.raw["Resources"][custom.logical_id("TenantAccess/Role")]["Properties"]
    assert "CanaryRole" not in json.dumps(without_canary["AssumeRolePolicyDocument"])
    actions = set()
    for statement in trust["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": [canary_role, function_role]}
        assert statement["Condition"] == {
            "StringLike": {"aws:RequestTag/tenant_id": "?*"},
            # No wildcard or variable characters in the tag (a '*' tag could stand for every tenant).
            "StringNotLike": {"aws:RequestTag/tenant_id": ["*${*}*", "*${?}*", "*${$}*"]},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["tenant_id"]},
        }
        actions |= set(_list(statement["Action"]))
    assert actions == {"sts:AssumeRole", "sts:TagSession"}


@pytest.mark.parametrize("name", ["tenantry-e2e", "tenantry-operator"])
def test_the_opt_in_principals_get_the_same_tag_rules(synth: Synth, custom: Synth, name: str) -> None:
    trust = custom.raw["Resources"][custom.logical_id("TenantAccess/Role")]["Properties"]["AssumeRolePolicyDocument"]
    (extra,) = [s for s in trust["Statement"] if name in json.dumps(s["Principal"])]
    assert set(extra["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assert extra["Condition"]["StringLike"] == {"aws:RequestTag/tenant_id": "?*"}
    assert extra["Condition"]["StringNotLike"] == {"aws:RequestTag/tenant_id": ["*${*}*", "*${?}*", "*${$}*"]}
    assert extra["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["tenant_id"]}
    default = synth.raw["Resources"][synth.logical_id("TenantAccess/Role")]["Properties"]["AssumeRolePolicyDocument"]
    assert name not in json.dumps(default)


def test_the_function_role_cannot_reach_tenant_data_on_its_own(synth: Synth, custom: Synth) -> None:
    for variant in (synth, custom):
        statements = statements_of_role(variant, "Execution/Role")
        granted: dict[str, set[str]] = {}
        for statement in statements:
            assert statement["Effect"] == "Allow"
            for action in _list(statement["Action"]):
                assert not action.startswith(("kms:", "s3:")), action
                if action.startswith("dynamodb:"):
                    granted.setdefault(refs(statement["Resource"]), set()).add(action)
        for table_id in tenant_table_ids(variant):
            assert not any(table_id in resource for resource in granted), table_id
        assert not any("silo" in resource for resource in granted)
        # Exactly: registry read, usage metering, audit append.
        by_table = {
            variant.logical_id("Data/Registry"): {"dynamodb:GetItem"},
            # No Query: nothing in the function reads more than its own month's item.
            variant.logical_id("Data/Usage"): {"dynamodb:UpdateItem", "dynamodb:GetItem"},
            variant.logical_id("Data/Audit"): {"dynamodb:PutItem"},
        }
        assert {json.loads(r)["Fn::GetAtt"][0]: a for r, a in granted.items()} == by_table
        assume = [s for s in statements if "sts:AssumeRole" in _list(s["Action"])]
        assert assume == [
            {
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [variant.logical_id("TenantAccess/Role"), "Arn"]},
                "Sid": "AssumeTenantAccessRole",
            }
        ]


def test_no_wildcard_actions_and_wildcard_resources_only_where_aws_has_nothing_narrower(synth: Synth) -> None:
    allowed_star = {
        frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}),  # X-Ray has no resource ARNs
    }
    documents = [p["Properties"]["PolicyDocument"] for p in synth.resources("AWS::IAM::Policy").values()]
    key_policies = [k["Properties"]["KeyPolicy"] for k in synth.resources("AWS::KMS::Key").values()]
    # A loop over nothing passes: the synth must hold policies and keys, each with statements.
    assert documents and key_policies, (len(documents), len(key_policies))
    for document in documents + key_policies:
        assert document["Statement"], document
        for statement in document["Statement"]:
            for action in _list(statement["Action"]):
                assert "*" not in action, action
            if statement.get("Resource") == "*" and document not in key_policies:
                assert frozenset(_list(statement["Action"])) in allowed_star, statement
