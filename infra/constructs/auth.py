"""The stack's own OAuth 2.1 authorization server: its function, signing key, state tables and upstream sign-in.

The function runs `tenantry.oauth.handler.handler` (functions/tenantry/oauth/), the same code
`./dev local` runs, from the MCP function's code asset and dependency layer. It issues
RS256 `at+jwt` access tokens signed in KMS; the API's JWT authorizer trusts it as issuer
(infra/constructs/api.py). Users sign in upstream, through ONE pre-configured OIDC client:
by default this stack's Cognito user pool (managed login), or any provider named by the
`oidc_*` context values.

Least privilege: the function's role reaches its own state, memberships, the registry
(tenant names and status), the audit table (append), the signing key (Sign, GetPublicKey),
the previous and the staged next generation's keys while they are published (GetPublicKey only) and the upstream
client's secret; no tenant data, no other key. The signing key's policy allows those two actions
to that role alone, so no other principal in the account can sign a token the authorizer would
accept through its IAM policies; an administrator allowed kms:PutKeyPolicy could rewrite the key
policy itself (CloudFormation needs that action to move keys through the rotation), which
docs/oauth.md states as the claim's limit.

Key rotation is two context values. `signing_key_generation` (default 1): generation N holds the key
of generation N, which signs, and the key of generation N-1, published in the JWKS so tokens it
signed verify until they expire; older keys leave the stack (retained in the account, not deleted).
`signing_key_next` (default false) stages the following rotation: it adds generation N+1's key,
published (GetPublicKey only) but not yet signing, so the JWT authorizer's cached key set holds it
before any token names it. Raising the generation to N+1 afterwards keeps that key's construct id
(so CloudFormation updates its policy in place rather than replacing it) and lets it sign.
Generation 1 keeps the logical id `SigningKey`, so stacks deployed before rotation existed keep
their key.

The Cognito client's secret reaches Secrets Manager without a manual step: CDK's
`userPoolClientSecret` reads it at deploy time through a custom resource that may only
`DescribeUserPoolClient` on this pool (no `CreateUserPoolClient` anywhere).
"""

from __future__ import annotations

from enum import Enum

from aws_cdk import Aws, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.data import KEEP, TenantData, retained_table
from infra.constructs.functions import ALIAS, RUNTIME, function_code, retention
from infra.constructs.secrets import ADMIN_ACTIONS
from infra.nag import acknowledge
from layers.build import LAMBDA_PYTHON, BuiltAsset

__all__ = [
    "CALLBACK_PATH",
    "HANDLER",
    "MEMBER_ACTIONS",
    "SIGNING_ACTIONS",
    "STATE_ACTIONS",
    "VERIFY_ACTIONS",
    "AuthorizationServer",
    "KeyStage",
    "key_construct_id",
    "signing_key_generations",
]

HANDLER = "tenantry.oauth.handler.handler"
# Where the upstream provider sends the browser back (tenantry.oauth.app's /callback route).
CALLBACK_PATH = "/callback"
# Clients, codes, refresh tokens, grants, sessions and rate counters: single items, never a scan or query.
STATE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
# One user's memberships: tenants_of (Query on the user) and is_member (GetItem).
MEMBER_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query"]
SIGNING_ACTIONS = ["kms:Sign", "kms:GetPublicKey"]
# The previous and the staged next generation's keys are only published (JWKS), never used to sign.
VERIFY_ACTIONS = ["kms:GetPublicKey"]
# Sign-in pages, discovery and the upstream's token call are short; API Gateway gives up at 30 s.
TIMEOUT = Duration.seconds(15)
_S = ddb.AttributeType.STRING


class KeyStage(Enum):
    """Where a key is in its rotation; TENANTRY_SIGNING_KEY_IDS lists the keys in this order."""

    SIGNS = "signs"
    NEXT = "next"  # staged: published ahead of the deploy that makes it sign
    PREVIOUS = "previous"  # published until the tokens it signed have expired


def key_construct_id(generation: int) -> str:
    # Generation 1's id is the one the stack used before rotation existed, so its key is not replaced.
    return "SigningKey" if generation == 1 else f"SigningKeyV{generation}"


def signing_key_generations(generation: int, staged_next: bool = False) -> list[tuple[int, str, KeyStage]]:
    """(generation, construct id, stage) of the keys a stack at `generation` holds: the signing key first.

    A key's construct id depends on its generation only, never on its stage, so the staged key of
    generation N+1 is the same CloudFormation resource once generation N+1 signs with it.
    """
    if generation < 1:
        raise ValueError("signing key generations start at 1")
    stages = [(generation, KeyStage.SIGNS)]
    if staged_next:
        stages.append((generation + 1, KeyStage.NEXT))
    if generation > 1:
        stages.append((generation - 1, KeyStage.PREVIOUS))
    return [(g, key_construct_id(g), stage) for g, stage in stages]


