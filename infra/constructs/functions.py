"""The MCP function: code from functions/, dependencies in a layer, its log group and tracing.

Both assets are built by layers/build.py (pip-style wheel install for Linux arm64,
no Docker) and named by a hash of their inputs, so CDK need not hash them again.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import DeployConfig
from infra.nag import acknowledge
from layers.build import LAMBDA_PYTHON, BuiltAsset

__all__ = ["ALIAS", "HANDLER", "McpFunction", "function_code", "retention"]

HANDLER = "tenantry.mcp_server.handler.handler"
# What API Gateway invokes: a published version, so SnapStart (which never applies to $LATEST) can.
ALIAS = "live"
# Keep in step with layers.build.LAMBDA_PYTHON: the wheels and bytecode are built for this version.
RUNTIME = {"3.13": lambda_.Runtime.PYTHON_3_13}[LAMBDA_PYTHON]
# API Gateway gives up on an integration after 30 s; the function stops first so the error is ours.
TIMEOUT = Duration.seconds(28)

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def function_code(code: BuiltAsset) -> lambda_.Code:
    """The functions' one code asset: the same hash everywhere, so it is uploaded once."""
    return lambda_.Code.from_asset(str(code.path), asset_hash=f"code-{code.key}")


def retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


class McpFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeployConfig,
        role: iam.Role,
        code: BuiltAsset,
        layer: BuiltAsset | lambda_.ILayerVersion,
        environment: Mapping[str, str],
        reserved_concurrency: int = 0,
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The premium function reuses the first function's layer version rather than publishing its own.
        self.layer = (
            lambda_.LayerVersion(
                self,
                "Dependencies",
                code=lambda_.Code.from_asset(str(layer.path), asset_hash=f"layer-{layer.key}"),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[lambda_.Architecture.ARM_64],
                description=f"Tenantry runtime dependencies from uv.lock ({layer.key})",
            )
            if isinstance(layer, BuiltAsset)
            else layer
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=function_code(code),
            layers=[self.layer],
            role=role,
            memory_size=config.memory_mb,
            timeout=TIMEOUT,
            log_group=self.log_group,
            # Advanced logging controls: Lambda drops lines below these levels before ingestion, so
            # an operator turns full logging on by context (docs/operations.md), not by a code change.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[config.log_level],
            system_log_level_v2=lambda_.SystemLogLevel[config.system_log_level],
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            # Init (imports, app, botocore models) runs once per published version into a snapshot;
            # new containers resume from it. See docs/deploy.md for its costs and what it excludes.
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snapstart else None,
            reserved_concurrent_executions=reserved_concurrency or None,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": "tenantry",
                "POWERTOOLS_METRICS_NAMESPACE": "Tenantry",
                # Lambda sets AWS_LAMBDA_LOG_LEVEL from log_level, which powertools prefers; this only
                # keeps a function deployed without the logging controls at the same level.
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
                "TENANTRY_TRACING": "true" if config.tracing else "false",
            },
            description="Tenantry MCP server (streamable HTTP, stateless JSON)",
        )
        # current_version's logical id hashes the function's configuration and code, so every deploy
        # that changes either publishes a new version and moves the alias to it.
        self.alias = lambda_.Alias(self, "Live", alias_name=ALIAS, version=self.function.current_version)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Pinned to Python {LAMBDA_PYTHON}, the version the layer's wheels and bytecode are built "
            "for (layers/build.py); move both together, after the tests pass on the newer version.",
        )
        # The function role is ours (not CDK's default with a managed policy): grant it its own log group only.
        self.log_group.grant_write(role)
        policy = role.node.find_child("DefaultPolicy")
        if config.tracing and not _acknowledged_tracing(policy):
            acknowledge(
                policy,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource ARN, so tracing must name '*'.",
            )


def _acknowledged_tracing(policy: object) -> bool:
    # Both functions share one role; its X-Ray statement needs acknowledging once.
    return any("AwsSolutions-IAM5[Resource::*]" in str(entry.data) for entry in policy.node.metadata)  # type: ignore[attr-defined]
