"""Suspend, resume and offboard take effect on the next call in every warm container (no cache wait).

The admin runs with a registry of its own, like the `tenantry` CLI in another process: nothing
here invalidates the containers' registry caches from outside.
"""

from __future__ import annotations

import json
from typing import Any

from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRegistry
from tenantry_admin.offboarding import Offboarder
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import lambda_event, new_container, rpc


def _admin(platform: LocalPlatform) -> TenantAdmin:
    s = platform.services
    own_registry = TenantRegistry(s.dynamodb, platform.settings.registry_table, on_change=s.usage.stamp)
    return TenantAdmin(own_registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "ops-test")


def _invoke(container: Container, tenant_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = container.executor.submit(container.invoke, lambda_event(tenant_id, body)).result(timeout=30)
    return int(result["statusCode"]), json.loads(result["body"]) if result.get("body") else {}


def _call(container: Container, tenant_id: str, tool: str = "list_customers", **arguments: Any) -> str:
    """'served', 'refused' (a tenant refusal) or the tool error text."""
    status, body = _invoke(container, tenant_id, rpc(tool, arguments))
    if status == 403 or body.get("error", {}).get("code") == -32001:
        return "refused"
    assert status == 200, body
    result = body["result"]
    return result["content"][0]["text"] if result.get("isError") else "served"


def _list_tools(container: Container, tenant_id: str) -> int:
    status, _ = _invoke(container, tenant_id, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    return status


def test_suspend_and_resume_reach_every_container_on_the_next_call(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    containers = platform.emulator.containers
    assert len(containers) >= 2
    for container in containers:  # warm: each caches the tenant as active
        assert _call(container, tenant.tenant_id) == "served"
        assert _list_tools(container, tenant.tenant_id) == 200

    admin = _admin(platform)
    admin.suspend(tenant.tenant_id)
    for container in containers:
        assert _call(container, tenant.tenant_id) == "refused"  # DynamoDB refused the admission write
        assert _list_tools(container, tenant.tenant_id) == 403  # and the container forgot its cached record
    assert platform.services.usage.blocked(tenant.tenant_id) == "suspended"

    admin.resume(tenant.tenant_id)
    for container in containers:
        assert _call(container, tenant.tenant_id) == "served"
        assert _list_tools(container, tenant.tenant_id) == 200
    assert platform.services.usage.blocked(tenant.tenant_id) is None


def test_a_refused_call_is_not_counted(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    container = platform.emulator.containers[0]
    assert _call(container, tenant.tenant_id) == "served"
    _admin(platform).suspend(tenant.tenant_id)
    assert _call(container, tenant.tenant_id) == "refused"
    from datetime import UTC, datetime

    usage = platform.services.usage.month(tenant.tenant_id, datetime.now(UTC).strftime("%Y-%m"))
    assert usage.calls == 1


def test_methods_that_are_not_admitted_reread_the_status_after_the_status_window(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    # tools/list makes no admission write: it re-reads a record older than status_cache_seconds
    # (5 s by default). With 0, the very next tools/list is refused.
    tenant = new_tenant()
    settings = Settings.model_validate({**platform.settings.model_dump(), "status_cache_seconds": 0})
    warm = new_container(settings)
    try:
        assert _list_tools(warm.container, tenant.tenant_id) == 200
        _admin(platform).suspend(tenant.tenant_id)
        assert _list_tools(warm.container, tenant.tenant_id) == 403
    finally:
        warm.container.executor.shutdown(wait=False)


def test_offboarding_refuses_writes_in_every_container_before_it_deletes(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant()
    containers = platform.emulator.containers
    for i, container in enumerate(containers):
        assert _call(container, tenant.tenant_id, "create_customer", name=f"M{i}", customer_id=f"m{i}") == "served"

    admin = _admin(platform)
    deleted: list[int] = []

    def during_delete(done: int, total: int) -> None:
        # While data is being deleted, no container can write: the mark was set first.
        if done == 1:
            for container in containers:
                outcome = _call(container, tenant.tenant_id, "create_customer", name="Late", customer_id="late")
                deleted.append(0 if outcome == "refused" else 1)

    Offboarder(admin, platform.services.clients, workers=1, drain_seconds=0).run(tenant.tenant_id, during_delete)
    assert deleted == [0] * len(containers)
    for container in containers:
        assert _call(container, tenant.tenant_id, "create_customer", name="After", customer_id="after") == "refused"
    store = platform.services.customer_store
    assert store.list(context_for(tenant), 100, None).records == []
