"""Scopes on every call (the route's authorization scopes) and per-tenant subdomains (*.localhost)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tenantry_local.emulator import ROUTE_SCOPES
from tenantry_local.platform import LocalPlatform
from tests.tls import CLIENT_TLS

PROFILE = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "get_tenant_profile", "arguments": {}}}


def _call(platform: LocalPlatform, token: str, host: str | None = None) -> httpx.Response:
    headers = {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }
    if host:
        # *.localhost resolves to loopback in browsers and systemd-resolved, not in every resolver:
        # connect to 127.0.0.1 and name the subdomain in Host, as a browser would send it.
        headers["host"] = host
    return httpx.post(platform.mcp_url, content=json.dumps(PROFILE), headers=headers, timeout=30, verify=CLIENT_TLS)


def _tenant_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    assert not result.get("isError"), result
    return str(result["structuredContent"]["tenant_id"])


def test_mcp_route_requires_the_mcp_tools_scope() -> None:
    assert ROUTE_SCOPES == {("POST", "/mcp"): ("mcp:tools",)}


@pytest.mark.parametrize("scope", ["", "openid", "mcp:tool", "profile email"])
def test_token_without_the_route_scope_is_403_insufficient_scope(platform: LocalPlatform, scope: str) -> None:
    response = _call(platform, platform.token("ironworks-gym", scope=scope))
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert response.headers["www-authenticate"] == (
        'Bearer scope="mcp:tools" error="insufficient_scope" error_description="expected scopes: [mcp:tools]"'
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "openid mcp:tools"},
        {"scope": "openid", "scp": ["mcp:tools"]},
        {"scope": "openid", "scp": "mcp:tools"},
    ],
)
def test_any_one_route_scope_in_scope_or_scp_passes(platform: LocalPlatform, claims: dict[str, Any]) -> None:
    token = platform.token("ironworks-gym", extra=claims)
    assert _tenant_of(_call(platform, token)) == "ironworks-gym"


def test_a_tenant_subdomain_works_with_that_tenants_token(platform: LocalPlatform) -> None:
    port = platform.base_url.rsplit(":", 1)[1]
    token = platform.token("ironworks-gym")
    assert _tenant_of(_call(platform, token, host=f"ironworks.localhost:{port}")) == "ironworks-gym"
    # The shared host keeps working for every tenant.
    assert _tenant_of(_call(platform, token)) == "ironworks-gym"


def test_a_tenant_token_on_another_tenants_subdomain_is_refused(platform: LocalPlatform) -> None:
    port = platform.base_url.rsplit(":", 1)[1]
    response = _call(platform, platform.token("ironworks-gym"), host=f"lotus.localhost:{port}")
    assert response.status_code == 403
    assert "different organisation" in response.json()["error"]["message"]
    lotus = platform.token("lotus-yoga")
    assert _tenant_of(_call(platform, lotus, host=f"lotus.localhost:{port}")) == "lotus-yoga"
