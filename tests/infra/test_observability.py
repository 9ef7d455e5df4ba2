"""Alarms reach the SNS topic; metrics never carry a tenant_id dimension."""

from __future__ import annotations

import json

from tests.infra.conftest import Synth


def alarms_by_name(synth: Synth) -> dict[str, dict]:  # type: ignore[type-arg]
    return {name: alarm["Properties"] for name, alarm in synth.resources("AWS::CloudWatch::Alarm").items()}


# Per function: error rate and p99; once: cross-tenant denials, internal errors, dependency errors, the
# API's 5xx rate, and the authorization server's errors and throttles.
SHARED_ALARMS = 6


def test_alarms_for_error_rate_p99_and_any_cross_tenant_denial_notify_the_topic(synth: Synth) -> None:
    alarms = alarms_by_name(synth)
    # The isolation canary's two alarms are tested with it (tests/infra/test_canary.py).
    assert len([name for name in alarms if not name.startswith("Canary")]) == 2 + SHARED_ALARMS
    (topic_id,) = synth.resources("AWS::SNS::Topic")
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]

    cross = next(p for p in alarms.values() if p.get("MetricName") == "CrossTenantDenied")
    assert cross["Namespace"] == "Tenantry"
    assert cross["Dimensions"] == [{"Name": "service", "Value": "tenantry"}]
    assert (cross["Threshold"], cross["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert cross["EvaluationPeriods"] == 1
    assert cross["Statistic"] == "Sum"

    p99 = next(p for p in alarms.values() if p.get("MetricName") == "Duration")
    assert p99["ExtendedStatistic"] == "p99"
    assert p99["Threshold"] == 5000

    rate = next(p for p in alarms.values() if "errors / invocations" in json.dumps(p))
    expression = next(m for m in rate["Metrics"] if "Expression" in m)
    assert "errors / invocations" in expression["Expression"]
    assert rate["Threshold"] == 5


def test_email_subscription_only_when_asked(synth: Synth, custom: Synth) -> None:
    assert not synth.resources("AWS::SNS::Subscription")
    (subscription,) = custom.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


def test_dashboard_shows_the_platform_metrics_without_tenant_dimensions(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ToolCalls",
        "ToolErrors",
        "Refused",
        "CrossTenantDenied",
        "feature_denied",  # the refusals' breakdown by reason, from their audit lines
        "Throttles",
        "p99",
    ):
        assert metric in body, metric
    from infra.constructs.observability import TENANT_QUERIES

    assert "tenant_id" not in json.dumps(synth.resources("AWS::CloudWatch::Alarm"))
    # The only tenant_id on the dashboard is inside the per-tenant Logs Insights widget's query.
    assert body.count("tenant_id") == TENANT_QUERIES["tenant-health"].count("tenant_id")


def test_per_tenant_views_come_from_logs_not_metric_dimensions(synth: Synth) -> None:
    from infra.constructs.observability import TENANT_QUERIES, TENANT_RULES

    queries = synth.resources("AWS::Logs::QueryDefinition")
    assert sorted(q["Properties"]["Name"].split("/")[-1] for q in queries.values()) == sorted(TENANT_QUERIES)
    for query in queries.values():
        assert "tenant_id" in query["Properties"]["QueryString"]
        assert query["Properties"]["LogGroupNames"], "a saved query must name the function's log group"
    rules = synth.resources("AWS::CloudWatch::InsightRule")
    assert len(rules) == len(TENANT_RULES)
    for rule in rules.values():
        body = json.dumps(rule["Properties"]["RuleBody"])
        assert "tenant_id" in body and "CloudWatchLogRule" in body
        assert rule["Properties"]["RuleState"] == "ENABLED"
    dashboard = json.dumps(next(iter(synth.resources("AWS::CloudWatch::Dashboard").values())))
    assert "Per-tenant health" in dashboard and "event = 'tool_call'" in dashboard


def test_the_premium_function_gets_its_own_alarms_and_graphs(synth: Synth, custom: Synth) -> None:
    premium = {"Ref": custom.logical_id("Premium/Function")}
    shared = {"Ref": custom.logical_id("Mcp/Function")}
    alarms = alarms_by_name(custom)
    assert len(alarms) == 4 + SHARED_ALARMS
    (topic_id,) = custom.resources("AWS::SNS::Topic")

    def watches(props: dict, function: dict) -> bool:  # type: ignore[type-arg]
        text = json.dumps(props)
        return json.dumps({"Name": "FunctionName", "Value": function}) in text

    for function in (shared, premium):
        mine = [p for p in alarms.values() if watches(p, function)]
        assert len(mine) == 2, function  # error rate and p99 duration
        assert {"Metrics" in p for p in mine} == {True, False}
        assert all(p["AlarmActions"] == [{"Ref": topic_id}] for p in mine)
    (dashboard,) = custom.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert custom.logical_id("Premium/Function") in body
    assert "Premium function p99" in body and "Premium function throttles" in body
    # The per-tenant views read both functions' log groups.
    for query in custom.resources("AWS::Logs::QueryDefinition").values():
        assert len(query["Properties"]["LogGroupNames"]) == 2
    # Without a premium function nothing premium appears.
    assert "Premium" not in json.dumps(synth.resources("AWS::CloudWatch::Alarm"))


def test_cloudwatch_may_publish_to_the_topic_for_this_stacks_alarms_only_and_tls_is_still_enforced(
    synth: Synth,
) -> None:
    # enforce_ssl gives the topic its own policy, which replaces SNS's default: without an Allow for
    # CloudWatch, no alarm would reach the subscribers.
    (topic_id,) = synth.resources("AWS::SNS::Topic")
    (policy,) = synth.resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}
    publish = statements["CloudWatchAlarmsPublish"]
    assert publish["Effect"] == "Allow"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": topic_id}
    alarm_arns = [{"Fn::GetAtt": [name, "Arn"]} for name in synth.resources("AWS::CloudWatch::Alarm")]
    assert sorted(map(json.dumps, publish["Condition"]["ArnEquals"]["aws:SourceArn"])) == sorted(
        map(json.dumps, alarm_arns)
    )
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def _alarm(synth: Synth, construct: str) -> dict:  # type: ignore[type-arg]
    return synth.raw["Resources"][synth.logical_id(f"Observability/{construct}")]["Properties"]  # type: ignore[no-any-return]


def test_the_api_5xx_rate_alarm_reads_the_stages_api(synth: Synth) -> None:
    props = _alarm(synth, "ApiServerErrorRate")
    metrics = {m["Id"]: m for m in props["Metrics"]}
    api = {"Ref": synth.logical_id("Api/Api")}
    for id_, name in (("requests", "Count"), ("errors5xx", "5xx")):
        stat = metrics[id_]["MetricStat"]
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [{"Name": "ApiId", "Value": api}]
        assert stat["Stat"] == "Sum"
    assert "100 * errors5xx / requests" in metrics[next(i for i in metrics if "Expression" in metrics[i])]["Expression"]
    assert props["Threshold"] == 5


def test_the_authorization_server_alarms_watch_its_function_and_its_crash_line(synth: Synth) -> None:
    from infra.constructs.observability import AUTH_CRASH_PATTERN, AUTH_INTERNAL_ERRORS

    auth = {"Ref": synth.logical_id("Auth/Function")}
    errors = _alarm(synth, "AuthErrors")
    stats = [m["MetricStat"]["Metric"] for m in errors["Metrics"] if "MetricStat" in m]
    assert {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": auth}],
    } in stats
    assert {"Namespace": "Tenantry", "MetricName": AUTH_INTERNAL_ERRORS} in stats
    (metric_filter,) = synth.resources("AWS::Logs::MetricFilter").values()
    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": synth.logical_id("Auth/Logs")}
    assert metric_filter["Properties"]["FilterPattern"] == f'"{AUTH_CRASH_PATTERN}"'
    (transformation,) = metric_filter["Properties"]["MetricTransformations"]
    assert transformation == {"MetricNamespace": "Tenantry", "MetricName": AUTH_INTERNAL_ERRORS, "MetricValue": "1"}
    throttles = _alarm(synth, "AuthThrottles")
    assert (throttles["Namespace"], throttles["MetricName"]) == ("AWS/Lambda", "Throttles")
    assert throttles["Dimensions"] == [{"Name": "FunctionName", "Value": auth}]
