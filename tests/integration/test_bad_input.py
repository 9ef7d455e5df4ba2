"""Every kind of bad input gets a clear answer with the right status, and writes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest

from tenantry_local.issuer import DevIssuer
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for, mcp_client
from tests.tls import CLIENT_TLS

ACCEPT = "application/json, text/event-stream"


def _post(platform: LocalPlatform, token: str | None, body: str | bytes, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", "accept": ACCEPT, **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return httpx.post(platform.mcp_url, content=body, headers=sent, timeout=30, verify=CLIENT_TLS)


def _call(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    )


def _customers(platform: LocalPlatform, record: Any) -> list[str]:
    store = platform.services.customer_store
    return [c.customer_id for c in store.list(context_for(record), 100, None).records]


# --- JSON-RPC framing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param("{not json", -32700, id="malformed-json"),
        pytest.param('{"jsonrpc":"2.0","id":1}', -32600, id="no-method"),
        pytest.param("[]", -32600, id="empty-batch"),
        pytest.param('"just a string"', -32600, id="not-an-object"),
    ],
)
def test_malformed_json_rpc_is_a_400_with_a_json_rpc_error(platform: LocalPlatform, body: str, code: int) -> None:
    response = _post(platform, platform.token("ironworks-gym"), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_unknown_method_is_method_not_found(platform: LocalPlatform) -> None:
    response = _post(platform, platform.token("ironworks-gym"), '{"jsonrpc":"2.0","id":3,"method":"nosuch/thing"}')
    assert response.json()["error"]["code"] == -32601


async def test_unknown_tool_names_the_tool(platform: LocalPlatform) -> None:
    async with mcp_client(platform, platform.token("ironworks-gym")) as client:
        result = await client.call_tool("drop_all_tables", {})
    assert result.is_error and "drop_all_tables" in result.content[0].text


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("list_customers", {"limit": "many"}, "limit"),
        ("list_customers", {"limit": 0}, "limit"),
        ("get_customer", {"customer_id": 42}, "customer_id"),
        ("get_customer", {}, "customer_id"),
        ("create_customer", {"name": "A", "email": "not-an-email"}, "email"),
        ("create_customer", {"name": "A", "membership": "lifetime"}, "membership"),
        ("update_customer", {"customer_id": "x", "expected_version": "one"}, "expected_version"),
    ],
)
async def test_wrong_argument_names_the_field(
    platform: LocalPlatform, tool: str, arguments: dict[str, Any], field: str
) -> None:
    async with mcp_client(platform, platform.token("ironworks-gym")) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert field in result.content[0].text and tool in result.content[0].text


def test_body_over_one_mib_is_413_and_writes_nothing(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    body = _call("create_customer", {"name": "Big", "customer_id": "big", "notes": "x" * (1024 * 1024)})
    response = _post(platform, platform.token(tenant.tenant_id), body)
    assert response.status_code == 413
    assert "larger than 1024 KiB" in response.json()["error"]["message"]
    assert _customers(platform, tenant) == []


# --- tokens (the emulated API Gateway JWT authorizer) -----------------------------------


def _forged(platform: LocalPlatform) -> str:
    impostor = DevIssuer.ephemeral(platform.issuer.issuer, platform.issuer.audience)
    # Same kid, different key: the signature must fail.
    claims = jwt.decode(platform.token("ironworks-gym"), options={"verify_signature": False})
    return impostor.sign_jws({"alg": "RS256", "typ": "at+jwt", "kid": platform.issuer.kid}, claims)


def _unsigned(platform: LocalPlatform) -> str:
    claims = jwt.decode(platform.token("ironworks-gym"), options={"verify_signature": False})
    return jwt.encode(claims, key=None, algorithm="none")


BAD_TOKENS = {
    "missing": lambda p: None,
    "garbage": lambda p: "not.a.jwt",
    "expired": lambda p: p.token("ironworks-gym", ttl_seconds=-60),
    "not-yet-valid": lambda p: p.token("ironworks-gym", extra={"nbf": int(time.time()) + 3600}),
    "forged": _forged,
    "unsigned-alg-none": _unsigned,
    "wrong-issuer": lambda p: p.token("ironworks-gym", extra={"iss": "https://evil.example.com"}),
    "wrong-audience": lambda p: p.token("ironworks-gym", extra={"aud": "https://other.example.com/mcp"}),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_token_is_401_with_bearer_challenge_and_writes_nothing(
    platform: LocalPlatform, new_tenant: Any, kind: str
) -> None:
    tenant = new_tenant()
    token = BAD_TOKENS[kind](platform)
    response = _post(platform, token, _call("create_customer", {"name": "Eve", "customer_id": "eve"}))
    assert response.status_code == 401
    # As the deployed JWT authorizer answers: a bare challenge without a token, the error with one,
    # and never resource_metadata (clients find the metadata at the well-known path).
    challenge = response.headers["www-authenticate"]
    if token is None:
        assert challenge == "Bearer"
    else:
        assert challenge.startswith('Bearer scope="" error="invalid_token" error_description="')
    assert "resource_metadata" not in challenge
    assert response.json() == {"message": "Unauthorized"}
    assert _customers(platform, tenant) == []


def test_token_without_aud_falls_back_to_client_id(platform: LocalPlatform) -> None:
    # API Gateway checks client_id against the audience list when aud is absent.
    claims = jwt.decode(platform.token("ironworks-gym"), options={"verify_signature": False})
    del claims["aud"]
    for client_id, status in ((platform.issuer.audience, 200), ("some-other-client", 401)):
        claims["client_id"] = client_id
        token = platform.issuer.sign_jws({"alg": "RS256", "typ": "at+jwt", "kid": platform.issuer.kid}, claims)
        response = _post(platform, token, '{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
        assert response.status_code == status


# --- tenant refusals (the function's gateway layer) -------------------------------------


def test_token_without_tenant_claim_is_403(platform: LocalPlatform) -> None:
    response = _post(platform, platform.token(None), _call("list_customers", {}))
    assert response.status_code == 403
    assert "no 'tenant_id' claim" in response.json()["error"]["message"]


def test_unknown_tenant_is_403(platform: LocalPlatform) -> None:
    response = _post(platform, platform.token("ghost-studio"), _call("list_customers", {}))
    assert response.status_code == 403
    assert "not registered" in response.json()["error"]["message"]


@pytest.mark.parametrize("status", ["suspended", "offboarded"])
def test_inactive_tenant_is_403_and_nothing_runs(platform: LocalPlatform, new_tenant: Any, status: str) -> None:
    tenant = new_tenant(status=status)
    response = _post(
        platform, platform.token(tenant.tenant_id), _call("create_customer", {"name": "Z", "customer_id": "z"})
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -32001
    assert response.json()["id"] == 7
    assert _customers(platform, tenant) == []


def test_x_tenant_id_may_only_confirm(platform: LocalPlatform, new_tenant: Any) -> None:
    a, b = new_tenant(), new_tenant()
    token = platform.token(a.tenant_id)
    ok = _post(platform, token, _call("list_customers", {}), **{"x-tenant-id": a.tenant_id})
    assert ok.status_code == 200
    spoof = _post(
        platform, token, _call("create_customer", {"name": "S", "customer_id": "s"}), **{"x-tenant-id": b.tenant_id}
    )
    assert spoof.status_code == 403
    message = spoof.json()["error"]["message"]
    assert "does not match" in message and b.tenant_id not in message
    assert _customers(platform, a) == [] and _customers(platform, b) == []


# --- routes ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_mcp_are_405(platform: LocalPlatform, method: str) -> None:
    response = httpx.request(
        method, platform.mcp_url, headers={"accept": "text/event-stream"}, timeout=10, verify=CLIENT_TLS
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_unrouted_paths_are_404_like_api_gateway(platform: LocalPlatform) -> None:
    for path in ("/mcp/", "/admin", "/"):
        response = httpx.post(platform.base_url + path, content="{}", timeout=10, verify=CLIENT_TLS)
        assert response.status_code == 404, path


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"])
def test_protected_resource_metadata_is_public(platform: LocalPlatform, path: str) -> None:
    document = httpx.get(platform.base_url + path, timeout=10, verify=CLIENT_TLS).json()
    assert document["resource"] == platform.mcp_url
    assert document["authorization_servers"] == [platform.base_url]
    assert document["bearer_methods_supported"] == ["header"]


# --- failed calls write nothing -----------------------------------------------------------


async def test_failed_tool_calls_write_nothing(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        bad_email = await client.call_tool("create_customer", {"name": "A", "email": "nope", "customer_id": "a"})
        update_missing = await client.call_tool("update_customer", {"customer_id": "ghost", "name": "Boo"})
        delete_missing = await client.call_tool("delete_customer", {"customer_id": "ghost"})
        empty_update = await client.call_tool("update_customer", {"customer_id": "ghost"})
    assert all(r.is_error for r in (bad_email, update_missing, delete_missing, empty_update))
    assert "Nothing to update" in empty_update.content[0].text
    assert _customers(platform, tenant) == []  # in particular, update did not upsert "ghost"


def test_denied_requests_are_audited_and_cross_tenant_ones_raise_the_metric(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    from tenantry.observability import add_metric_listener

    a, b = new_tenant(), new_tenant(status="suspended")
    seen: list[str] = []
    remove = add_metric_listener(lambda name, _: seen.append(name))
    try:
        spoof = _post(
            platform, platform.token(a.tenant_id), _call("list_customers", {}), **{"x-tenant-id": "other-one"}
        )
        suspended = _post(platform, platform.token(b.tenant_id), _call("list_customers", {}))
    finally:
        remove()
    assert (spoof.status_code, suspended.status_code) == (403, 403)
    assert seen.count("CrossTenantDenied") == 1  # the suspension is a denial, not an attack
    for container in platform.emulator.containers:  # the suspension's refusals are tallied per minute
        container.app.server.refusals.flush()
    reasons_a = [e.reason for e in platform.services.audit.recent(a.tenant_id)]
    reasons_b = [e.reason for e in platform.services.audit.recent(b.tenant_id)]
    assert "cross_tenant_attempt" in reasons_a and "tenant_access_denied" in reasons_b
