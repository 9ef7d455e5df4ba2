"""The isolation canary's cases as data: the exact AWS request canary tenant A makes, and the decision due.

Every key comes from tenantry.dal.keys and every prefix from the isolation guard, so a case names
exactly what the runtime would send. The offline proof (tests/infra/test_canary_evaluation.py) feeds
these same requests to the IAM policy evaluator; the deployed canary (runner.py) sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import PK, canary_item_key, secret_key
from tenantry.isolation.guard import tenant_prefix
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.registry import TenantRecord

__all__ = [
    "CANARY_A",
    "CANARY_B",
    "CANARY_TENANTS",
    "SECRET_NAME",
    "CanaryCase",
    "CanaryTargets",
    "Decision",
    "build_cases",
    "canary_context",
    "is_canary_tenant",
    "logo_key",
    "secret_item_key",
]

# Two synthetic tenants. They are never in the registry (no token can name them, and tenant lists,
# usage reports and bills, which enumerate the registry, never see them); `tenants create` refuses
# these ids so no real tenant can take one.
CANARY_A = "tenantry-canary-a"
CANARY_B = "tenantry-canary-b"
CANARY_TENANTS = frozenset({CANARY_A, CANARY_B})
SECRET_NAME = "canary"
# The data KMS's Decrypt refuses with when the ciphertext was bound to another context: the
# cryptographic layer, not IAM, is what denies a tenant's own-context decrypt of another's secret.
ACCESS_DENIED = ("AccessDeniedException", "AccessDenied")
WRONG_CONTEXT = ("InvalidCiphertextException",)

Decision = Literal["allow", "deny"]
Service = Literal["dynamodb", "kms", "s3", "sts"]


def is_canary_tenant(tenant_id: str) -> bool:
    return tenant_id in CANARY_TENANTS


def canary_context(tenant_id: str, data_table: str, run_id: str) -> TenantContext:
    """A canary tenant's context: the shape the runtime's stores and guard take, plan free."""
    record = TenantRecord(tenant_id=tenant_id, slug=tenant_id, display_name=f"Isolation {tenant_id}", plan="free")
    return record.context("isolation-canary", run_id, data_table)


def logo_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}logo.png"


@dataclass(frozen=True)
class CanaryTargets:
    """What the cases name in this deployment (from the function's settings)."""

    cells: tuple[str, ...]  # pooled tables, cell 0 (the pool) first; both canary tenants live in cell 0
    silo_prefix: str
    key_arn: str
    bucket: str
    tenant_role_arn: str
    a_ciphertext: bytes = b""
    b_ciphertext: bytes = b""


@dataclass(frozen=True)
class CanaryCase:
    name: str
    service: Service
    operation: str  # the botocore operation name
    params: Mapping[str, Any]  # the exact request parameters
    expect: Decision
    # The error codes that count as the expected denial (anything else is a failure).
    denied_by: tuple[str, ...] = ACCESS_DENIED
    # IAM's own decision for this request; differs from `expect` only where KMS's ciphertext binding
    # is the layer that denies (IAM lets A use its own context; the ciphertext is B's).
    iam: Decision | None = None
    # The table (DynamoDB) or bucket (S3) the request names, for the guard and the evaluator.
    resource: str = ""

    @property
    def iam_decision(self) -> Decision:
        return self.iam or self.expect

    def describe(self) -> str:
        """The request in one line, with binary values shown by length only."""
        shown = {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v) for k, v in self.params.items()}
        return f"{self.service}:{self.operation} {_compact(shown)}"


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def build_cases(targets: CanaryTargets) -> list[CanaryCase]:
    """Every request canary A makes, in order (its own write comes before its own read)."""
    pool = targets.cells[0]
    b_item_key = to_attrs(canary_item_key(CANARY_B))
    b_item = {**b_item_key, "written_by": {"S": CANARY_A}}
    cases: list[CanaryCase] = [
        CanaryCase(
            "own: A writes its own item",
            "dynamodb",
            "PutItem",
            {"TableName": pool, "Item": {**to_attrs(canary_item_key(CANARY_A)), "written_by": {"S": CANARY_A}}},
            "allow",
            resource=pool,
        ),
        CanaryCase(
            "own: A reads its own item",
            "dynamodb",
            "GetItem",
            {"TableName": pool, "Key": to_attrs(canary_item_key(CANARY_A))},
            "allow",
            resource=pool,
        ),
        CanaryCase(
            "own: A decrypts its own secret",
            "kms",
            "Decrypt",
            {
                "KeyId": targets.key_arn,
                "CiphertextBlob": targets.a_ciphertext,
                "EncryptionContext": {"tenant_id": CANARY_A, "secret_name": SECRET_NAME},
            },
            "allow",
            resource=targets.key_arn,
        ),
    ]
    for n, table in enumerate(targets.cells):
        where = "pool" if n == 0 else f"cell {n}"
        cases += [
            CanaryCase(
                f"{where}: GetItem of B's item",
                "dynamodb",
                "GetItem",
                {"TableName": table, "Key": b_item_key},
                "deny",
                resource=table,
            ),
            CanaryCase(
                f"{where}: Query of B's partition",
                "dynamodb",
                "Query",
                {
                    "TableName": table,
                    "KeyConditionExpression": "#pk = :pk",
                    "ExpressionAttributeNames": {"#pk": PK},
                    "ExpressionAttributeValues": to_attrs({":pk": CANARY_B}),
                },
                "deny",
                resource=table,
            ),
            CanaryCase(
                f"{where}: PutItem into B's partition",
                "dynamodb",
                "PutItem",
                {"TableName": table, "Item": b_item},
                "deny",
                resource=table,
            ),
            CanaryCase(
                f"{where}: BatchGetItem of A's and B's items",
                "dynamodb",
                "BatchGetItem",
                {"RequestItems": {table: {"Keys": [to_attrs(canary_item_key(CANARY_A)), b_item_key]}}},
                "deny",
                resource=table,
            ),
            CanaryCase(
                f"{where}: TransactWriteItems into B's partition",
                "dynamodb",
                "TransactWriteItems",
                {"TransactItems": [{"Put": {"TableName": table, "Item": b_item}}]},
                "deny",
                resource=table,
            ),
        ]
    silo = targets.silo_prefix + CANARY_B
    cases += [
        CanaryCase(
            "silo: GetItem in B's silo table",
            "dynamodb",
            "GetItem",
            {"TableName": silo, "Key": b_item_key},
            "deny",
            resource=silo,
        ),
        CanaryCase(
            "kms: Decrypt B's secret under B's context",
            "kms",
            "Decrypt",
            {
                "KeyId": targets.key_arn,
                "CiphertextBlob": targets.b_ciphertext,
                "EncryptionContext": {"tenant_id": CANARY_B, "secret_name": SECRET_NAME},
            },
            "deny",
            resource=targets.key_arn,
        ),
        CanaryCase(
            "kms: Decrypt B's secret under A's context",
            "kms",
            "Decrypt",
            {
                "KeyId": targets.key_arn,
                "CiphertextBlob": targets.b_ciphertext,
                "EncryptionContext": {"tenant_id": CANARY_A, "secret_name": SECRET_NAME},
            },
            "deny",
            denied_by=WRONG_CONTEXT,
            iam="allow",
            resource=targets.key_arn,
        ),
        CanaryCase(
            "s3: GetObject of B's logo",
            "s3",
            "GetObject",
            {"Bucket": targets.bucket, "Key": logo_key(CANARY_B)},
            "deny",
            resource=targets.bucket,
        ),
        CanaryCase(
            "s3: ListObjectsV2 of B's prefix",
            "s3",
            "ListObjectsV2",
            {"Bucket": targets.bucket, "Prefix": tenant_prefix(CANARY_B)},
            "deny",
            resource=targets.bucket,
        ),
        CanaryCase(
            "sts: A's session assumes the tenant role with B's tag",
            "sts",
            "AssumeRole",
            {
                "RoleArn": targets.tenant_role_arn,
                "RoleSessionName": f"tenant-{CANARY_B}",
                "Tags": [{"Key": "tenant_id", "Value": CANARY_B}],
            },
            "deny",
            resource=targets.tenant_role_arn,
        ),
    ]
    return cases


def secret_item_key(tenant_id: str, data_table: str) -> dict[str, str]:
    """Where a canary tenant's secret item sits (the runtime's own secret key)."""
    return secret_key(canary_context(tenant_id, data_table, "canary"), SECRET_NAME)
