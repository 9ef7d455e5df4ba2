"""The isolation canary: a scheduled function that, as a synthetic tenant, tries to reach another one.

It runs the MCP function's code (same asset, same layer version) with its own role: that role may
write the audit table (violation records and the last run) and assume the tenant role under the very
tag rules the MCP function's role does, nothing else. Two alarms on the SNS alarm topic: any
violation (high severity), and a canary that stopped reporting (it then proves nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.data import TenantData
from infra.constructs.functions import RUNTIME, function_code, retention
from infra.nag import acknowledge
from layers.build import LAMBDA_PYTHON, BuiltAsset

__all__ = ["CANARY_HANDLER", "CanaryRole", "IsolationCanary", "violation_metric"]

CANARY_HANDLER = "tenantry.canary.handler.handler"
# Keep in step with tenantry.canary.runner.VIOLATION_METRIC and the runtime's metric dimensions.
VIOLATION_METRIC = "CanaryViolations"


def violation_metric(period: Duration) -> cw.Metric:
    return cw.Metric(
        namespace="Tenantry",
        metric_name=VIOLATION_METRIC,
        dimensions_map={"service": "tenantry"},
        statistic="Maximum",
        period=period,
    )


class CanaryRole(Construct):
    """Made before the tenant role, which names it in its trust policy (with the same tag conditions)."""

    def __init__(self, scope: Construct, id: str, *, data: TenantData) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Tenantry isolation canary: tenant data only via the tenant role; audit writes",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="WriteCanaryAudit", actions=["dynamodb:PutItem"], resources=[data.audit.table_arn])
        )


class IsolationCanary(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeployConfig,
        role: iam.Role,
        code: BuiltAsset,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, id)
        minutes = config.canary_schedule_minutes
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=CANARY_HANDLER,
            code=function_code(code),
            layers=[layer],
            role=role,
            memory_size=256,
            # ~25 requests with retries; well under a minute even when AWS is slow.
            timeout=Duration.seconds(60),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            # One run at a time: a slow run must not overlap the next scheduled one.
            reserved_concurrent_executions=1,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": "tenantry",
                "POWERTOOLS_METRICS_NAMESPACE": "Tenantry",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            description="Tenantry isolation canary: as a synthetic tenant, tries to reach another one",
        )
        self.log_group.grant_write(role)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Pinned to Python {LAMBDA_PYTHON} with the MCP function, whose code and layer it runs.",
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
            description=f"Run the isolation canary every {minutes} minute(s)",
            # No retry: the next scheduled run is the retry, and the silence alarm covers a gap.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        notify = cw_actions.SnsAction(topic)
        self.violation_alarm = violation_metric(Duration.minutes(minutes)).create_alarm(
            self,
            "Violation",
            alarm_description=(
                "HIGH SEVERITY: the isolation canary saw a cross-tenant request allowed or its own access fail "
                "(the audit table's tenantry-canary-a records name each request; `tenantry canary status`)"
            ),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        # Three schedule periods without a number: the canary is not running, so nothing is proven.
        # (CloudWatch caps an alarm's periods times evaluations at one day.)
        silent_periods = max(1, min(3, 1440 // minutes))
        self.silence_alarm = (
            violation_metric(Duration.minutes(minutes))
            .with_(statistic="SampleCount")
            .create_alarm(
                self,
                "Silent",
                alarm_description=(
                    f"The isolation canary has not reported for {silent_periods} run(s): isolation is unchecked"
                ),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=silent_periods,
                datapoints_to_alarm=silent_periods,
                treat_missing_data=cw.TreatMissingData.BREACHING,
            )
        )
        for alarm in (self.violation_alarm, self.silence_alarm):
            alarm.add_alarm_action(notify)
