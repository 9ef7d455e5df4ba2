"""Against a deployed stack: the official MCP client over the real URL, and IAM refusing a cross-tenant read."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import Deployed, TenantToken, give_up

pytestmark = pytest.mark.e2e


def _client(url: str, token: str) -> Any:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return http, Client(streamable_http_client(url, http_client=http))


async def test_metadata_is_public_and_mcp_needs_a_token(deployed: Deployed) -> None:
    url = deployed.outputs["McpUrl"]
    origin = url.rsplit("/mcp", 1)[0]
    async with httpx2.AsyncClient(timeout=30) as http:
        metadata = await http.get(f"{origin}/.well-known/oauth-protected-resource")
        assert metadata.status_code == 200
        assert metadata.json()["resource"] == url
        refused = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401


async def test_two_tenants_do_not_see_each_others_customers(
    deployed: Deployed, tenants: tuple[TenantToken, TenantToken]
) -> None:
    a, b = tenants
    url = deployed.outputs["McpUrl"]
    marker = f"e2e-{uuid.uuid4().hex[:8]}"
    http_a, client_a = _client(url, a.token)
    async with http_a, client_a:
        created = await client_a.call_tool("create_customer", {"name": marker})
        assert not created.is_error, created.content
        customer_id = created.structured_content["customer_id"]
    http_b, client_b = _client(url, b.token)
    async with http_b, client_b:
        listed = await client_b.call_tool("list_customers", {})
        assert not listed.is_error, listed.content
        assert marker not in str(listed.structured_content)
        probe = await client_b.call_tool("get_customer", {"customer_id": customer_id})
        assert probe.is_error
    http_a, client_a = _client(url, a.token)
    async with http_a, client_a:
        await client_a.call_tool("delete_customer", {"customer_id": customer_id})


def test_iam_refuses_a_cross_tenant_read_with_tenant_a_credentials(
    deployed: Deployed, tenants: tuple[TenantToken, TenantToken], request: pytest.FixtureRequest
) -> None:
    from botocore.exceptions import ClientError

    a, b = tenants
    sts = deployed.session.client("sts")
    try:
        assumed = sts.assume_role(
            RoleArn=deployed.outputs["TenantAccessRoleArn"],
            RoleSessionName=f"e2e-{a.tenant_id}"[:64],
            Tags=[{"Key": "tenant_id", "Value": a.tenant_id}],
            DurationSeconds=900,
        )["Credentials"]
    except ClientError as error:
        give_up(
            request.config, f"e2e: cannot assume the tenant role ({error}); deploy with -c e2e_principal_arn=<your ARN>"
        )
    import boto3

    dynamodb = boto3.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=deployed.session.region_name,
    ).client("dynamodb")
    table = deployed.outputs["DataTable"]
    # Own partition: allowed (the item may or may not exist).
    dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :t", ExpressionAttributeValues={":t": {"S": a.tenant_id}}
    )
    # Tenant B's partition, and a scan of everything: IAM says no.
    for attempt in (
        lambda: dynamodb.query(
            TableName=table, KeyConditionExpression="pk = :t", ExpressionAttributeValues={":t": {"S": b.tenant_id}}
        ),
        lambda: dynamodb.get_item(TableName=table, Key={"pk": {"S": b.tenant_id}, "sk": {"S": "x"}}),
        lambda: dynamodb.scan(TableName=table, Limit=1),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    # Untagged sessions are refused by the trust policy itself.
    with pytest.raises(ClientError):
        sts.assume_role(RoleArn=deployed.outputs["TenantAccessRoleArn"], RoleSessionName="e2e-untagged")
