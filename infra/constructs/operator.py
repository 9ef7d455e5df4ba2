"""The operator's managed policy: what `tenantry ... --stack` does with the operator's own credentials.

Created by the stack and published as the `OperatorPolicyArn` output; attach it to the operator's
role (docs/deploy.md). It is derived from what the CLI does, not from a list in the docs:
tests/infra/test_operator_policy.py runs every operator command against the local platform,
records each AWS request the command makes, and has the offline IAM evaluator confirm that this
policy allows every one of them and grants no action none of them uses (and that removing any one
action denies some recorded request). What an operator does as a tenant (offboarding's deletes,
`tenantry secrets`) runs under the tenant access role, which the operator may assume with a tenant
tag (`operator_principal_arn`), and is governed by that role's policy.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constructs.data import TenantData
from infra.nag import acknowledge

__all__ = ["OperatorPolicy", "operator_statements"]

# table role -> the item actions the operator CLI uses on it (tenantry_admin, tenantry.tenancy, dal).
# ConditionCheckItem: a restore, an offboarding and a plan change confirm the record's version in their transaction.
REGISTRY_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
]
# The month items (reports, health) and the blocked mark that suspend, resume and offboard set; a
# tenant's months read for an export (Query) and written by a restore (PutItem); `tenants top` scans them.
USAGE_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"]
AUDIT_ACTIONS = ["dynamodb:PutItem", "dynamodb:Query"]
MEMBER_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"]
# Suspend and `members remove` revoke the tenant's (or the user's) sign-ins.
OAUTH_ACTIONS = ["dynamodb:Query", "dynamodb:UpdateItem"]
# Silo tables: created on onboarding with the data table's key schema, dropped on offboarding.
SILO_ACTIONS = [
    "dynamodb:CreateTable",
    "dynamodb:TagResource",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
]


def operator_statements(
    stack: Stack, data: TenantData, members: ddb.ITable, oauth: ddb.ITable, tenant_role_arn: str
) -> list[iam.PolicyStatement]:
    silo_tables = stack.format_arn(service="dynamodb", resource="table", resource_name=f"{data.silo_table_prefix}*")
    cell_tables = stack.format_arn(
        service="dynamodb", resource="table", resource_name=f"{data.name_prefix}-data-cell-*"
    )
    stack_arn = stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{Aws.STACK_NAME}/*")
    table = iam.PolicyStatement
    return [
        # --stack finds the tables, role and bucket from this stack's outputs.
        table(sid="ReadStackOutputs", actions=["cloudformation:DescribeStacks"], resources=[stack_arn]),
        table(sid="TenantRegistry", actions=REGISTRY_ACTIONS, resources=[data.registry.table_arn]),
        table(sid="Usage", actions=USAGE_ACTIONS, resources=[data.usage.table_arn]),
        table(sid="Audit", actions=AUDIT_ACTIONS, resources=[data.audit.table_arn]),
        table(sid="Memberships", actions=MEMBER_ACTIONS, resources=[members.table_arn]),
        table(sid="RevokeSignIns", actions=OAUTH_ACTIONS, resources=[oauth.table_arn]),
        # A silo table copies the data table's key schema, encryption, deletion protection and tags.
        table(
            sid="DataTableSchema",
            actions=["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
            resources=[data.data.table_arn],
        ),
        # `cells show` counts each cell's items; by name pattern, so a cell added by `-c cells=N` is covered.
        table(sid="CellSizes", actions=["dynamodb:DescribeTable"], resources=[cell_tables]),
        table(sid="SiloTables", actions=SILO_ACTIONS, resources=[silo_tables]),
        # One tenant per session, under the tenant role's own tag conditions (its trust policy).
        table(sid="ActAsOneTenant", actions=["sts:AssumeRole", "sts:TagSession"], resources=[tenant_role_arn]),
        # `tenantry doctor --stack`: the account's concurrency quota against the functions' reservations.
        table(sid="ConcurrencyQuota", actions=["lambda:GetAccountSettings"], resources=["*"]),
    ]


class OperatorPolicy(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        data: TenantData,
        members: ddb.ITable,
        oauth: ddb.ITable,
        tenant_role_arn: str,
        function_arns: list[str],
    ) -> None:
        super().__init__(scope, id)
        statements = operator_statements(Stack.of(self), data, members, oauth, tenant_role_arn)
        statements.append(
            iam.PolicyStatement(
                sid="FunctionReservations", actions=["lambda:GetFunctionConcurrency"], resources=function_arns
            )
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Tenantry operator: what the tenantry CLI does with --stack (attach to the operator's role)",
            statements=statements,
        )
        for rule, why in (
            (
                f"Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{data.silo_table_prefix}*",
                "Silo tables are created per tenant as <prefix>-silo-<tenant_id>: only their prefix can be named.",
            ),
            (
                f"Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{data.name_prefix}-data-cell-*",
                "DescribeTable only, on this stack's cell tables by name, so a cell added later is covered.",
            ),
            (
                "Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/<AWS::StackName>/*",
                "This stack only; a stack ARN ends in an id generated at its creation.",
            ),
            ("Resource::*", "lambda:GetAccountSettings (the doctor's quota check) accepts no resource ARN, only '*'."),
        ):
            acknowledge(self.policy, f"AwsSolutions-IAM5[{rule}]", why)
