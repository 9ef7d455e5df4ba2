"""One warm container serves many tenants: nothing one leaves behind may reach the next.

Layers under test: the per-request ContextVar tenant scope (tenancy/context.py),
the registry cache keyed by tenant id, and the gateway's per-request resolution.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tenantry.settings import Settings
from tenantry_local.platform import LocalPlatform
from tests.conftest import mcp_client
from tests.security.conftest import (
    WarmContainer,
    call_asgi,
    lambda_event,
    new_container,
    probe_gateway,
    rpc,
    run_in_own_loop,
    seed_customers,
    snapshot,
    unique,
)


def _profile(container: WarmContainer, tenant_id: str) -> dict[str, Any]:
    status, body = container.invoke(lambda_event(tenant_id, rpc("get_tenant_profile", {})))
    assert status == 200, body
    profile: dict[str, Any] = body["result"]["structuredContent"]
    return profile


def _customer_ids(container: WarmContainer, tenant_id: str) -> list[str]:
    status, body = container.invoke(lambda_event(tenant_id, rpc("list_customers", {"limit": 100})))
    assert status == 200, body
    return [c["customer_id"] for c in body["result"]["structuredContent"]["customers"]]


def test_v26_cache_poisoning_registry_lookups_alternating_tenants(
    platform: LocalPlatform, new_tenant: Any, warm: WarmContainer
) -> None:
    tenants = [new_tenant(plan=plan) for plan in ("free", "business", "starter")]
    for record in tenants:
        seed_customers(platform, record, f"only-{record.tenant_id}")
    # Round-robin through one container, so each answer follows a cached entry of another tenant.
    for _ in range(4):
        for record in tenants:
            profile = _profile(warm, record.tenant_id)
            assert (profile["tenant_id"], profile["slug"], profile["display_name"], profile["plan"]) == (
                record.tenant_id,
                record.slug,
                record.display_name,
                record.plan,
            )
            assert _customer_ids(warm, record.tenant_id) == [f"only-{record.tenant_id}"]


def test_v27_cache_poisoning_negative_and_suspended_entries_stay_with_their_tenant(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    container = new_container(platform.settings)
    try:
        victim = new_tenant()
        suspended = new_tenant(status="suspended")
        ghost = unique("ghost")
        # The attacker fills the container's cache with a miss and a suspended record...
        for tenant_id in (ghost, suspended.tenant_id, ghost.upper(), victim.tenant_id + "-x"):
            status, _ = container.invoke(lambda_event(tenant_id, rpc("list_customers", {})))
            assert status == 403
        # ...and the victim, served next by the same container, is unaffected.
        assert _profile(container, victim.tenant_id)["tenant_id"] == victim.tenant_id
        # The cache holds one entry per tenant id that was asked for, each its own record.
        registry = container.app.services.registry
        assert registry.get(victim.tenant_id).tenant_id == victim.tenant_id  # type: ignore[union-attr]
        assert registry.get(suspended.tenant_id).status == "suspended"  # type: ignore[union-attr]
        assert registry.get(ghost) is None
    finally:
        container.container.executor.shutdown(wait=False, cancel_futures=True)


async def _interleaved(settings: Settings, tenants: list[str], rounds: int) -> list[tuple[str, dict[str, Any]]]:
    gateway, release, entered = probe_gateway(settings)

    async def one(tenant_id: str, i: int) -> tuple[str, dict[str, Any]]:
        status, body = await call_asgi(gateway, lambda_event(tenant_id, rpc("probe", {}, rpc_id=i)))
        assert status == 200, body
        assert not body["result"].get("isError"), body
        return tenant_id, body["result"]["structuredContent"]

    order = [tenants[i % len(tenants)] for i in range(rounds)]
    random.Random(5).shuffle(order)
    tasks = [asyncio.create_task(one(tenant_id, i)) for i, tenant_id in enumerate(order)]
    # Every request is inside its tool, in its own tenant scope, before any may finish.
    async with asyncio.timeout(20):
        while len(entered) < rounds:
            await asyncio.sleep(0.001)
    assert sorted(entered) == sorted(order)
    release.set()
    return await asyncio.gather(*tasks)


def test_v28_concurrent_requests_in_one_handler_have_no_context_bleed(platform: LocalPlatform, new_tenant: Any) -> None:
    tenants = [new_tenant().tenant_id for _ in range(3)]
    results = run_in_own_loop(lambda: _interleaved(platform.settings, tenants, rounds=60))
    assert len(results) == 60
    for caller, seen in results:
        assert seen == {"before": caller, "after": caller, "profile": caller}


def test_v29_concurrent_requests_log_under_their_own_tenant(
    platform: LocalPlatform, new_tenant: Any, tenantry_logs: Any
) -> None:
    tenants = [new_tenant().tenant_id for _ in range(2)]
    run_in_own_loop(lambda: _interleaved(platform.settings, tenants, rounds=6))
    probes = [line for line in tenantry_logs.lines if line["message"].startswith("probe")]
    assert len(probes) == 12
    # The tool logs the tenant its own context holds; the gateway's tenant_id key must agree.
    tagged = [(line.get("tenant_id"), line["acting_tenant"]) for line in probes]
    assert all(logged == acting for logged, acting in tagged), tagged


async def test_v30_concurrent_clients_through_the_emulator_see_only_their_tenant(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    records = [new_tenant() for _ in range(3)]
    for record in records:
        seed_customers(platform, record, *(f"{record.slug}-{i}" for i in range(3)))

    async def session(record: Any, n: int, tag: str) -> list[tuple[str, Any]]:
        seen = []
        async with mcp_client(platform, platform.token(record.tenant_id)) as client:
            for i in range(n):
                profile = await client.call_tool("get_tenant_profile", {})
                listed = await client.call_tool("list_customers", {})
                created = await client.call_tool("create_customer", {"name": "C", "customer_id": f"n{tag}{i}"})
                seen.append(("profile", profile.structured_content["tenant_id"]))  # type: ignore[index]
                seen.append(("list", sorted(c["customer_id"] for c in listed.structured_content["customers"])))  # type: ignore[index]
                seen.append(("created", created.structured_content["customer_id"]))  # type: ignore[index]
        return seen

    # Two sessions per tenant, all at once, over the emulator's two warm containers.
    runs = await asyncio.gather(*(session(record, 5, tag) for record in records for tag in "ab"))
    own = {
        r.tenant_id: {f"{r.slug}-{i}" for i in range(3)} | {f"n{t}{i}" for t in "ab" for i in range(5)} for r in records
    }
    for record, seen in zip([r for r in records for _ in "ab"], runs, strict=True):
        own_ids = own[record.tenant_id]
        for kind, value in seen:
            if kind == "profile":
                assert value == record.tenant_id
            elif kind == "list":
                assert set(value) <= own_ids, (record.tenant_id, value)
    for record in records:
        assert set(snapshot(platform, record)) == own[record.tenant_id]
