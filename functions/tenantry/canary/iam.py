"""What IAM authorizes for each canary request: the action(s), the resource and the request context.

An AWS call can be authorized as more than one IAM action (a TransactWriteItems Put is checked as
dynamodb:PutItem; AssumeRole with tags also needs sts:TagSession). The offline proof and
`tenantry canary run` locally evaluate these with the IAM policy evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tenantry.canary.cases import CanaryCase
from tenantry.dal.keys import PK

__all__ = ["IamRequest", "iam_requests"]

ResourceKind = Literal["table", "key", "bucket", "object", "role"]


@dataclass(frozen=True)
class IamRequest:
    action: str
    kind: ResourceKind
    name: str  # table name, key ARN, bucket name, object key or role ARN
    context: dict[str, Any] = field(default_factory=dict, hash=False)
    bucket: str = ""  # for objects


def _leading_keys(keys: list[dict[str, Any]]) -> list[str]:
    return sorted({str(key[PK]["S"]) for key in keys})


def iam_requests(case: CanaryCase) -> list[IamRequest]:
    p = case.params
    op = case.operation
    if case.service == "dynamodb":
        if op in {"GetItem", "PutItem"}:
            key = p["Key"] if op == "GetItem" else p["Item"]
            return [
                IamRequest(f"dynamodb:{op}", "table", p["TableName"], {"dynamodb:LeadingKeys": _leading_keys([key])})
            ]
        if op == "Query":
            value = p["ExpressionAttributeValues"][":pk"]["S"]
            return [IamRequest("dynamodb:Query", "table", p["TableName"], {"dynamodb:LeadingKeys": [value]})]
        if op == "BatchGetItem":
            return [
                IamRequest("dynamodb:BatchGetItem", "table", table, {"dynamodb:LeadingKeys": _leading_keys(r["Keys"])})
                for table, r in p["RequestItems"].items()
            ]
        if op == "TransactWriteItems":
            # DynamoDB authorizes each entry of a transaction as its own action (a Put as PutItem).
            return [
                IamRequest(
                    "dynamodb:PutItem",
                    "table",
                    entry["Put"]["TableName"],
                    {"dynamodb:LeadingKeys": _leading_keys([entry["Put"]["Item"]])},
                )
                for entry in p["TransactItems"]
            ]
    if case.service == "kms" and op == "Decrypt":
        context = {f"kms:EncryptionContext:{k}": v for k, v in p["EncryptionContext"].items()}
        return [IamRequest("kms:Decrypt", "key", p["KeyId"], context)]
    if case.service == "s3":
        if op == "GetObject":
            return [IamRequest("s3:GetObject", "object", p["Key"], bucket=p["Bucket"])]
        if op == "ListObjectsV2":
            return [IamRequest("s3:ListBucket", "bucket", p["Bucket"], {"s3:prefix": p["Prefix"]})]
    if case.service == "sts" and op == "AssumeRole":
        tags = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in p["Tags"]}
        context = {**tags, "aws:TagKeys": sorted(t["Key"] for t in p["Tags"])}
        return [IamRequest(action, "role", p["RoleArn"], context) for action in ("sts:AssumeRole", "sts:TagSession")]
    raise ValueError(f"no IAM mapping for {case.service}:{op}")
