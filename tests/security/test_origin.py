"""The transport's Origin check: a browser page from an origin the operator did not allow is refused.

Streamable HTTP: a server MUST validate Origin and answer 403 when it is present and not allowed
(DNS rebinding, cross-site pages driving a user's token). Requests without Origin are server-side
clients (ChatGPT's connector, SDKs) and pass. TENANTRY_ALLOWED_ORIGINS defaults to none deployed;
`./dev local` and the session platform allow the MCP Inspector's local origin.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tenantry_local.platform import INSPECTOR_ORIGINS, LocalPlatform
from tests.security.conftest import ACCEPT, post, rpc, snapshot
from tests.tls import CLIENT_TLS


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:6275", "https://chatgpt.com"])
def test_a_foreign_origin_is_403_naming_the_reason_and_writes_nothing(
    platform: LocalPlatform, new_tenant: Any, origin: str
) -> None:
    tenant = new_tenant()
    create = rpc("create_customer", {"name": "Via a web page", "customer_id": "xsite"}, rpc_id=41)
    response = post(platform, platform.token(tenant.tenant_id), create, origin=origin)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["id"] == 41 and body["error"]["code"] == -32001
    assert "Origin" in body["error"]["message"] and body["error"]["data"]["reason"] == "origin_not_allowed"
    assert snapshot(platform, tenant) == {}


def test_no_origin_is_served_as_server_side_clients_send_none(platform: LocalPlatform) -> None:
    response = post(platform, platform.token("ironworks-gym"), {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("origin", [*INSPECTOR_ORIGINS, INSPECTOR_ORIGINS[0].upper()])
def test_the_local_platform_serves_the_inspectors_origin(platform: LocalPlatform, origin: str) -> None:
    response = post(
        platform, platform.token("ironworks-gym"), {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, origin=origin
    )
    assert response.status_code == 200, response.text


def test_a_foreign_origin_is_refused_before_the_method_check(platform: LocalPlatform) -> None:
    response = httpx.get(
        platform.mcp_url,
        headers={"accept": ACCEPT, "origin": "https://evil.example"},
        verify=CLIENT_TLS,
        timeout=15,
    )
    # Deployed, GET /mcp has no authorizer (it only answers 405): the function's Origin check is first.
    assert response.status_code == 403, response.text
    assert response.json()["error"]["data"]["reason"] == "origin_not_allowed"
