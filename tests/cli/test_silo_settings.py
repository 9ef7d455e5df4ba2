"""A silo table made by a move, a plan change or a restore has the stack's table settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantry_admin.silo_tables import silo_table_request
from tenantry_local.aws import TABLES, create_secrets_key, local_client
from tenantry_local.platform import LocalPlatform
from tests.cli.test_import import HEADER, _prefix


def _settings(table: str) -> dict[str, Any]:
    ddb = local_client("dynamodb")
    description = ddb.describe_table(TableName=table)["Table"]
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    tags = ddb.list_tags_of_resource(ResourceArn=description["TableArn"]).get("Tags", [])
    return {
        "status": description["TableStatus"],
        "sse": description.get("SSEDescription"),
        "pitr": backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "deletion_protection": description.get("DeletionProtectionEnabled"),
        "tags": {t["Key"]: t["Value"] for t in tags},
    }


@pytest.fixture
def tagged_stack(platform: LocalPlatform) -> Iterator[None]:
    """The stack's data table carries a tag (as `cdk.Tags.of(stack)` would put on every table)."""
    ddb = local_client("dynamodb")
    arn = ddb.describe_table(TableName=platform.settings.data_table)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "cost-center", "Value": "gyms"}])
    yield
    ddb.untag_resource(ResourceArn=arn, TagKeys=["cost-center"])


def test_a_tenant_moved_into_its_silo_gets_a_table_like_the_stacks(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, tagged_stack: None
) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "professional",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0, created.err
    # A plan change that moves: the same table maker as `tenants move --to silo` and a restore.
    run = tenantry("tenants", "update", tenant_id, "--plan", "business", "--yes")
    assert run.code == 0, run.err
    stack, silo = _settings(platform.settings.data_table), _settings(platform.settings.silo_table_prefix + tenant_id)
    assert silo["status"] == "ACTIVE"
    assert stack["sse"]["Status"] == "ENABLED" and silo["sse"]["Status"] == "ENABLED"
    assert silo["sse"]["KMSMasterKeyArn"] == stack["sse"]["KMSMasterKeyArn"]  # the same (AWS managed) key
    assert silo["pitr"] == "ENABLED"
    assert silo["deletion_protection"] is stack["deletion_protection"] is True
    assert silo["tags"] == {"cost-center": "gyms", "tenant_id": tenant_id}


def test_a_stack_with_its_own_kms_key_gets_silo_tables_encrypted_with_it(platform: LocalPlatform) -> None:
    ddb, kms = local_client("dynamodb"), local_client("kms")
    key = create_secrets_key("alias/tenantry-test-table-key")
    template = "tenantry-test-cmk-template"
    ddb.create_table(
        TableName=template,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
    )
    owned = template + "-owned"  # DynamoDB's own key: no SSEDescription at all
    ddb.create_table(TableName=owned, BillingMode="PAY_PER_REQUEST", **TABLES["data"])
    try:
        request = silo_table_request(ddb, kms, template, "tenantry-silo-x", "x")
        assert silo_table_request(ddb, kms, owned, "tenantry-silo-x", "x")["SSESpecification"] == {"Enabled": False}
    finally:
        ddb.delete_table(TableName=template)
        ddb.delete_table(TableName=owned)
    assert request["SSESpecification"] == {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    assert request["DeletionProtectionEnabled"] is False  # as the template says
    # The stack's own table: the AWS managed key is asked for as the stack asks for it (no key id).
    managed = silo_table_request(ddb, kms, platform.settings.data_table, "tenantry-silo-x", "x")
    assert managed["SSESpecification"] == {"Enabled": True, "SSEType": "KMS"}
    assert managed["DeletionProtectionEnabled"] is True
    assert managed["Tags"] == [{"Key": "tenant_id", "Value": "x"}]


def test_a_business_tenant_imported_in_bulk_gets_a_table_like_the_stacks(
    platform: LocalPlatform, tenantry: Any, tmp_path: Path, tagged_stack: None
) -> None:
    prefix = _prefix()
    source = tmp_path / "tenants.csv"
    source.write_text(f"{HEADER}\n{prefix}-biz,{prefix}-biz,Big Gym,business\n")
    run = tenantry("tenants", "import", str(source))
    assert run.code == 0, run.err
    stack, silo = _settings(platform.settings.data_table), _settings(f"tenantry-silo-{prefix}-biz")
    assert silo["sse"]["KMSMasterKeyArn"] == stack["sse"]["KMSMasterKeyArn"] and silo["pitr"] == "ENABLED"
    assert silo["deletion_protection"] is True
    assert silo["tags"] == {"cost-center": "gyms", "tenant_id": f"{prefix}-biz"}
