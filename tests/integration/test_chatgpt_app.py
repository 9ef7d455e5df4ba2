"""The ChatGPT App surface through the official client as two tenants: review hints, search/fetch,
the MCP Apps widget resource, branding per tenant, and private list caching on old and new protocols."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.methods import CACHEABLE_METHODS
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tenantry.mcp_server.assembly import build_server
from tenantry.mcp_server.server import PRIVATE_LISTS
from tenantry.mcp_server.widgets import BRANDING_META_KEY, CUSTOMERS_WIDGET
from tenantry.tenancy.registry import Branding, TenantRecord
from tenantry_local.platform import LocalPlatform
from tests.tls import CLIENT_TLS

APP_MIME = "text/html;profile=mcp-app"
MODES = ["legacy", "2026-07-28"]  # the initialize handshake (2025-11-25 and older) and the stateless revision


def _tenant(platform: LocalPlatform, plan: str, company: str, color: str) -> TenantRecord:
    suffix = uuid.uuid4().hex[:8]
    record = TenantRecord(
        tenant_id=f"t-{suffix}",
        slug=f"s{suffix}",
        display_name=f"Studio {suffix}",
        plan=plan,  # type: ignore[arg-type]
        branding=Branding(company_name=company, primary_color=color),
    )
    platform.services.registry.put(record)
    return record


@asynccontextmanager
async def _client(platform: LocalPlatform, tenant: TenantRecord, mode: str) -> AsyncIterator[Client]:
    """tests.conftest.mcp_client, with the protocol mode chosen ("legacy", "auto" or a modern version)."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {platform.token(tenant.tenant_id)}"}, timeout=30, verify=CLIENT_TLS
    )
    async with http, Client(streamable_http_client(platform.mcp_url, http_client=http), mode=mode) as client:
        yield client


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_states_the_three_review_hints_and_an_output_schema(
    platform: LocalPlatform, mode: str
) -> None:
    for plan in ("free", "business"):  # business lists every tool; free the fewest
        tenant = _tenant(platform, plan, "Hints", "#123456")
        async with _client(platform, tenant, mode) as client:
            tools = (await client.list_tools()).tools
        assert {"search", "fetch", "list_customers"} <= {tool.name for tool in tools}
        for tool in tools:
            hints = tool.annotations
            assert hints is not None, tool.name
            for hint in ("read_only_hint", "destructive_hint", "open_world_hint"):
                assert getattr(hints, hint) is not None, f"{tool.name} leaves {hint} unset"
            assert tool.output_schema is not None, f"{tool.name} has no output schema"
            if hints.read_only_hint:
                assert hints.destructive_hint is False, tool.name


@pytest.mark.parametrize("mode", MODES)
async def test_lists_are_never_cacheable_across_tenants(platform: LocalPlatform, mode: str) -> None:
    tenant = _tenant(platform, "starter", "Cache", "#123456")
    async with _client(platform, tenant, mode) as client:
        expected = HANDSHAKE_PROTOCOL_VERSIONS if mode == "legacy" else ("2026-07-28",)
        assert client.protocol_version in expected
        results = [
            await client.list_tools(),
            await client.list_resources(),
            await client.read_resource(CUSTOMERS_WIDGET),
        ]
    for result in results:
        if mode == "legacy":
            continue  # handshake-era results carry no cache fields at all
        assert "cache_scope" in result.model_fields_set, f"{type(result).__name__} came without cacheScope"
        assert result.cache_scope == "private" and result.ttl_ms == 0


def test_the_server_pins_every_cacheable_method_private() -> None:
    # The SDK defaults to private today; the explicit hints keep it so if a default or a handler changes.
    assert set(PRIVATE_LISTS) == set(CACHEABLE_METHODS)
    assert all(hint.scope == "private" and hint.ttl_ms == 0 for hint in PRIVATE_LISTS.values())
    server = platform_server()
    assert {m: h.scope for m, h in server._lowlevel_server.cache_hints.items()} == dict.fromkeys(
        CACHEABLE_METHODS, "private"
    )


def platform_server() -> Any:
    """build_server over stand-ins: only the construction is under test here."""

    class _Settings:
        tracing = False
        widget_image_origins: list[str] = []
        success_log_sample = 1.0
        status_cache_seconds = 5.0

    class _Services:
        settings = _Settings()
        usage = audit = customers = insights = profile = usage_report = notifications = secrets = search = None
        placement = home_allowed = None  # the move's hooks (metering/placement.py)
        registry = type("R", (), {"invalidate": staticmethod(lambda tenant_id=None: None)})()
        resolver = type("T", (), {"refreshed": staticmethod(lambda tenant, max_age=0.0: tenant)})()

    services: Any = _Services()
    services.profile = type("P", (), {"widget_branding": staticmethod(lambda: {})})()
    return build_server(services)


