"""The tenant is the verified token's `tenant_id` claim; nothing else can name or change it.

Layers under test: the gateway's TenantResolver (claims, X-Tenant-ID, Host), the tool
argument models (no tenant argument exists), and the MCP transport (no batches).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantry.tenancy.registry import TenantRegistry
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.platform import LocalPlatform
from tests.security.conftest import (
    BASE_DOMAIN,
    WarmContainer,
    assert_does_not_name,
    lambda_event,
    post,
    rpc,
    seed_customers,
    snapshot,
    tool_text,
)


@pytest.mark.parametrize(
    "spoofed",
    [
        "{victim}",
        "{victim},{attacker}",
        "{attacker},{victim}",
        "{VICTIM}",
        "",
    ],
)
def test_v13_x_tenant_id_spoofing_is_refused(
    platform: LocalPlatform, victim: Any, bystander: Any, spoofed: str
) -> None:
    attacker = bystander
    before_victim = snapshot(platform, victim)
    header = spoofed.format(victim=victim.tenant_id, attacker=attacker.tenant_id, VICTIM=victim.tenant_id.upper())
    token = platform.token(attacker.tenant_id)
    for message in (
        rpc("get_customer", {"customer_id": "vip"}),
        rpc("create_customer", {"name": "Planted", "customer_id": "planted"}),
        rpc("list_customers", {}),
    ):
        response = post(platform, token, message, **{"x-tenant-id": header})
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == -32001 and "X-Tenant-ID" in error["message"]
        assert "result" not in response.json()
        assert_does_not_name(error["message"], victim, "x-tenant-id spoof")
    assert snapshot(platform, victim) == before_victim
    assert snapshot(platform, attacker) == {}


def test_v14_host_subdomain_spoofing_is_refused(
    platform: LocalPlatform, new_tenant: Any, subdomain_app: WarmContainer
) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "vip")
    before_victim = snapshot(platform, victim)
    victim_hosts = [
        f"{victim.slug}.{BASE_DOMAIN}",
        f"{victim.slug.upper()}.{BASE_DOMAIN.upper()}",
        f"{victim.slug}.{BASE_DOMAIN}.",
        f"{victim.slug}.{BASE_DOMAIN}:443",
        f"www.{victim.slug}.{BASE_DOMAIN}",
        f"{attacker.slug}.{victim.slug}.{BASE_DOMAIN}",
    ]
    for host in victim_hosts:
        for message in (
            rpc("create_customer", {"name": "Planted", "customer_id": "planted"}),
            rpc("get_tenant_profile", {}),
        ):
            status, body = subdomain_app.invoke(lambda_event(attacker.tenant_id, message, headers={"host": host}))
            assert status == 403, (host, body)
            assert body["error"]["code"] == -32001 and "hostname" in body["error"]["message"]
            assert "result" not in body
            assert_does_not_name(body["error"]["message"], victim, f"host spoof {host}")
    assert snapshot(platform, victim) == before_victim
    assert snapshot(platform, attacker) == {}, "a refused request still ran a tool"

    # The attacker's own subdomain and the shared hostname are served, for the attacker.
    for host in (f"{attacker.slug}.{BASE_DOMAIN}", BASE_DOMAIN):
        status, body = subdomain_app.invoke(
            lambda_event(attacker.tenant_id, rpc("get_tenant_profile", {}), headers={"host": host})
        )
        assert status == 200 and body["result"]["structuredContent"]["tenant_id"] == attacker.tenant_id


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(["{victim}"], id="list-of-victim"),
        pytest.param(["{attacker}", "{victim}"], id="list-of-two"),
        pytest.param({"id": "{victim}"}, id="object"),
        pytest.param("../{victim}", id="path-traversal"),
        pytest.param("{victim}/../{attacker}", id="path-suffix"),
        pytest.param("{VICTIM}", id="upper-case"),
        pytest.param("{victim}#CUSTOMER", id="key-separator"),
        pytest.param("{victim}\n", id="trailing-newline"),
        pytest.param("{victim}\u0000", id="nul"),
        pytest.param("*", id="wildcard"),
        pytest.param("", id="empty"),
        pytest.param(True, id="boolean"),
        pytest.param("t-\u0430bc", id="homoglyph"),
    ],
)
def test_v15_tenant_claim_of_wrong_type_or_format_is_refused(
    platform: LocalPlatform, victim: Any, bystander: Any, claim: Any
) -> None:
    # Signed by the real issuer (say, a misconfigured claim mapping): the function still refuses it.
    attacker = bystander
    before_victim = snapshot(platform, victim)
    names = {"victim": victim.tenant_id, "attacker": attacker.tenant_id, "VICTIM": victim.tenant_id.upper()}

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**names)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    token = platform.token(None, extra={"tenant_id": fill(claim)})
    response = post(platform, token, rpc("create_customer", {"name": "Planted", "customer_id": "planted"}))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == -32001
    assert_does_not_name(response.json()["error"]["message"], victim, f"claim {claim!r}")
    assert snapshot(platform, victim) == before_victim
    assert snapshot(platform, attacker) == {}


def test_v16_suspended_tenants_valid_token_is_refused(
    platform: LocalPlatform, new_tenant: Any, warm: WarmContainer
) -> None:
    tenant = new_tenant()
    seed_customers(platform, tenant, "c1")
    before = snapshot(platform, tenant)
    token = platform.token(tenant.tenant_id)  # valid signature, issued before the suspension
    assert post(platform, token, rpc("list_customers", {})).status_code == 200
    status, _ = warm.invoke(lambda_event(tenant.tenant_id, rpc("list_customers", {})))
    assert status == 200  # the warm container has now cached the tenant as active

    # Suspend the way an operator does, from outside: no container is told, every one still holds
    # the tenant as active in its registry cache (the window this vector is about).
    s = platform.services
    admin = TenantAdmin(
        TenantRegistry(s.dynamodb, platform.settings.registry_table, on_change=s.usage.stamp),
        s.audit,
        s.secret_store,
        s.dynamodb,
        platform.settings,
        "ops",
    )
    admin.suspend(tenant.tenant_id)
    for message in (
        rpc("list_customers", {}),
        rpc("delete_customer", {"customer_id": "c1"}),
        rpc("create_customer", {"name": "X", "customer_id": "x"}),
    ):
        # A cached "active" is refused by the admission write itself; after that the container re-reads.
        response = post(platform, token, message)
        assert "result" not in response.json() and "suspended" in response.json()["error"]["message"]
        status, body = warm.invoke(lambda_event(tenant.tenant_id, message))
        assert "result" not in body and "suspended" in body["error"]["message"]
    assert snapshot(platform, tenant) == before


def test_v17_tenant_id_smuggled_in_tool_arguments_is_never_used(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "vip")
    before_victim = snapshot(platform, victim)
    token = platform.token(attacker.tenant_id)
    smuggled = {
        "tenant_id": victim.tenant_id,
        "tenantId": victim.tenant_id,
        "pk": victim.tenant_id,
        "tenant": {"tenant_id": victim.tenant_id},
    }
    created = post(platform, token, rpc("create_customer", {"name": "Mine", "customer_id": "smuggled", **smuggled}))
    is_error, _, data = tool_text(created)
    assert not is_error and data["customer_id"] == "smuggled"
    # Also in the places a client could hide it next to the arguments.
    message = rpc("get_customer", {"customer_id": "vip", **smuggled})
    message["params"]["_meta"] = {"tenant_id": victim.tenant_id}
    message["params"]["tenant_id"] = victim.tenant_id
    message["tenant_id"] = victim.tenant_id
    is_error, text, _ = tool_text(post(platform, token, message))
    assert is_error and "No customer" in text
    assert_does_not_name(text, victim, "smuggled tenant argument")
    updated = post(platform, token, rpc("update_customer", {"customer_id": "vip", "name": "Hijacked", **smuggled}))
    assert tool_text(updated)[0]
    listed = post(platform, token, rpc("list_customers", {**smuggled}))
    assert [c["customer_id"] for c in tool_text(listed)[2]["customers"]] == ["smuggled"]

    assert list(snapshot(platform, attacker)) == ["smuggled"], "the write went to the token's tenant"
    assert snapshot(platform, victim) == before_victim, "the victim's partition changed"


def test_v18_json_rpc_batch_mixing_tenants_is_refused(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "vip")
    before_victim = snapshot(platform, victim)
    token = platform.token(attacker.tenant_id)
    own = rpc("create_customer", {"name": "Mine", "customer_id": "mine"}, rpc_id=1)
    foreign = rpc("update_customer", {"customer_id": "vip", "name": "Hijacked", "tenant_id": victim.tenant_id}, 2)
    foreign["params"]["_meta"] = {"tenant_id": victim.tenant_id}
    for batch in ([own, foreign], [foreign], [own, own | {"id": 3}]):
        response = post(platform, token, batch)
        assert response.status_code == 400, response.text
        body = response.json()
        assert "result" not in json.dumps(body)
        assert_does_not_name(body["error"]["message"], victim, "batch", sent=batch)
    # Even with the victim confirming header in the mix: refused before anything runs.
    response = post(platform, token, [own, foreign], **{"x-tenant-id": victim.tenant_id})
    assert response.status_code == 403
    assert snapshot(platform, attacker) == {}, "part of a refused batch ran"
    assert snapshot(platform, victim) == before_victim
