"""IAM, the heart of the isolation: what the function may do alone, and what a tenant session may do.

The function's execution role cannot read or write tenant data. It reads the
registry, meters usage, writes audit records, and assumes the tenant access role
with a `tenant_id` session tag. Every permission of the tenant access role
compares a resource or key against `${aws:PrincipalTag/tenant_id}`, so the
assumed credentials reach one tenant's rows, secrets and files, whatever the
application code asks for.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.branding import tenant_prefix_pattern
from infra.constructs.data import TenantData
from infra.nag import acknowledge

__all__ = ["TENANT_TAG", "ExecutionRole", "TenantAccessRole", "tenant_key_policy"]

TENANT_TAG = "${aws:PrincipalTag/tenant_id}"
# Only what the dal does with tenant rows, plus BatchWriteItem for a move's copy (the operator acts
# through the tenant role too; every key of a batch must be the session's own, ForAllValues).
# Never Scan: a request without a key has no dynamodb:LeadingKeys, and ForAllValues over an empty
# set is true.
TENANT_DATA_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
]
# The secret store encrypts and decrypts small values directly (dal/secrets.py); no envelope
# encryption, so no GenerateDataKey (it stays in KMS_USE_ACTIONS below, denied like the rest).
TENANT_KMS_ACTIONS = ["kms:Encrypt", "kms:Decrypt"]
# Every KMS action that uses key material or lets another principal use it: the key policy's
# Deny statements cover all of them, not only the ones granted, so a later grant cannot slip past.
KMS_USE_ACTIONS = [
    *TENANT_KMS_ACTIONS,
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
]
ENCRYPTION_CONTEXT_KEY = "kms:EncryptionContext:tenant_id"


class ExecutionRole(Construct):
    """The Lambda execution role: registry, usage, audit and the tenant role; no tenant data."""

    def __init__(self, scope: Construct, id: str, *, data: TenantData) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Tenantry MCP function: registry, usage, audit; tenant data only via the tenant role",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTenantRegistry",
                actions=["dynamodb:GetItem"],
                resources=[data.registry.table_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="MeterUsage",
                # admit() and record() update the month item; get_usage reads it back (GetItem). Nothing
                # in the function queries the usage table (the operator's reports do, with their own policy).
                actions=["dynamodb:UpdateItem", "dynamodb:GetItem"],
                resources=[data.usage.table_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="WriteAudit", actions=["dynamodb:PutItem"], resources=[data.audit.table_arn])
        )


class TenantAccessRole(Construct):
    """Assumed per tenant by the function with a tenant_id session tag; every grant is keyed to that tag."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        trusted: iam.Role,
        data: TenantData,
        e2e_principal_arn: str | None = None,
        operator_principal_arn: str | None = None,
        canary_role: iam.Role | None = None,
        secrets_key: kms.Key,
        branding: s3.Bucket,
    ) -> None:
        super().__init__(scope, id)
        tagged = {
            # A non-empty tenant_id tag is required, and it is the only tag the caller may set.
            "StringLike": {"aws:RequestTag/tenant_id": "?*"},
            # The tag is substituted into resource ARNs and conditions (${aws:PrincipalTag/tenant_id});
            # refuse wildcard and variable characters in it, so no session tag can stand for many tenants.
            # ${*}, ${?} and ${$} are IAM's spellings of a literal '*', '?' and '$' in a StringLike pattern.
            "StringNotLike": {"aws:RequestTag/tenant_id": ["*${*}*", "*${?}*", "*${$}*"]},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["tenant_id"]},
        }
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ArnPrincipal(trusted.role_arn).with_conditions(tagged),
            description="Tenantry tenant access: one tenant's data, secrets and branding per session tag",
            max_session_duration=Duration.hours(1),
        )
        # AssumeRole with session tags also needs sts:TagSession in the trust policy.
        self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
            iam.PolicyStatement(
                actions=["sts:TagSession"],
                principals=[iam.ArnPrincipal(trusted.role_arn)],
                conditions=tagged,
            )
        )
        # Only when asked: the operator's role (admin CLI: offboarding, secrets) and the e2e suite's
        # principal (to prove IAM itself refuses a cross-tenant read). The same tag conditions hold,
        # so either still reaches one tenant per session.
        for extra in (operator_principal_arn, e2e_principal_arn):
            if extra:
                self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
                    iam.PolicyStatement(
                        actions=["sts:AssumeRole", "sts:TagSession"],
                        principals=[iam.ArnPrincipal(extra)],
                        conditions=tagged,
                    )
                )
        # The isolation canary (infra/constructs/canary.py) becomes its two synthetic tenants the way
        # the function becomes any tenant: the same statements, with the same tag conditions.
        for caller in (trusted, *([canary_role] if canary_role is not None else [])):
            if caller is not trusted:
                self.role.assume_role_policy.add_statements(  # type: ignore[union-attr]
                    iam.PolicyStatement(
                        actions=["sts:AssumeRole", "sts:TagSession"],
                        principals=[iam.ArnPrincipal(caller.role_arn)],
                        conditions=tagged,
                    )
                )
            caller.add_to_policy(
                iam.PolicyStatement(
                    sid="AssumeTenantAccessRole",
                    actions=["sts:AssumeRole", "sts:TagSession"],
                    resources=[self.role.role_arn],
                )
            )

        stack = Stack.of(self)
        silo_tables = stack.format_arn(
            service="dynamodb", resource="table", resource_name=f"{data.silo_table_prefix}{TENANT_TAG}"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TenantRowsOnly",
                actions=TENANT_DATA_ACTIONS,
                resources=[t.table_arn for t in data.tenant_tables] + [silo_tables],
                conditions={
                    "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [TENANT_TAG]},
                    # Belt and braces for the empty-set case above: the key must be present.
                    "Null": {"dynamodb:LeadingKeys": "false"},
                },
            )
        )

        # Two independent layers for the secrets key, so that either alone keeps tenants apart:
        # 1. IAM: the role's identity policy allows the key only under the session's own context.
        # 2. The key policy denies the role any use under another tenant's context, without a
        #    context, or from a session without a tenant tag.
        # The key policy's allow must go to the account (handing the decision to IAM), not to the
        # role: a key-policy statement that names the role allows on its own, and the identity
        # policy, with its condition, would never be consulted.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TenantSecretsOnly",
                actions=TENANT_KMS_ACTIONS,
                resources=[secrets_key.key_arn],
                conditions={"StringEquals": {ENCRYPTION_CONTEXT_KEY: TENANT_TAG}},
            )
        )
        for statement in tenant_key_policy(self.role.role_arn):
            secrets_key.add_to_resource_policy(statement)

        prefix = tenant_prefix_pattern()
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TenantBrandingObjects",
                # DeleteObjectVersion: offboarding removes every version, not only the current one.
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[branding.arn_for_objects(f"{prefix}*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTenantBrandingPrefix",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[branding.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            )
        )
        # cdk-nag shows ${aws:PrincipalTag/tenant_id} as <aws:PrincipalTag/tenant_id> in finding ids.
        bucket_id = Stack.of(self).get_logical_id(branding.node.default_child)  # type: ignore[arg-type]
        shown_prefix = prefix.replace("${", "<").replace("}", ">")
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{shown_prefix}*]",
            "Objects under the session's own tenants/<tenant_id>/ prefix only; names are chosen at upload.",
        )