_KEY_DESCRIPTIONS = {
    KeyStage.SIGNS: "Tenantry: signs the authorization server's access tokens (RS256)",
    KeyStage.NEXT: "Tenantry: the next access-token signing key, published before it signs",
    KeyStage.PREVIOUS: "Tenantry: the previous access-token signing key, published until its tokens expire",
}


class AuthorizationServer(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: DeployConfig,
        code: BuiltAsset,
        layer: lambda_.ILayerVersion,
        issuer: str,
        resources: list[str],
        data: TenantData,
        stack_name: str,
    ) -> None:
        """`issuer`: the API's https origin (no trailing slash); `resources`: the MCP URL first, then premium."""
        super().__init__(scope, id)
        self.issuer = issuer
        # user (the upstream identity, e.g. an email) -> tenant_id; written by `tenantry members add`.
        self.members = retained_table(
            self,
            "Members",
            f"{config.name_prefix}-members",
            ddb.Attribute(name="user", type=_S),
            ddb.Attribute(name="tenant_id", type=_S),
            deletion_protection=config.deletion_protection,
        )
        # Every item carries expires_at, so codes, sessions, spent tokens and unused clients age out.
        self.state = retained_table(
            self,
            "State",
            f"{config.name_prefix}-oauth",
            ddb.Attribute(name="pk", type=_S),
            ddb.Attribute(name="sk", type=_S),
            ttl="expires_at",
            deletion_protection=config.deletion_protection,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Tenantry authorization server: its state, memberships, registry read, audit, token signing",
        )
        generations = signing_key_generations(config.signing_key_generation, config.signing_key_next)
        keys = [self._signing_key(construct_id, stage) for _, construct_id, stage in generations]
        # The signing key first: the server signs with the first id and publishes them all.
        self.signing_key, self.signing_keys = keys[0], keys
        self.signing_key_stages = {stage: key for key, (_, _, stage) in zip(keys, generations, strict=True)}

        if config.uses_cognito:
            self._cognito(config, stack_name)
        else:
            assert config.oidc_issuer and config.oidc_client_id and config.oidc_client_secret_arn
            self.oidc_issuer = config.oidc_issuer
            self.oidc_client_id = config.oidc_client_id
            self.oidc_client_secret_arn = config.oidc_client_secret_arn

        for sid, actions, resource in (
            ("OAuthState", STATE_ACTIONS, self.state.table_arn),
            ("ReadMemberships", MEMBER_ACTIONS, self.members.table_arn),
            ("ReadTenantRegistry", ["dynamodb:GetItem"], data.registry.table_arn),
            ("WriteAudit", ["dynamodb:PutItem"], data.audit.table_arn),
            ("SignTokens", SIGNING_ACTIONS, self.signing_key.key_arn),
            ("ReadUpstreamClientSecret", ["secretsmanager:GetSecretValue"], self.oidc_client_secret_arn),
        ):
            self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=[resource]))
        # Verification-only keys: one statement each, so a policy test can name which key a grant is for.
        for stage, sid in ((KeyStage.NEXT, "PublishNextSigningKey"), (KeyStage.PREVIOUS, "PublishPreviousSigningKey")):
            if stage in self.signing_key_stages:
                self.role.add_to_policy(
                    iam.PolicyStatement(
                        sid=sid, actions=VERIFY_ACTIONS, resources=[self.signing_key_stages[stage].key_arn]
                    )
                )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=function_code(code),  # the MCP function's asset and layer, uploaded once
            layers=[layer],
            role=self.role,
            memory_size=512,
            timeout=TIMEOUT,
            # Reserved, not maximum, concurrency: a reservation is both a ceiling and a floor. The ceiling
            # keeps slow or abusive sign-in traffic (up to 15 s per request on public routes) from taking
            # the account's concurrency from the MCP functions; the floor keeps sign-ins and token
            # refreshes running when MCP traffic uses the rest. A maximum (event-source setting) exists
            # only for SQS, and provisioned concurrency is a warm pool, not a bound.
            reserved_concurrent_executions=config.auth_reserved_concurrency or None,
            # API Gateway's JWT authorizer fetches discovery and the JWKS from this function with a
            # 1,500 ms timeout; a cold init (~1.4 s of imports at 512 MB) could exceed it and turn valid
            # tokens into 401s. A SnapStart restore is a few hundred ms (docs/deploy.md, "JWKS").
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snapstart else None,
            log_group=self.log_group,
            environment={
                "TENANTRY_ISSUER_URL": issuer,
                "TENANTRY_OAUTH_RESOURCES": ",".join(resources),
                "TENANTRY_OAUTH_TABLE": self.state.table_name,
                "TENANTRY_MEMBERS_TABLE": self.members.table_name,
                "TENANTRY_REGISTRY_TABLE": data.registry.table_name,
                "TENANTRY_AUDIT_TABLE": data.audit.table_name,
                "TENANTRY_SIGNING_KEY_IDS": ",".join(key.key_arn for key in keys),
                "TENANTRY_TENANT_CLAIM": config.tenant_claim,
                "TENANTRY_SCOPES_SUPPORTED": ",".join(config.scopes),
                "TENANTRY_DCR_REDIRECT_HOSTS": ",".join(config.dcr_redirect_hosts),
                "TENANTRY_OIDC_ISSUER": self.oidc_issuer,
                "TENANTRY_OIDC_CLIENT_ID": self.oidc_client_id,
                "TENANTRY_OIDC_CLIENT_SECRET_ARN": self.oidc_client_secret_arn,
                "TENANTRY_OIDC_USER_CLAIM": config.oidc_user_claim,
                "POWERTOOLS_SERVICE_NAME": "tenantry-oauth",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            }
            | self._tenants_claim_environment(config),
            description="Tenantry OAuth 2.1 authorization server (discovery, CIMD/DCR, sign-in, consent, tokens)",
        )
        if config.domain and config.tenant_subdomains:
            # RFC 9728 through a tenant host: the server accepts `https://<slug>.<domain>/mcp` as a
            # resource for that tenant only (and still issues the API's audience).
            self.function.add_environment("TENANTRY_BASE_DOMAIN", config.domain)
        # The API invokes this alias, never $LATEST (SnapStart applies only to published versions).
        self.alias = lambda_.Alias(self, "Live", alias_name=ALIAS, version=self.function.current_version)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Pinned to Python {LAMBDA_PYTHON} like the MCP function, whose asset and layer it shares "
            "(layers/build.py builds both for that version).",
        )

    def _signing_key(self, construct_id: str, stage: KeyStage) -> kms.Key:
        signs = stage is KeyStage.SIGNS
        admin = iam.PolicyStatement(
            sid="AccountAdministersButCannotUse",
            principals=[iam.AccountRootPrincipal()],
            actions=ADMIN_ACTIONS,
            resources=["*"],  # in a key policy "*" means this key
        )
        # Handed to IAM for exactly one principal: the server's role (whose identity policy grants the
        # same). Any other principal of the account is refused by the key policy, whatever its IAM
        # policies say. The previous and the staged next generation's keys may only be read
        # (published), not sign.
        server_only = iam.PolicyStatement(
            sid="OnlyTheAuthorizationServerSigns" if signs else "OnlyTheAuthorizationServerPublishes",
            principals=[iam.AccountRootPrincipal()],
            actions=SIGNING_ACTIONS if signs else VERIFY_ACTIONS,
            resources=["*"],
            conditions={"ArnEquals": {"aws:PrincipalArn": self.role.role_arn}},
        )
        return kms.Key(
            self,
            construct_id,
            # Description and key policy change in place (no replacement) as a key moves from next to
            # signing to previous; key spec and usage, which CloudFormation refuses to change on an
            # existing key, are the same at every stage.
            description=_KEY_DESCRIPTIONS[stage],
            key_spec=kms.KeySpec.RSA_2048,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            policy=iam.PolicyDocument(statements=[admin, server_only]),
            # A key that leaves the stack (two generations on) stays in the account: deleting a KMS key
            # cannot be undone, and keeping it costs little. The operator schedules its deletion
            # (docs/deploy.md, "Rotating the token signing key"). A key whose creating deploy rolls
            # back never signed anything, so that one is scheduled for deletion (KEEP).
            removal_policy=KEEP,
        )

    @staticmethod
    def _tenants_claim_environment(config: DeployConfig) -> dict[str, str]:
        """Memberships from the identity provider's claim (docs/oauth.md); nothing when the members table decides."""
        if config.oidc_tenants_claim is None:
            return {}
        return {
            "TENANTRY_OIDC_TENANTS_CLAIM": config.oidc_tenants_claim,
            "TENANTRY_OIDC_TENANTS_PREFIX": config.oidc_tenants_prefix,
            "TENANTRY_OIDC_TENANTS_GRANT_DAYS": str(config.oidc_tenants_grant_days),
        }

    @staticmethod
    def _read_attributes(config: DeployConfig) -> cognito.ClientAttributes | None:
        """What the sign-in client may read, so what Cognito puts in its ID tokens.

        None (Cognito's default: the standard attributes) unless memberships come from a custom
        attribute, which no client reads unless listed. The attribute itself is added to the pool
        by the operator beforehand (docs/oauth.md): the pool is retained, and a schema change
        CloudFormation might apply by replacing it would lose every user.
        """
        claim = config.oidc_tenants_claim
        if claim is None or not claim.startswith("custom:"):
            return None
        return (
            cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, fullname=True)
            .with_custom_attributes(claim.removeprefix("custom:"))
        )

    def _cognito(self, config: DeployConfig, stack_name: str) -> None:
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{config.name_prefix}-users",
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
            # Unused since the tenant picker replaced it; kept because CloudFormation cannot remove a
            # custom attribute from an existing (retained, deletion-protected) pool.
            custom_attributes={"active_tenant": cognito.StringAttribute(min_len=1, max_len=64, mutable=True)},
            # Off until the first deploy has succeeded, like the tables' (infra/constructs/data.py).
            deletion_protection=config.deletion_protection,
            removal_policy=KEEP,
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
            "Essentials has the managed login the sign-in uses.",
        )
        prefix = config.auth_domain_prefix or f"{stack_name.lower()}-{Aws.ACCOUNT_ID}"
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        self.domain_url = self.domain.base_url()
        # The one client: the authorization server itself, confidential, redirecting only to its /callback.
        self.client = self.user_pool.add_client(
            "SignInClient",
            user_pool_client_name=f"{config.name_prefix}-authorization-server",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{self.issuer}{CALLBACK_PATH}"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            # Write attributes stay Cognito's default (standard attributes only, and only with the
            # aws.cognito.signin.user.admin scope, which this client never asks for): a user who
            # could write the tenants attribute with their own token would name their own tenants.
            read_attributes=self._read_attributes(config),
            # Only the ID token of one sign-in is used; nothing of Cognito's outlives it.
            id_token_validity=Duration.minutes(5),
            access_token_validity=Duration.minutes(5),
            refresh_token_validity=Duration.minutes(60),
        )
        # Managed login (version 2) shows a page only for a client that has a style.
        cognito.CfnManagedLoginBranding(
            self,
            "SignInBranding",
            user_pool_id=self.user_pool.user_pool_id,
            client_id=self.client.user_pool_client_id,
            use_cognito_provided_values=True,
        )
        self.client_secret = secretsmanager.Secret(
            self,
            "SignInClientSecret",
            description="Tenantry: the Cognito client secret the authorization server signs users in with",
            secret_string_value=self.client.user_pool_client_secret,
        )
        acknowledge(
            self.client_secret,
            "AwsSolutions-SMG4",
            "A copy of the Cognito app client's generated secret, written at deploy time; rotating it means "
            "rotating the client's secret in Cognito, which CloudFormation cannot do (docs/deploy.md).",
        )
        self.oidc_issuer = f"https://{self.user_pool.user_pool_provider_url}"
        self.oidc_client_id = self.client.user_pool_client_id
        self.oidc_client_secret_arn = self.client_secret.secret_arn
        _prepare_sdk_call_provider(Stack.of(self), config.log_retention_days)


