"""Dashboard and alarms. Metrics carry the `service` dimension only, never tenant_id:
per-tenant dimensions across thousands of tenants would cost more than the platform.
Per-tenant views come from the structured logs and the usage table.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import DeployConfig
from infra.nag import acknowledge

__all__ = [
    "APP_METRICS",
    "AUTH_CRASH_PATTERN",
    "AUTH_INTERNAL_ERRORS",
    "DEPENDENCY_ERRORS_THRESHOLD",
    "TENANT_QUERIES",
    "TENANT_RULES",
    "Observability",
]

# Per-tenant views from the structured logs (tenant_id is a key on every line; see
# functions/tenantry/observability.py): Logs Insights queries an operator runs, and Contributor
# Insights rules that keep the top tenants ranked continuously. Neither costs a metric per tenant.
# Failed calls are logged in full, successful ones sampled (TENANTRY_SUCCESS_LOG_SAMPLE), each line
# with its `weight` (1 / its sampling rate): counts and durations are sums of weights, estimates for
# successes and exact for errors. The exact per-tenant counts are in the usage table.
TENANT_QUERIES = {
    "tenant-health": (
        "filter event = 'tool_call'"
        " | stats sum(weight) as calls, sum(error) as errors, 100 * sum(error) / sum(weight) as error_pct,"
        " sum(weighted_ms) / sum(weight) as mean_ms, pct(duration_ms, 99) as p99_logged_ms by tenant_id"
        " | sort calls desc | limit 100"
    ),
    "tenant-denials": (
        "filter message = 'audit' and audit.outcome = 'denied'"
        " | stats count(*) as denials by audit.tenant_id, audit.reason"
        " | sort denials desc | limit 100"
    ),
    "cross-tenant-attempts": (
        "filter message = 'audit' and audit.reason like /cross_tenant/"
        " | fields @timestamp, audit.tenant_id, audit.principal, audit.action, audit.resource, audit.request_id"
        " | sort @timestamp desc | limit 200"
    ),
}
# name -> (key, filters, aggregate, value): the Contributor Insights rule body is built from these.
TENANT_RULES: dict[str, tuple[str, list[dict[str, object]], str, str | None]] = {
    "top-tenants-by-calls": ("$.tenant_id", [{"Match": "$.event", "In": ["tool_call"]}], "Sum", "$.weight"),
    "top-tenants-by-errors": (
        "$.tenant_id",
        [{"Match": "$.event", "In": ["tool_call"]}, {"Match": "$.error", "EqualTo": 1}],
        "Count",
        None,
    ),
    "top-tenants-by-duration": (
        "$.tenant_id",
        [{"Match": "$.event", "In": ["tool_call"]}],
        "Sum",
        "$.weighted_ms",
    ),
    "top-tenants-by-denials": ("$.audit.tenant_id", [{"Match": "$.audit.outcome", "In": ["denied"]}], "Count", None),
}

NAMESPACE = "Tenantry"
DIMENSIONS = {"service": "tenantry"}
APP_METRICS = ("ToolCalls", "ToolErrors", "Refused", "CrossTenantDenied")
# Refusals by reason (quota_exceeded, rate_limited, feature_denied) from their audit lines: the first
# refusal of each tenant, tool and minute is logged at once (the audit table has the exact counts).
REFUSALS_QUERY = (
    "fields @timestamp | filter audit.outcome = 'denied' and audit.reason in "
    "['quota_exceeded', 'rate_limited', 'feature_denied'] | stats count(*) as tenant_minutes by audit.reason, "
    "bin(5m)"
)
# Mangum answers any exception of the authorization server's app with a 500 and logs this line, so
# Lambda's Errors metric never sees it (only timeouts and crashes of the runtime do). A metric filter
# on the function's log group counts the line instead (tests/faults/test_alarm_metrics.py shows the
# line is what an exception in the app writes).
AUTH_CRASH_PATTERN = "An error occurred running the application"
AUTH_INTERNAL_ERRORS = "AuthInternalErrors"
# AWS faults that outlived botocore's retries, per five minutes, in two of three periods: a few are a
# blip (each is already a clear, retryable tool error), a steady stream is an outage of a dependency.
DEPENDENCY_ERRORS_THRESHOLD = 10
PERIOD = Duration.minutes(5)


def app_metric(name: str, statistic: str = "Sum", period: Duration = PERIOD) -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE, metric_name=name, dimensions_map=DIMENSIONS, statistic=statistic, period=period
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeployConfig,
        function: lambda_.Function,
        api: apigw.HttpApi,
        auth: lambda_.Function,
        auth_logs: logs.ILogGroup,
        premium: lambda_.Function | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alarms", display_name="Tenantry alarms", enforce_ssl=True)
        acknowledge(
            self.topic,
            "AwsSolutions-SNS2",
            "Alarm notices carry alarm names and numbers, no customer data; CloudWatch cannot "
            "publish to a topic under the aws/sns key, and a dedicated key buys nothing here.",
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        notify = cw_actions.SnsAction(self.topic)

        # Each function gets the same alarms and graphs; the premium one's ids and titles say so.
        functions = {"": function, **({"Premium": premium} if premium is not None else {})}
        rates, durations, throttles = [], [], []
        self.alarms: dict[str, cw.Alarm] = {}
        for prefix, fn in functions.items():
            label = f"{prefix} function" if prefix else "Function"
            invocations = fn.metric_invocations(period=PERIOD, statistic="Sum")
            errors = fn.metric_errors(period=PERIOD, statistic="Sum")
            # Ids must differ between functions: the graph holds both expressions.
            calls, failed = f"{prefix.lower()}invocations", f"{prefix.lower()}errors"
            error_rate = cw.MathExpression(
                expression=f"IF({calls} > 0, 100 * {failed} / {calls}, 0)",
                using_metrics={calls: invocations, failed: errors},
                label=f"{label} error rate (%)",
                period=PERIOD,
            )
            p50 = fn.metric_duration(period=PERIOD, statistic="p50")
            p99 = fn.metric_duration(period=PERIOD, statistic="p99")
            rates.append(error_rate)
            # Labels on the graph only: a labelled metric makes its alarm a metric-math alarm.
            durations += [p50.with_(label=f"{label} p50"), p99.with_(label=f"{label} p99")]
            throttles.append(fn.metric_throttles(period=PERIOD, statistic="Sum", label=f"{label} throttles"))
            what = f"{prefix.lower()} MCP calls" if prefix else "MCP calls"
            self.alarms[f"{prefix}ErrorRate"] = error_rate.create_alarm(
                self,
                f"{prefix}ErrorRate",
                alarm_description=f"More than {config.alarm_error_rate_percent:g}% of {what} failed",
                threshold=config.alarm_error_rate_percent,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            self.alarms[f"{prefix}P99Duration"] = p99.create_alarm(
                self,
                f"{prefix}P99Duration",
                alarm_description=f"p99 {label.lower()} duration above {config.alarm_p99_ms} ms",
                threshold=config.alarm_p99_ms,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        # One refused cross-tenant attempt is worth a look: a bug or a probe. Both functions emit
        # the app metrics under the same service dimension, so one alarm covers both.
        self.alarms["CrossTenantDenied"] = app_metric("CrossTenantDenied", period=Duration.minutes(1)).create_alarm(
            self,
            "CrossTenantDenied",
            alarm_description="A request tried to reach another tenant's data (see the audit table)",
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self._error_alarms(config, api, auth, auth_logs)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(notify)

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{config.name_prefix}-mcp")
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Tool calls and errors",
                left=[app_metric("ToolCalls"), app_metric("ToolErrors")],
                right=rates,
                width=12,
            ),
            cw.GraphWidget(title="Function duration (ms)", left=durations, width=12),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Throttles",
                left=[*throttles, api.metric_client_error(period=PERIOD), api.metric_server_error(period=PERIOD)],
                width=8,
            ),
            cw.GraphWidget(title="Refused calls (quota, rate, plan feature)", left=[app_metric("Refused")], width=8),
            cw.GraphWidget(title="Cross-tenant denials", left=[app_metric("CrossTenantDenied")], width=8),
        )
        # Premium tenants' lines are in the premium function's log group: the per-tenant views read both.
        self._tenant_views(config, [fn.log_group.log_group_name for fn in functions.values()])

    def _error_alarms(
        self, config: DeployConfig, api: apigw.HttpApi, auth: lambda_.Function, auth_logs: logs.ILogGroup
    ) -> None:
        """Errors the function's own Errors metric cannot see: Mangum turns every exception into a 500."""
        # The gateway's outermost handler (mcp_server/gateway.py): a bug, one is worth a look.
        self.alarms["InternalErrors"] = app_metric("InternalErrors").create_alarm(
            self,
            "InternalErrors",
            alarm_description="An MCP request failed with an unexpected error (a bug: see the function's logs)",
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        # Tools and admission (mcp_server/tools, server.py): DynamoDB, STS, KMS or S3 failing after retries.
        self.alarms["DependencyErrors"] = app_metric("DependencyErrors").create_alarm(
            self,
            "DependencyErrors",
            alarm_description=(
                f"At least {DEPENDENCY_ERRORS_THRESHOLD} AWS calls per 5 minutes failed after retries "
                "(DynamoDB, STS, KMS or S3)"
            ),
            threshold=DEPENDENCY_ERRORS_THRESHOLD,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        # ToolErrors is graphed, not alarmed: it counts a tenant's own mistakes too (an unknown customer
        # id, a stale expected_version), which no operator can act on.
        requests = api.metric_count(period=PERIOD, statistic="Sum")
        server_errors = api.metric_server_error(period=PERIOD, statistic="Sum")
        self.alarms["ApiServerErrorRate"] = cw.MathExpression(
            expression="IF(requests > 0, 100 * errors5xx / requests, 0)",
            using_metrics={"requests": requests, "errors5xx": server_errors},
            label="API 5xx rate (%)",
            period=PERIOD,
        ).create_alarm(
            self,
            "ApiServerErrorRate",
            alarm_description=(
                f"More than {config.alarm_error_rate_percent:g}% of the API's requests got a 5xx "
                "(both functions, the authorization server and API Gateway's own 502/503/504)"
            ),
            threshold=config.alarm_error_rate_percent,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.auth_crashes = logs.MetricFilter(
            self,
            "AuthCrashes",
            log_group=auth_logs,
            filter_pattern=logs.FilterPattern.literal(f'"{AUTH_CRASH_PATTERN}"'),
            metric_namespace=NAMESPACE,
            metric_name=AUTH_INTERNAL_ERRORS,
            metric_value="1",
        )
        crashes = cw.Metric(namespace=NAMESPACE, metric_name=AUTH_INTERNAL_ERRORS, statistic="Sum", period=PERIOD)
        self.alarms["AuthErrors"] = cw.MathExpression(
            expression="FILL(crashes, 0) + FILL(failed, 0)",
            using_metrics={"crashes": crashes, "failed": auth.metric_errors(period=PERIOD, statistic="Sum")},
            label="Authorization server errors",
            period=PERIOD,
        ).create_alarm(
            self,
            "AuthErrors",
            alarm_description="The authorization server failed a request (an exception, a timeout or a crash)",
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        # Its reserved concurrency is full: sign-ins and refreshes are being refused with 429/503.
        self.alarms["AuthThrottles"] = auth.metric_throttles(period=PERIOD, statistic="Sum").create_alarm(
            self,
            "AuthThrottles",
            alarm_description="The authorization server's reserved concurrency was exhausted (sign-ins refused)",
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

    def watch(self, name: str, alarm: cw.Alarm) -> None:
        """An alarm another construct made that notifies the topic: named in the topic's publish policy."""
        self.alarms[name] = alarm

    def let_alarms_publish(self) -> None:
        """Once every alarm is known (the stack calls it last): the topic policy names each of them."""
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default policy: without
        # this statement CloudWatch may not publish and no alarm reaches anyone. Scoped to this stack's
        # alarms (aws:SourceArn) in this account (aws:SourceAccount), against the confused deputy.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": [alarm.alarm_arn for alarm in self.alarms.values()]},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )

    def _tenant_views(self, config: DeployConfig, log_group_names: list[str]) -> None:
        # L1 on purpose: the L2 QueryDefinition only builds queries from parts, these are plain text.
        self.queries = [
            logs.CfnQueryDefinition(
                self,
                f"Query-{name}",
                name=f"{config.name_prefix}/{name}",
                query_string=query,
                log_group_names=log_group_names,
            )
            for name, query in TENANT_QUERIES.items()
        ]
        self.rules = []
        for name, (key, filters, aggregate, value) in TENANT_RULES.items():
            contribution: dict[str, object] = {"Keys": [key], "Filters": filters}
            if value:
                contribution["ValueOf"] = value
            body = {
                "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
                "LogGroupNames": log_group_names,
                "LogFormat": "JSON",
                "Contribution": contribution,
                "AggregateOn": aggregate,
            }
            self.rules.append(
                cw.CfnInsightRule(
                    self,
                    f"Rule-{name}",
                    rule_name=f"{config.name_prefix}-{name}",
                    rule_state="ENABLED",
                    rule_body=Stack.of(self).to_json_string(body),
                )
            )
        self.dashboard.add_widgets(
            cw.LogQueryWidget(
                title="Per-tenant health (calls, errors, p50/p99 ms) - top 100 by calls",
                log_group_names=log_group_names,
                query_string=TENANT_QUERIES["tenant-health"],
                view=cw.LogQueryVisualizationType.TABLE,
                width=24,
            ),
            cw.LogQueryWidget(
                title="Refusals by reason (tenant-minutes, from the audit lines)",
                log_group_names=log_group_names,
                query_string=REFUSALS_QUERY,
                view=cw.LogQueryVisualizationType.STACKEDAREA,
                width=24,
            ),
        )