def tenant_key_policy(tenant_role_arn: str) -> list[iam.PolicyStatement]:
    """The secrets key's statements about the tenant role: hand its use to IAM, and deny on their own."""
    on_role = {"ArnEquals": {"aws:PrincipalArn": tenant_role_arn}}

    def deny(sid: str, condition: dict[str, dict[str, str]]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=sid,
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=KMS_USE_ACTIONS,
            resources=["*"],  # in a key policy "*" means this key
            conditions={**on_role, **condition},
        )

    return [
        iam.PolicyStatement(
            sid="TenantRoleUseIsDecidedByIam",
            principals=[iam.AccountRootPrincipal()],
            actions=TENANT_KMS_ACTIONS,
            resources=["*"],
            conditions=on_role,
        ),
        deny("DenyOtherTenantsContext", {"StringNotEquals": {ENCRYPTION_CONTEXT_KEY: TENANT_TAG}}),
        # A Deny whose policy variable cannot be resolved does not apply, and one whose context key
        # is absent compares nothing: both gaps get a statement of their own.
        deny("DenyWithoutTenantTag", {"Null": {"aws:PrincipalTag/tenant_id": "true"}}),
        deny("DenyWithoutTenantContext", {"Null": {ENCRYPTION_CONTEXT_KEY: "true"}}),
    ]
