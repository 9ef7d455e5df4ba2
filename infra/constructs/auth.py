"""Cognito as the authorization server: user pool, managed login, resource server(s), tenant trigger, OAuth front.

Token order: the resource server's identifier must be the MCP URL (Cognito binds `aud` to
it from the RFC 8707 `resource` parameter, and refuses a `resource` that names no resource
server). So the API is created first (infra/stack.py), this construct takes its URL (a
token without a custom domain, a literal with one), and the API's authorizer is added
afterwards from this pool's issuer. CloudFormation orders it: API, pool, resource server.

What CloudFormation cannot express (docs/deploy.md, "Cognito"):
- resource binding has no setting: Cognito applies it on Essentials/Plus when `resource`
  names a resource server's identifier;
- Cognito's own dynamic client registration (`DcrConfiguration`) is neither in
  CloudFormation nor in aws-cdk-lib 2.275, and it has no redirect-host allow-list. It stays
  off; `POST /register` on the API (tenantry/cognito/front.py) registers clients instead,
  with the allow-list, and only it may create app clients.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.functions import RUNTIME, retention
from infra.nag import acknowledge
from layers.build import LAMBDA_PYTHON, BuiltAsset

__all__ = ["FRONT_ACTIONS", "FRONT_HANDLER", "MEMBER_ACTIONS", "TRIGGER_HANDLER", "CognitoAuth"]

TRIGGER_HANDLER = "tenantry.cognito.trigger.handler"
FRONT_HANDLER = "tenantry.cognito.front.handler"
# The trigger reads one user's memberships and nothing else.
MEMBER_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query"]
# The registration endpoint creates a client, gives it the default managed-login style, or undoes the client.
FRONT_ACTIONS = [
    "cognito-idp:CreateUserPoolClient",
    "cognito-idp:CreateManagedLoginBranding",
    "cognito-idp:DeleteUserPoolClient",
]


class CognitoAuth(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeployConfig,
        code: BuiltAsset,
        resources: Mapping[str, str],
        origin: str,
        stack_name: str,
    ) -> None:
        """`resources`: construct id -> resource URL (the MCP URL first); `origin`: the API's https origin."""
        super().__init__(scope, id)
        self.members = ddb.Table(
            self,
            "Members",
            table_name=f"{config.name_prefix}-members",
            partition_key=ddb.Attribute(name="user", type=ddb.AttributeType.STRING),  # the Cognito sub
            sort_key=ddb.Attribute(name="tenant_id", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=ddb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.trigger = self._function(
            "TokenTrigger",
            config,
            code,
            TRIGGER_HANDLER,
            "Tenantry: puts the tenant of the signing-in user in the access token (pre token generation V2)",
            {"TENANTRY_MEMBERS_TABLE": self.members.table_name, "TENANTRY_TENANT_CLAIM": config.tenant_claim},
            # Cognito waits at most 5 s for a trigger.
            timeout=Duration.seconds(5),
        )
        self.trigger.add_to_role_policy(
            iam.PolicyStatement(sid="ReadMemberships", actions=MEMBER_ACTIONS, resources=[self.members.table_arn])
        )

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{config.name_prefix}-users",
            # Essentials: managed login, resource binding and access-token customisation (trigger V2).
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            self_sign_up_enabled=False,  # operators invite users and record their memberships
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True, require_digits=True, require_symbols=True
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            custom_attributes={"active_tenant": cognito.StringAttribute(min_len=1, max_len=64, mutable=True)},
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, self.trigger, cognito.LambdaVersion.V2_0
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP): users sign in from ChatGPT's pop-up, and each operator decides whether to "
            "require it; set mfa=REQUIRED in infra/constructs/auth.py to enforce it.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "Essentials, not Plus: Plus adds threat protection (advanced security) at a higher price per user; "
            "Essentials already has managed login, resource binding and the access-token trigger Tenantry needs.",
        )

        prefix = config.auth_domain_prefix or f"{stack_name.lower()}-{Aws.ACCOUNT_ID}"
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        self.domain_url = self.domain.base_url()

        # One resource server per resource URL: its identifier is the URL, and Cognito issues each scope
        # as "<identifier>/<name>". The audience and the route scopes follow from it.
        self.scopes_by_resource: dict[str, list[str]] = {}
        for server_id, url in resources.items():
            self.user_pool.add_resource_server(
                server_id,
                identifier=url,
                user_pool_resource_server_name=f"{config.name_prefix}-{server_id.lower()}",
                scopes=[
                    cognito.ResourceServerScope(scope_name=name, scope_description="Use the Tenantry MCP tools")
                    for name in config.scopes
                ],
            )
            self.scopes_by_resource[url] = [f"{url}/{name}" for name in config.scopes]
        self.scopes = next(iter(self.scopes_by_resource.values()))
        self.issuer = f"https://{self.user_pool.user_pool_provider_url}"
        self.jwks_uri = f"{self.issuer}/.well-known/jwks.json"

        registrable = [scope for scopes in self.scopes_by_resource.values() for scope in scopes]
        self.front = self._function(
            "OAuthFront",
            config,
            code,
            FRONT_HANDLER,
            "Tenantry: RFC 8414 metadata for the Cognito pool, and client registration with a redirect allow-list",
            {
                "TENANTRY_AS_ISSUER": origin,
                "TENANTRY_COGNITO_DOMAIN": self.domain_url,
                "TENANTRY_COGNITO_JWKS_URI": self.jwks_uri,
                "TENANTRY_USER_POOL_ID": self.user_pool.user_pool_id,
                "TENANTRY_SCOPES_SUPPORTED": ",".join(registrable),
                "TENANTRY_DCR_REDIRECT_HOSTS": ",".join(config.dcr_redirect_hosts),
            },
            timeout=Duration.seconds(10),
        )
        self.front.add_to_role_policy(
            iam.PolicyStatement(sid="RegisterClients", actions=FRONT_ACTIONS, resources=[self.user_pool.user_pool_arn])
        )

    def _function(
        self,
        id: str,
        config: DeployConfig,
        code: BuiltAsset,
        handler: str,
        description: str,
        environment: dict[str, str],
        timeout: Duration,
    ) -> lambda_.Function:
        # Own role and log group (no managed policy); no layer: boto3 ships with the runtime.
        role = iam.Role(
            self, f"{id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        log_group = logs.LogGroup(
            self, f"{id}Logs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            # The same asset as the MCP function (same hash, uploaded once).
            code=lambda_.Code.from_asset(str(code.path), asset_hash=f"code-{code.key}"),
            role=role,
            memory_size=256,
            timeout=timeout,
            log_group=log_group,
            environment=environment,
            description=description,
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to Python {LAMBDA_PYTHON} like the MCP function, whose asset it shares with its "
            "precompiled bytecode (layers/build.py).",
        )
        return function
