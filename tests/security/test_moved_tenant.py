"""A moved tenant is isolated in its new home: the guard, its tool calls, and the home a container accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantry.dal.items import to_attrs
from tenantry.errors import CrossTenantAccessError
from tenantry.tenancy.placement import Placement
from tenantry_admin.lifecycle.mover import Mover
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.platform import LocalPlatform
from tests.security.conftest import lambda_event, rpc


def _admin(platform: LocalPlatform) -> TenantAdmin:
    s = platform.services
    return TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "ops-test")


def _call(platform: LocalPlatform, tenant_id: str, tool: str, **arguments: Any) -> tuple[bool, str]:
    container = platform.emulator.containers[0]
    result = container.executor.submit(container.invoke, lambda_event(tenant_id, rpc(tool, arguments))).result(30)
    content = json.loads(result["body"])["result"]
    return not content.get("isError"), content["content"][0]["text"]


@pytest.fixture
def moved(platform: LocalPlatform, new_tenant: Any) -> tuple[str, str, str]:
    """(moved tenant, its silo table, a neighbour left in the pool), each with customer cus_0001."""
    admin = _admin(platform)
    tenant, neighbour = new_tenant("professional"), new_tenant("professional")
    for record in (tenant, neighbour):
        ok, text = _call(
            platform, record.tenant_id, "create_customer", name=f"Of {record.tenant_id}", customer_id="cus_0001"
        )
        assert ok, text
    _call(platform, tenant.tenant_id, "list_customers")  # the container caches the pooled record
    services = platform.services
    Mover(admin, services.clients, services.placement, drain_seconds=0).run(tenant.tenant_id, Placement(mode="silo"))
    return tenant.tenant_id, platform.settings.silo_table_prefix + tenant.tenant_id, neighbour.tenant_id


def test_the_guard_covers_the_new_home(platform: LocalPlatform, moved: tuple[str, str, str]) -> None:
    tenant_id, silo, neighbour = moved
    admin = _admin(platform)
    context = admin.context_for(admin.get(tenant_id))
    assert context.data_table == silo
    client = platform.services.clients.dynamodb(context)
    assert "Item" in client.get_item(TableName=silo, Key=to_attrs({"pk": tenant_id, "sk": "CUSTOMER#cus_0001"}))
    with pytest.raises(CrossTenantAccessError):  # another tenant's partition, in the new home
        client.get_item(TableName=silo, Key=to_attrs({"pk": neighbour, "sk": "CUSTOMER#cus_0001"}))
    with pytest.raises(CrossTenantAccessError):  # the old home is no longer this client's table
        client.get_item(TableName=platform.settings.cells()[0], Key=to_attrs({"pk": tenant_id, "sk": "x"}))


def test_a_moved_tenant_answers_as_before_and_sees_only_its_own(
    platform: LocalPlatform, moved: tuple[str, str, str]
) -> None:
    tenant_id, _, neighbour = moved
    ok, text = _call(platform, tenant_id, "get_customer", customer_id="cus_0001")
    assert ok and f"Of {tenant_id}" in text and neighbour not in text
    ok, text = _call(platform, neighbour, "get_customer", customer_id="cus_0001")
    assert ok and f"Of {neighbour}" in text


def test_a_home_that_is_not_the_tenants_own_is_never_used(platform: LocalPlatform, moved: tuple[str, str, str]) -> None:
    """A usage item naming another tenant's silo as home (a bug, a bad write) fails closed."""
    tenant_id, _, neighbour = moved
    platform.services.placement.flip(tenant_id, platform.settings.silo_table_prefix + neighbour, 99)
    ok, text = _call(platform, tenant_id, "get_customer", customer_id="cus_0001")
    assert not ok and "not reachable" in text
    platform.services.placement.flip(tenant_id, platform.settings.silo_table_prefix + tenant_id, 100)
    assert _call(platform, tenant_id, "get_customer", customer_id="cus_0001")[0]
