"""The Tenantry stack: composes the resource families and publishes what clients and the e2e suite need."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.api import McpApi
from infra.constructs.auth import AuthorizationServer, KeyStage
from infra.constructs.branding import BrandingBucket
from infra.constructs.canary import CanaryRole, IsolationCanary
from infra.constructs.data import TenantData
from infra.constructs.functions import McpFunction
from infra.constructs.observability import Observability
from infra.constructs.operator import OperatorPolicy
from infra.constructs.secrets import SecretsKey
from infra.constructs.tenant_access import ExecutionRole, TenantAccessRole
from layers.build import BuiltAsset

__all__ = ["TenantryStack"]


class TenantryStack(Stack):
    def __init__(
        self, scope: Construct, id: str, *, config: DeployConfig, code: BuiltAsset, layer: BuiltAsset, **kwargs: object
    ) -> None:
        super().__init__(scope, id, description="Tenantry: multi-tenant MCP server", **kwargs)  # type: ignore[arg-type]
        data = TenantData(
            self,
            "Data",
            name_prefix=config.name_prefix,
            cells=config.cells,
            deletion_protection=config.deletion_protection,
        )
        secrets = SecretsKey(self, "Secrets", name_prefix=config.name_prefix)
        branding = BrandingBucket(self, "Branding")
        execution = ExecutionRole(self, "Execution", data=data)
        canary_role = CanaryRole(self, "CanaryRole", data=data).role if config.canary_schedule_minutes else None
        tenant_access = TenantAccessRole(
            self,
            "TenantAccess",
            trusted=execution.role,
            data=data,
            secrets_key=secrets.key,
            branding=branding.bucket,
            e2e_principal_arn=config.e2e_principal_arn,
            operator_principal_arn=config.operator_principal_arn,
            canary_role=canary_role,
        )
        api = McpApi(self, "Api", config=config)
        # The stack's own authorization server lives on the API's origin (or the custom domain): it is
        # the issuer the authorizers trust, and what the protected resource metadata advertises.
        issuer = api.origin
        scopes = list(config.scopes)
        api.set_authorizer(issuer, scopes)

        environment = {
            "TENANTRY_REGISTRY_TABLE": data.registry.table_name,
            "TENANTRY_DATA_TABLE": data.data.table_name,
            "TENANTRY_CELL_TABLES": ",".join(t.table_name for t in data.cells),
            "TENANTRY_SILO_TABLE_PREFIX": data.silo_table_prefix,
            "TENANTRY_USAGE_TABLE": data.usage.table_name,
            "TENANTRY_AUDIT_TABLE": data.audit.table_name,
            "TENANTRY_TENANT_ROLE_ARN": tenant_access.role.role_arn,
            "TENANTRY_SECRETS_KEY_ARN": secrets.key.key_arn,
            "TENANTRY_BRANDING_BUCKET": branding.bucket.bucket_name,
            "TENANTRY_TENANT_CLAIM": config.tenant_claim,
            "TENANTRY_RESOURCE_URL": api.mcp_url,
            "TENANTRY_AUTHORIZATION_SERVERS": issuer,
            "TENANTRY_SCOPES_SUPPORTED": ",".join(scopes),
            "TENANTRY_REGISTRY_CACHE_SECONDS": str(config.registry_cache_seconds),
            "TENANTRY_SUCCESS_LOG_SAMPLE": str(config.success_log_sample),
            # The same list as the API's CORS allow-list (infra/constructs/api.py): one context key.
            "TENANTRY_ALLOWED_ORIGINS": ",".join(config.allowed_origins),
        }
        if config.domain and config.tenant_subdomains:
            environment["TENANTRY_BASE_DOMAIN"] = config.domain
        if config.widget_image_origins:
            environment["TENANTRY_WIDGET_IMAGE_ORIGINS"] = ",".join(config.widget_image_origins)
        mcp = McpFunction(
            self,
            "Mcp",
            config=config,
            role=execution.role,
            code=code,
            layer=layer,
            environment=environment,
            reserved_concurrency=config.reserved_concurrency,
        )
        api.route_to(mcp.alias)
        auth = AuthorizationServer(
            self,
            "Auth",
            config=config,
            code=code,
            layer=mcp.layer,
            issuer=issuer,
            resources=[url for url in (api.mcp_url, api.premium_url) if url],
            data=data,
            stack_name=self.stack_name,
        )
        api.route_authorization_server(auth.alias)
        premium = None
        if config.premium_reserved_concurrency:
            premium = McpFunction(
                self,
                "Premium",
                config=config,
                role=execution.role,
                code=code,
                layer=mcp.layer,
                environment={
                    **environment,
                    "TENANTRY_RESOURCE_URL": api.premium_url or api.mcp_url,
                    "TENANTRY_SERVE_PLANS": ",".join(config.premium_plans),
                },
                reserved_concurrency=config.premium_reserved_concurrency,
            )
            api.route_premium(premium.alias)
        functions = [mcp.function, auth.function, *([premium.function] if premium is not None else [])]
        operator = OperatorPolicy(
            self,
            "Operator",
            data=data,
            members=auth.members,
            oauth=auth.state,
            tenant_role_arn=tenant_access.role.role_arn,
            function_arns=[fn.function_arn for fn in functions],
        )
        observability = Observability(
            self,
            "Observability",
            config=config,
            function=mcp.function,
            api=api.api,
            auth=auth.function,
            auth_logs=auth.log_group,
            premium=premium.function if premium is not None else None,
        )
        canary = None
        if canary_role is not None:
            canary = IsolationCanary(
                self,
                "Canary",
                config=config,
                role=canary_role,
                code=code,
                layer=mcp.layer,
                environment=environment,
                topic=observability.topic,
            )
            observability.watch("CanaryViolation", canary.violation_alarm)
            observability.watch("CanarySilent", canary.silence_alarm)
        observability.let_alarms_publish()

        outputs = {
            "McpUrl": (api.mcp_url, "The MCP endpoint to give to clients (also the token audience)"),
            "ApiEndpoint": (api.api.api_endpoint, "The API's execute-api URL"),
            "FunctionName": (mcp.function.function_name, "The MCP Lambda function"),
            "RegistryTable": (data.registry.table_name, "Tenant registry table"),
            "DataTable": (data.data.table_name, "Pooled tenant data table (cell 0)"),
            "CellTables": (environment["TENANTRY_CELL_TABLES"], "Pooled cell tables, cell 0 first"),
            "SiloTablePrefix": (data.silo_table_prefix, "Silo tables are named <prefix><tenant_id>"),
            "UsageTable": (data.usage.table_name, "Usage metering table"),
            "AuditTable": (data.audit.table_name, "Audit trail table"),
            "TenantAccessRoleArn": (tenant_access.role.role_arn, "Role assumed per tenant with a tenant_id tag"),
            "ExecutionRoleArn": (execution.role.role_arn, "The function's execution role"),
            "SecretsKeyArn": (secrets.key.key_arn, "KMS key for tenant secrets"),
            "BrandingBucket": (branding.bucket.bucket_name, "Tenant branding assets"),
            "AlarmTopicArn": (observability.topic.topic_arn, "SNS topic the alarms notify"),
            "OperatorPolicyArn": (
                operator.policy.managed_policy_arn,
                "Managed policy for the operator's role: what the tenantry CLI does with --stack",
            ),
        }
        outputs["AuthorizationServer"] = (issuer, "The token issuer: the stack's own authorization server")
        outputs["AuthorizationServerFunctionName"] = (auth.function.function_name, "The authorization server function")
        outputs["SigningKeyArn"] = (auth.signing_key.key_arn, "KMS key (RSA, SIGN_VERIFY) that signs access tokens")
        stages = auth.signing_key_stages
        if KeyStage.NEXT in stages:
            outputs["NextSigningKeyArn"] = (
                stages[KeyStage.NEXT].key_arn,
                "The staged signing key: published in the JWKS, signs once signing_key_generation is raised",
            )
        if KeyStage.PREVIOUS in stages:
            # The next rotation takes it out of the stack (retained): schedule its deletion then.
            outputs["PreviousSigningKeyArn"] = (
                stages[KeyStage.PREVIOUS].key_arn,
                "The previous signing key, still published in the JWKS until the next rotation",
            )
        outputs["MembersTable"] = (auth.members.table_name, "User -> tenant memberships (tenantry members)")
        outputs["OAuthTable"] = (auth.state.table_name, "Authorization server state: clients, codes, grants")
        outputs["SignInIssuer"] = (auth.oidc_issuer, "The upstream OpenID provider users sign in with")
        if config.uses_cognito:
            outputs["UserPoolId"] = (auth.user_pool.user_pool_id, "Cognito user pool (invite users here)")
            outputs["AuthDomainUrl"] = (auth.domain_url, "Cognito managed login, behind the authorization server")
        if premium is not None and api.premium_url:
            outputs["PremiumMcpUrl"] = (api.premium_url, f"MCP endpoint for {', '.join(config.premium_plans)} tenants")
            outputs["PremiumFunctionName"] = (premium.function.function_name, "The premium MCP function")
        if canary is not None:
            outputs["CanaryFunctionName"] = (canary.function.function_name, "The isolation canary (tenantry canary)")
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
