"""A tenant's own (silo) table, made with the same settings as the stack's data table.

The stack's data table is the template (infra/constructs/data.py: on demand, encrypted,
point-in-time recovery, deletion protection). Its settings are read from DynamoDB rather than
repeated here, so a silo table made by `tenants create`, a move, a plan change or a restore
matches what the deployed stack says, tags added later included. Telling a customer managed key
from the AWS managed one takes KMS DescribeKey, so it is done only when a KMS client is given.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tenantry.errors import aws_error_code

__all__ = ["AWS_MANAGED_DYNAMODB_KEY", "for_tenant", "silo_table_request", "silo_table_template"]

AWS_MANAGED_DYNAMODB_KEY = "alias/aws/dynamodb"


def _sse(dynamodb_sse: dict[str, Any] | None, kms: Any) -> dict[str, Any]:
    """The SSESpecification that gives the new table the template's encryption."""
    if not dynamodb_sse or dynamodb_sse.get("Status") not in ("ENABLED", "ENABLING", "UPDATING"):
        return {"Enabled": False}  # AWS owned key: DynamoDB's default, nothing to ask for
    key_arn = dynamodb_sse.get("KMSMasterKeyArn")
    if kms is None:
        # DescribeTable names the AWS managed key by its ARN like any other key; only KMS tells them
        # apart. Without a KMS client (the CLI: the operator policy grants no KMS action) the key is
        # the one the stack deploys, AWS managed (infra/constructs/data.py), asked for without an id.
        return {"Enabled": True, "SSEType": "KMS"}
    if key_arn:
        # Asking for the AWS managed key by ARN is not how the stack asks for it: leave the id out.
        try:
            managed = kms.describe_key(KeyId=AWS_MANAGED_DYNAMODB_KEY)["KeyMetadata"]["Arn"]
        except ClientError as exc:
            if aws_error_code(exc) not in ("NotFoundException", "AccessDeniedException"):
                raise
            managed = None
        if managed == key_arn:
            key_arn = None
    spec: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if key_arn:
        spec["KMSMasterKeyId"] = key_arn
    return spec


def silo_table_template(dynamodb: Any, kms: Any, template_table: str) -> dict[str, Any]:
    """CreateTable's arguments every silo table shares: the template's keys, encryption, protection, tags.

    Read once for many tables (a bulk import); `for_tenant` adds a table's name and tenant tag.
    Point-in-time recovery cannot be asked for in CreateTable: the caller turns it on once ACTIVE.
    """
    template = dynamodb.describe_table(TableName=template_table)["Table"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=template["TableArn"]).get("Tags", [])
    return {
        "KeySchema": template["KeySchema"],
        "AttributeDefinitions": template["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": _sse(template.get("SSEDescription"), kms),
        "DeletionProtectionEnabled": bool(template.get("DeletionProtectionEnabled", False)),
        "Tags": [t for t in tags if t["Key"] != "tenant_id" and not t["Key"].startswith("aws:")],
    }


def for_tenant(template: dict[str, Any], name: str, tenant_id: str) -> dict[str, Any]:
    return {**template, "TableName": name, "Tags": [*template["Tags"], {"Key": "tenant_id", "Value": tenant_id}]}


def silo_table_request(dynamodb: Any, kms: Any, template_table: str, name: str, tenant_id: str) -> dict[str, Any]:
    """CreateTable's arguments for `name`, the silo table of `tenant_id`, like `template_table`."""
    return for_tenant(silo_table_template(dynamodb, kms, template_table), name, tenant_id)