def _prepare_sdk_call_provider(stack: Stack, days: int) -> None:
    # CDK's AwsCustomResource provider (one per stack) reads the client secret; its function and role are CDK's.
    provider = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
    if provider is None:
        return
    log_group = provider.node.try_find_child("LogGroup")
    if log_group is not None:
        # CDK names the group /aws/lambda/<function> but creates it after the function only, so a
        # custom resource invoked first lets Lambda create the group, and the stack's own then fails
        # "already exists". Every custom resource waits for the group; it goes with the stack, kept
        # as long as the other logs (CDK's default: retained, for two years).
        cfn_group = log_group.node.default_child or log_group
        assert isinstance(cfn_group, CfnResource)
        cfn_group.apply_removal_policy(RemovalPolicy.DESTROY)
        cfn_group.add_property_override("RetentionInDays", days)
        for child in stack.node.find_all():
            if isinstance(child, CfnResource) and child.cfn_resource_type.startswith("Custom::"):
                child.node.add_dependency(log_group)
    acknowledge(
        provider,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "CDK's custom-resource provider uses AWSLambdaBasicExecutionRole for its own logs only; its calls are "
        "limited by a separate policy to DescribeUserPoolClient on this pool.",
    )
    acknowledge(
        provider,
        "AwsSolutions-L1",
        "CDK's custom-resource provider picks its own Node.js runtime; it runs once per deployment to copy "
        "the sign-in client's secret into Secrets Manager.",
    )
