"""The KMS key for tenant integration secrets.

Its policy lets account administrators manage the key but not use it. tenant_access.py adds the
tenant access role's statements: its use is handed to IAM (where the role's identity policy
requires the session's own encryption context), and the key policy itself denies the role any
use under another tenant's context, without a context, or without a tenant tag. Either layer
alone keeps tenants apart (tests/infra/test_policy_evaluation.py removes each in turn).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constructs.data import KEEP

__all__ = ["ADMIN_ACTIONS", "SecretsKey"]

# Management only: none of these encrypt, decrypt or create grants for others to do so.
ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
]


class SecretsKey(Construct):
    def __init__(self, scope: Construct, id: str, *, name_prefix: str) -> None:
        super().__init__(scope, id)
        admin = iam.PolicyStatement(
            sid="AccountAdministersButCannotUse",
            principals=[iam.AccountRootPrincipal()],
            actions=ADMIN_ACTIONS,
            # In a key policy "*" means this key; there is nothing narrower to name.
            resources=["*"],
        )
        self.key = kms.Key(
            self,
            "Key",
            description="Tenantry: tenant integration secrets (encryption context carries tenant_id)",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            policy=iam.PolicyDocument(statements=[admin]),
            # Ciphertexts in the retained tables stay readable only while the key exists.
            # Not on a rolled-back create: no ciphertext can exist yet.
            removal_policy=KEEP,
            pending_window=Duration.days(30),
        )
        self.alias = self.key.add_alias(f"alias/{name_prefix}-secrets")
