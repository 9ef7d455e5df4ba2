"""Plans gate tools; quotas and rate limits hold exactly; usage is metered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tenantry.observability import add_metric_listener
from tenantry.tenancy.plans import PLANS, QuotaOverrides
from tenantry_local.platform import LocalPlatform
from tests.conftest import mcp_client


def _call(name: str, arguments: dict[str, Any], rpc_id: int = 1) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    )


def _limited(platform: LocalPlatform, new_tenant: Any, plan: str = "starter", **quotas: int) -> Any:
    record = new_tenant(plan=plan)
    record = record.model_copy(update={"quota_overrides": QuotaOverrides(**quotas)})
    platform.services.registry.put(record)
    for container in platform.emulator.containers:  # registry.put stamps nothing: the caches would hide it
        container.app.services.registry.invalidate(record.tenant_id)
    return record


@pytest.mark.parametrize(
    ("plan", "visible", "hidden"),
    [
        (
            "free",
            {"list_customers", "get_usage"},
            {"send_booking_notification", "export_customers", "customer_analytics"},
        ),
        ("starter", {"send_booking_notification"}, {"export_customers", "customer_analytics"}),
        ("professional", {"export_customers"}, {"customer_analytics"}),
        ("business", {"export_customers", "customer_analytics", "send_booking_notification"}, set()),
    ],
)
async def test_tools_list_follows_the_plan(
    platform: LocalPlatform, new_tenant: Any, plan: str, visible: set[str], hidden: set[str]
) -> None:
    tenant = new_tenant(plan=plan)
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert visible <= names
    assert not hidden & names


async def test_gated_tool_is_refused_naming_the_plan_that_has_it(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant(plan="free")
    seen: list[str] = []
    remove = add_metric_listener(lambda name, _: seen.append(name))
    try:
        async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
            refused = await client.call_tool("customer_analytics", {})
            usage = await client.call_tool("get_usage", {})
    finally:
        remove()
    # One metric for every kind of refusal; the kind is in the audit record (the dashboard's breakdown).
    assert seen.count("Refused") == 1
    for container in platform.emulator.containers:
        container.app.server.refusals.flush()
    (audited,) = [e for e in platform.services.audit.recent(tenant.tenant_id) if e.outcome == "denied"]
    assert (audited.reason, audited.resource, audited.action) == (
        "feature_denied",
        "feature",
        "tools/call:customer_analytics",
    )
    assert refused.is_error
    assert "not available on your free plan" in refused.content[0].text
    assert "business plan" in refused.content[0].text
    assert usage.structured_content is not None
    assert usage.structured_content["tool_calls"] == 1  # the refused call was not counted (get_usage was)


async def test_feature_override_enables_a_tool_for_one_tenant(platform: LocalPlatform, new_tenant: Any) -> None:
    record = new_tenant(plan="free")
    record = record.model_copy(update={"feature_overrides": {"export": True, "usage": False}})
    platform.services.registry.put(record)
    async with mcp_client(platform, platform.token(record.tenant_id)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        exported = await client.call_tool("export_customers", {})
    assert "export_customers" in names and "get_usage" not in names
    assert not exported.is_error and exported.structured_content is not None
    assert exported.structured_content["csv"].startswith("customer_id,name")


def test_monthly_quota_admits_exactly_n_under_concurrency(platform: LocalPlatform, new_tenant: Any) -> None:
    limit = 25
    tenant = _limited(platform, new_tenant, monthly_tool_calls=limit, calls_per_minute=10_000)
    token = platform.token(tenant.tenant_id)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json", "accept": "application/json"}

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as http:
            responses = await asyncio.gather(
                *(
                    http.post(platform.mcp_url, content=_call("list_customers", {}, i), headers=headers)
                    for i in range(80)
                )
            )
        return [r.json() for r in responses]

    results = asyncio.run(burst())
    admitted = [r for r in results if not r["result"].get("isError")]
    refused = [r for r in results if r["result"].get("isError")]
    assert len(admitted) == limit
    message = refused[0]["result"]["content"][0]["text"]
    assert f"Monthly limit reached: {limit} tool calls on the starter plan" in message
    assert "resets on" in message and "professional plan" in message
    for container in platform.emulator.containers:  # refusals are counted in each container's memory
        container.app.services.usage.flush()
    month = platform.services.usage.month(tenant.tenant_id, _this_month())
    assert month.calls == limit and month.quota_denied == 80 - limit


def _this_month() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m")


async def test_rate_limit_says_when_to_retry_and_audits_refusals_once_a_minute(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    # Exact counts under a controlled clock are in tests/integration/test_metering.py; here the
    # refusal as a client sees it. 8 calls at 3 a minute: at most 6 fit even across a minute boundary.
    tenant = _limited(platform, new_tenant, calls_per_minute=3)
    seen: list[str] = []
    remove = add_metric_listener(lambda name, _: seen.append(name))
    try:
        async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
            results = [await client.call_tool("list_customers", {}) for _ in range(8)]
    finally:
        remove()
    refused = [r for r in results if r.is_error]
    assert refused
    assert "Rate limit reached: 3 tool calls per minute" in refused[0].content[0].text
    assert "Retry in" in refused[0].content[0].text
    assert seen.count("Refused") == len(refused)
    for container in platform.emulator.containers:
        container.app.server.refusals.flush()
    events = [e for e in platform.services.audit.recent(tenant.tenant_id) if e.reason == "rate_limited"]
    # One record per container and minute, with the count of refusals it stands for.
    assert events and sum(e.count for e in events) == len(refused)
    assert len(events) <= 2 * len(platform.emulator.containers)


async def test_storage_quota_holds_under_concurrency(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = _limited(platform, new_tenant, max_customers=5, calls_per_minute=10_000)
    token = platform.token(tenant.tenant_id)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json", "accept": "application/json"}
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    platform.mcp_url,
                    content=_call("create_customer", {"name": f"C{i}", "customer_id": f"c{i}"}, i),
                    headers=headers,
                )
                for i in range(20)
            )
        )
    errors = [r.json()["result"]["content"][0]["text"] for r in responses if r.json()["result"].get("isError")]
    assert len(errors) == 15
    assert all("Customer limit reached: 5 customers on the starter plan" in e for e in errors)
    async with mcp_client(platform, token) as client:
        listed = await client.call_tool("list_customers", {"limit": 100})
        usage = await client.call_tool("get_usage", {})
        # Deleting one gives the slot back.
        first = listed.structured_content["customers"][0]["customer_id"]  # type: ignore[index]
        await client.call_tool("delete_customer", {"customer_id": first})
        again = await client.call_tool("create_customer", {"name": "Late", "customer_id": "late"})
    assert len(listed.structured_content["customers"]) == 5  # type: ignore[index]
    assert usage.structured_content["customers"] == 5  # type: ignore[index]
    assert not again.is_error


async def test_usage_is_metered_per_tool_with_errors_and_duration(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant(plan="starter")
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        await client.call_tool("create_customer", {"name": "M", "customer_id": "m1"})
        await client.call_tool("get_customer", {"customer_id": "m1"})
        await client.call_tool("get_customer", {"customer_id": "missing"})
        report = (await client.call_tool("get_usage", {})).structured_content
    assert report is not None
    assert report["tool_calls"] == 4 and report["plan"] == "starter"
    assert report["monthly_tool_calls_limit"] == PLANS["starter"].monthly_tool_calls
    assert report["remaining_tool_calls"] == PLANS["starter"].monthly_tool_calls - 4
    tools = report["tools"]
    assert tools["get_customer"]["calls"] == 2
    # get_usage flushes what this container has pending; the other container may hold some too.
    platform.services.usage.flush()
    for container in platform.emulator.containers:
        container.app.services.usage.flush()
    month = platform.services.usage.month(tenant.tenant_id, report["month"])
    assert month.tools["get_customer"].errors == 1
    assert month.tools["create_customer"].errors == 0
    assert month.tools["get_customer"].total_ms > 0
    assert sum(month.latency_histogram_ms.values()) >= 3
    assert month.percentile_ms(0.99) is not None


def test_noisy_neighbour_does_not_change_another_tenants_success(platform: LocalPlatform, new_tenant: Any) -> None:
    noisy = _limited(platform, new_tenant, plan="free", calls_per_minute=10)
    quiet = _limited(platform, new_tenant, plan="business")

    async def run() -> tuple[list[bool], list[bool]]:
        async def post(http: httpx.AsyncClient, tenant_id: str, i: int) -> bool:
            headers = {
                "authorization": f"Bearer {platform.token(tenant_id)}",
                "content-type": "application/json",
                "accept": "application/json",
            }
            response = await http.post(platform.mcp_url, content=_call("list_customers", {}, i), headers=headers)
            return response.status_code == 200 and not response.json()["result"].get("isError")

        async with httpx.AsyncClient(timeout=60) as http:
            noisy_calls = [post(http, noisy.tenant_id, i) for i in range(100)]  # 10x its limit
            quiet_calls = [post(http, quiet.tenant_id, i) for i in range(20)]
            results = await asyncio.gather(*noisy_calls, *quiet_calls)
        return list(results[:100]), list(results[100:])

    noisy_ok, quiet_ok = asyncio.run(run())
    assert sum(noisy_ok) <= 20  # at most two minutes' worth if the burst straddles a minute
    assert all(quiet_ok), "the quiet tenant lost calls to its noisy neighbour"
