"""Scopes on every call (the route's authorization scopes) and per-tenant subdomains (*.localhost)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tenantry_local.emulator import ROUTE_SCOPES
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import Flow, query_of
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


# --- RFC 9728 through a tenant host: its own resource, for that tenant only ---------------------


def test_a_tenant_hosts_metadata_names_that_hosts_resource(platform: LocalPlatform) -> None:
    port = urlsplit(platform.base_url).port
    response = httpx.get(
        platform.base_url + "/.well-known/oauth-protected-resource/mcp", headers={"host": f"lotus.localhost:{port}"}
    )
    assert response.json()["resource"] == f"http://lotus.localhost:{port}/mcp"
    assert response.json()["authorization_servers"] == [platform.base_url]


def test_a_tenant_hosts_resource_signs_in_that_tenant_with_the_apis_audience(
    flow: Flow, platform: LocalPlatform
) -> None:
    lotus = f"http://lotus.localhost:{urlsplit(platform.base_url).port}/mcp"
    tokens = flow.redeem(flow.code("accountant@books.example", resource=lotus), resource=lotus).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["tenant_id"] == "lotus-yoga"  # a member of three, offered only the host's tenant
    assert claims["aud"] == platform.mcp_url  # what the JWT authorizer checks
    refreshed = flow.refresh(tokens["refresh_token"], resource=lotus).json()
    assert jwt.decode(refreshed["access_token"], options={"verify_signature": False})["tenant_id"] == "lotus-yoga"


def test_a_tenant_hosts_resource_is_refused_to_a_user_of_another_tenant(flow: Flow) -> None:
    lotus = f"http://lotus.localhost:{urlsplit(flow.platform.base_url).port}/mcp"
    back = flow.browser.sign_in(flow.authorize_url(resource=lotus), "owner@ironworks.example")
    assert back.status_code == 302
    assert query_of(back.headers["location"])["error"] == "access_denied"


@pytest.mark.parametrize(
    "resource",
    [
        "http://lotus.localhost:{other_port}/mcp",
        "http://a.lotus.localhost:{port}/mcp",
        "https://lotus.localhost:{port}/mcp",
        "http://lotus.localhost:{port}/other",
        "http://lotus.evil.test:{port}/mcp",
        "http://lotus.localhost:{port}/mcp?x=1",
    ],
)
def test_resources_on_any_other_host_or_path_are_invalid_target(flow: Flow, resource: str) -> None:
    port = urlsplit(flow.platform.base_url).port or 0
    params = flow.authorize_params(resource=resource.format(port=port, other_port=port + 1))
    response = flow.http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_target"