async def test_widget_resource_is_an_mcp_app_with_a_csp_and_the_customer_tools_link_it(
    platform: LocalPlatform,
) -> None:
    a = _tenant(platform, "starter", "Ironworks", "#C0392B")
    b = _tenant(platform, "free", "Lotus", "#8E44AD")
    seen: list[str] = []
    for tenant in (a, b):
        async with _client(platform, tenant, "auto") as client:
            # Extensions (SEP-2133) are advertised by server/discover (2026-07-28); "auto" asks for it.
            assert client.protocol_version == "2026-07-28"
            capabilities = client.server_capabilities
            assert capabilities.extensions and "io.modelcontextprotocol/ui" in capabilities.extensions
            listed = {r.uri: r for r in (await client.list_resources()).resources}
            widget = listed[CUSTOMERS_WIDGET]
            assert widget.mime_type == APP_MIME
            assert widget.meta and "csp" in widget.meta["ui"]
            assert widget.meta["ui"]["csp"] == {"resourceDomains": []}  # no origin at all unless configured
            tools = {t.name: t for t in (await client.list_tools()).tools}
            for name in ("list_customers", "get_customer"):
                assert tools[name].meta == {"ui": {"resourceUri": CUSTOMERS_WIDGET}}, name
            read = await client.read_resource(CUSTOMERS_WIDGET)
        (content,) = read.contents
        assert content.mime_type == APP_MIME
        seen.append(content.text)  # type: ignore[union-attr]
    # One template for everyone: nothing of either tenant is in it.
    assert seen[0] == seen[1]
    for marker in ("Ironworks", "Lotus", "#C0392B", "#8E44AD", a.tenant_id, b.tenant_id):
        assert marker not in seen[0]


async def test_widget_results_carry_only_the_callers_branding(platform: LocalPlatform) -> None:
    a = _tenant(platform, "starter", "Ironworks", "#C0392B")
    b = _tenant(platform, "starter", "Lotus", "#8E44AD")
    brandings = {}
    for tenant in (a, b):
        async with _client(platform, tenant, "legacy") as client:
            created = await client.call_tool("create_customer", {"name": "Ada"})
            listed = await client.call_tool("list_customers", {})
            got = await client.call_tool("get_customer", {"customer_id": created.structured_content["customer_id"]})
            plain = await client.call_tool("get_usage", {})
        assert not listed.is_error and not got.is_error
        assert listed.meta is not None and got.meta is not None
        assert listed.meta[BRANDING_META_KEY] == got.meta[BRANDING_META_KEY]
        assert plain.meta is None or BRANDING_META_KEY not in plain.meta  # only widget tools carry it
        brandings[tenant.tenant_id] = listed.meta[BRANDING_META_KEY]
    assert brandings[a.tenant_id] == {"name": "Ironworks", "color": "#C0392B"}
    assert brandings[b.tenant_id] == {"name": "Lotus", "color": "#8E44AD"}


async def test_search_and_fetch_follow_the_connector_shape(platform: LocalPlatform) -> None:
    a = _tenant(platform, "free", "Ironworks", "#C0392B")
    async with _client(platform, a, "legacy") as client:
        await client.call_tool("create_customer", {"name": "Grace Hopper", "email": "grace@navy.example"})
        await client.call_tool("create_customer", {"name": "Alan Turing", "notes": "Prefers morning classes"})
        found = await client.call_tool("search", {"query": "grace"})
        by_notes = await client.call_tool("search", {"query": "MORNING classes"})
        none = await client.call_tool("search", {"query": "nobody-here"})
        hit = found.structured_content["results"][0]
        fetched = await client.call_tool("fetch", {"id": hit["id"]})
        missing = await client.call_tool("fetch", {"id": "cus_nope"})
        bad = await client.call_tool("search", {"query": ""})
    assert [r["title"] for r in found.structured_content["results"]] == ["Grace Hopper"]
    assert set(hit) == {"id", "title", "url"}
    assert [r["title"] for r in by_notes.structured_content["results"]] == ["Alan Turing"]
    assert none.structured_content["results"] == []
    doc = fetched.structured_content
    assert set(doc) == {"id", "title", "text", "url", "metadata"}
    assert doc["id"] == hit["id"] and doc["url"] == hit["url"] and "grace@navy.example" in doc["text"]
    assert missing.is_error and "No customer" in missing.content[0].text
    assert bad.is_error


async def test_search_and_fetch_never_cross_tenants(platform: LocalPlatform) -> None:
    a = _tenant(platform, "starter", "Ironworks", "#C0392B")
    b = _tenant(platform, "starter", "Lotus", "#8E44AD")
    unique = f"Zed{uuid.uuid4().hex[:6]}"
    async with _client(platform, a, "legacy") as client:
        created = await client.call_tool("create_customer", {"name": unique, "customer_id": "shared-id"})
        assert not created.is_error
    async with _client(platform, b, "2026-07-28") as client:
        await client.call_tool("create_customer", {"name": "Bea", "customer_id": "bea-1"})
        searched = await client.call_tool("search", {"query": unique})
        everything = await client.call_tool("search", {"query": "e"})
        fetched = await client.call_tool("fetch", {"id": "shared-id"})
    assert searched.structured_content["results"] == []
    assert all(r["id"] != "shared-id" for r in everything.structured_content["results"])
    assert fetched.is_error and "No customer with id 'shared-id'" in fetched.content[0].text
