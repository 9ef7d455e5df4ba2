"""The reference tools through the official MCP client, the emulated gateway and moto."""

from __future__ import annotations

from typing import Any

from tenantry_local.platform import LocalPlatform
from tests.conftest import mcp_client

# Tools every reference tenant sees, whatever else is added: a new tool does not break this file.
REFERENCE_TOOLS = {"create_customer", "get_customer", "list_customers", "get_tenant_profile", "search", "fetch"}


def starter_tools(platform: LocalPlatform) -> set[str]:
    """Every registered tool whose plan feature a starter tenant has, read from the running server."""
    from tenantry.tenancy.plans import PLANS

    server = platform.emulator.containers[0].app.server
    return {name for name, feature in server.tool_features.items() if feature in PLANS["starter"].features}


def _data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_initialize_and_list_tools(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        listed = await client.list_tools()
    names = {tool.name for tool in listed.tools}
    assert names == starter_tools(platform)
    assert names >= REFERENCE_TOOLS and "export_customers" not in names  # professional and above
    for tool in listed.tools:
        assert tool.output_schema is not None, f"{tool.name} has no structured output schema"
        properties = tool.input_schema.get("properties", {})
        assert not any("tenant" in name.lower() for name in properties), f"{tool.name} takes a tenant argument"


async def test_customer_lifecycle(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        created = _data(await client.call_tool("create_customer", {"name": "Ada", "email": "ada@example.com"}))
        customer_id = created["customer_id"]
        assert created["version"] == 1 and created["membership"] == "none"

        fetched = _data(await client.call_tool("get_customer", {"customer_id": customer_id}))
        assert fetched["name"] == "Ada"

        updated = _data(
            await client.call_tool(
                "update_customer", {"customer_id": customer_id, "membership": "annual", "expected_version": 1}
            )
        )
        assert updated["membership"] == "annual" and updated["version"] == 2 and updated["name"] == "Ada"

        stale = await client.call_tool(
            "update_customer", {"customer_id": customer_id, "name": "X", "expected_version": 1}
        )
        assert stale.is_error and "changed by someone else" in stale.content[0].text

        deleted = _data(await client.call_tool("delete_customer", {"customer_id": customer_id}))
        assert deleted == {"customer_id": customer_id, "deleted": True}

        gone = await client.call_tool("get_customer", {"customer_id": customer_id})
        assert gone.is_error and "No customer" in gone.content[0].text


async def test_create_with_chosen_id_refuses_duplicates(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        _data(await client.call_tool("create_customer", {"name": "Ben", "customer_id": "member-7"}))
        again = await client.call_tool("create_customer", {"name": "Other Ben", "customer_id": "member-7"})
        assert again.is_error and "already exists" in again.content[0].text
        kept = _data(await client.call_tool("get_customer", {"customer_id": "member-7"}))
    assert kept["name"] == "Ben"


async def test_list_customers_paginates_with_opaque_cursor(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        for i in range(5):
            _data(await client.call_tool("create_customer", {"name": f"C{i}", "customer_id": f"c{i}"}))
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"limit": 2}
            if cursor:
                args["cursor"] = cursor
            page = _data(await client.call_tool("list_customers", args))
            seen += [c["customer_id"] for c in page["customers"]]
            pages += 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
            assert tenant.tenant_id not in cursor and "CUSTOMER" not in cursor
    assert seen == ["c0", "c1", "c2", "c3", "c4"]
    assert pages == 3


async def test_tenant_profile_is_the_tokens_tenant(platform: LocalPlatform) -> None:
    async with mcp_client(platform, platform.token("lotus-yoga")) as client:
        profile = _data(await client.call_tool("get_tenant_profile", {}))
    assert profile["tenant_id"] == "lotus-yoga"
    assert profile["plan"] == "free"
    assert profile["branding"]["company_name"] == "Lotus Yoga"


async def test_two_tenants_never_see_each_others_customers(platform: LocalPlatform, new_tenant: Any) -> None:
    a, b = new_tenant(), new_tenant()
    async with mcp_client(platform, platform.token(a.tenant_id)) as client_a:
        _data(await client_a.call_tool("create_customer", {"name": "Alice of A", "customer_id": "shared-1"}))
        _data(await client_a.call_tool("create_customer", {"name": "Only in A", "customer_id": "a-only"}))
    async with mcp_client(platform, platform.token(b.tenant_id)) as client_b:
        # The same id is free in B: tenants never collide.
        _data(await client_b.call_tool("create_customer", {"name": "Bob of B", "customer_id": "shared-1"}))
        listed = _data(await client_b.call_tool("list_customers", {}))
        assert [c["name"] for c in listed["customers"]] == ["Bob of B"]
        assert _data(await client_b.call_tool("get_customer", {"customer_id": "shared-1"}))["name"] == "Bob of B"
        missing = await client_b.call_tool("get_customer", {"customer_id": "a-only"})
        never = await client_b.call_tool("get_customer", {"customer_id": "never-existed"})
        # Another tenant's id and a missing one get the same answer, so existence does not leak.
        assert missing.is_error and never.is_error
        assert missing.content[0].text.replace("a-only", "ID") == never.content[0].text.replace("never-existed", "ID")
        for tool, extra in (("update_customer", {"name": "hijack"}), ("delete_customer", {})):
            refused = await client_b.call_tool(tool, {"customer_id": "a-only", **extra})
            assert refused.is_error and "No customer with id 'a-only'" in refused.content[0].text
    async with mcp_client(platform, platform.token(a.tenant_id)) as client_a:
        still = _data(await client_a.call_tool("get_customer", {"customer_id": "a-only"}))
        listed_a = _data(await client_a.call_tool("list_customers", {}))
    assert still["name"] == "Only in A" and still["version"] == 1
    assert sorted(c["name"] for c in listed_a["customers"]) == ["Alice of A", "Only in A"]


async def test_demo_tenants_are_seeded_with_colliding_ids(platform: LocalPlatform) -> None:
    names = {}
    for tenant_id in ("ironworks-gym", "lotus-yoga"):
        async with mcp_client(platform, platform.token(tenant_id)) as client:
            names[tenant_id] = _data(await client.call_tool("get_customer", {"customer_id": "cus_0001"}))["name"]
    assert names == {"ironworks-gym": "Ada Strong", "lotus-yoga": "Dev Asana"}
