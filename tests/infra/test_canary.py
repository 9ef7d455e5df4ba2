"""The isolation canary in the stack: scheduled, on the MCP function's code and layer, alarmed, least privilege."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.canary import CANARY_HANDLER
from tenantry.canary.runner import VIOLATION_METRIC
from tests.infra.conftest import Synth


def props(synth: Synth, path: str) -> dict[str, Any]:
    return synth.raw["Resources"][synth.logical_id(path)]["Properties"]  # type: ignore[no-any-return]


def test_the_canary_runs_the_mcp_functions_code_and_layer_with_its_own_role(synth: Synth) -> None:
    fn, mcp = props(synth, "Canary/Function"), props(synth, "Mcp/Function")
    assert fn["Handler"] == CANARY_HANDLER == "tenantry.canary.handler.handler"
    assert fn["Code"] == mcp["Code"] and fn["Layers"] == mcp["Layers"]
    assert fn["Runtime"] == mcp["Runtime"] and fn["Architectures"] == ["arm64"]
    assert fn["Role"] == {"Fn::GetAtt": [synth.logical_id("CanaryRole/Role"), "Arn"]} != mcp["Role"]
    assert fn["ReservedConcurrentExecutions"] == 1
    # The same settings as the MCP function: the same tables, key, bucket and tenant role.
    env, mcp_env = fn["Environment"]["Variables"], mcp["Environment"]["Variables"]
    for name in (
        "TENANTRY_CELL_TABLES",
        "TENANTRY_TENANT_ROLE_ARN",
        "TENANTRY_SECRETS_KEY_ARN",
        "TENANTRY_AUDIT_TABLE",
    ):
        assert env[name] == mcp_env[name], name


def test_every_five_minutes_by_default_and_none_when_the_context_is_zero(synth: Synth, custom: Synth) -> None:
    (rule,) = synth.resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [synth.logical_id("Canary/Function"), "Arn"]}
    assert custom.stack.node.try_find_child("Canary") is None
    assert custom.stack.node.try_find_child("CanaryRole") is None
    assert not custom.resources("AWS::Events::Rule")
    assert "CanaryFunctionName" in synth.raw["Outputs"] and "CanaryFunctionName" not in custom.raw["Outputs"]


def test_a_violation_or_a_silent_canary_notifies_the_alarm_topic(synth: Synth) -> None:
    topic = {"Ref": synth.logical_id("Observability/Alarms")}
    violation, silent = props(synth, "Canary/Violation"), props(synth, "Canary/Silent")
    assert violation["MetricName"] == silent["MetricName"] == VIOLATION_METRIC
    assert violation["Namespace"] == "Tenantry" and violation["Dimensions"] == [
        {"Name": "service", "Value": "tenantry"}
    ]
    assert violation["Threshold"] == 0 and violation["ComparisonOperator"] == "GreaterThanThreshold"
    assert violation["TreatMissingData"] == "notBreaching"
    assert "HIGH SEVERITY" in violation["AlarmDescription"]
    assert silent["TreatMissingData"] == "breaching" and silent["EvaluationPeriods"] == 3
    assert violation["AlarmActions"] == silent["AlarmActions"] == [topic]


def test_the_canary_role_writes_the_audit_table_and_assumes_the_tenant_role_only(synth: Synth) -> None:
    role_id = synth.logical_id("CanaryRole/Role")
    statements = [
        st
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert actions == {
        "dynamodb:PutItem",
        "sts:AssumeRole",
        "sts:TagSession",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    put = next(st for st in statements if st["Action"] == "dynamodb:PutItem")
    assert put["Resource"] == {"Fn::GetAtt": [synth.logical_id("Data/Audit"), "Arn"]}
    # The tenant role trusts it with exactly the tag conditions it sets for the function's role (CDK
    # merges the two statements into one with both principals when they are the same).
    trust = props(synth, "TenantAccess/Role")["AssumeRolePolicyDocument"]["Statement"]

    def conditions_for(role: str) -> set[str]:
        arn = {"Fn::GetAtt": [synth.logical_id(role), "Arn"]}
        return {
            json.dumps(st["Condition"], sort_keys=True)
            for st in trust
            for principal in [st["Principal"].get("AWS")]
            if principal == arn or (isinstance(principal, list) and arn in principal)
        }

    mine = conditions_for("CanaryRole/Role")
    assert mine and mine == conditions_for("Execution/Role")
    assert all("aws:RequestTag/tenant_id" in c for c in mine)
