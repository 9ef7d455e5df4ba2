"""What the transport refuses before any tool runs: oversize bodies, streams, other methods.

Layers under test: the emulated API Gateway routes (only POST /mcp has an
integration with the authorizer) and the function's gateway (1 MiB body limit,
POST only), driven both over HTTP and with raw Lambda events.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tenantry.observability import add_metric_listener
from tenantry_local.platform import LocalPlatform
from tests.security.conftest import ACCEPT, WarmContainer, assert_does_not_name, lambda_event, post, rpc, snapshot
from tests.tls import CLIENT_TLS

LIMIT = 1024 * 1024


def _oversize_create(customer_id: str, size: int) -> bytes:
    message = rpc("create_customer", {"name": "Big", "customer_id": customer_id, "notes": ""})
    empty = len(json.dumps(message).encode())
    message["params"]["arguments"]["notes"] = "x" * (size - empty)
    body = json.dumps(message).encode()
    assert len(body) == size
    return body


def test_v31_oversize_body_is_413_and_writes_nothing(
    platform: LocalPlatform, new_tenant: Any, warm: WarmContainer
) -> None:
    tenant = new_tenant()
    token = platform.token(tenant.tenant_id)
    # Over HTTP, just over the limit and far over it.
    for size in (LIMIT + 1, 4 * LIMIT):
        response = post(platform, token, _oversize_create("big", size))
        assert response.status_code == 413, response.text[:200]
        assert "result" not in response.json()
    # Raw events: a Content-Length that lies, and a base64 body (binary content type) that is
    # small on the wire's JSON but over the limit once decoded.
    lying = lambda_event(tenant.tenant_id, _oversize_create("big", LIMIT + 1), headers={"content-length": "20"})
    status, body = warm.invoke(lying)
    assert status == 413, body
    binary = lambda_event(
        tenant.tenant_id, _oversize_create("big", LIMIT + 1), headers={"content-type": "application/octet-stream"}
    )
    binary["isBase64Encoded"] = True
    binary["body"] = base64.b64encode(_oversize_create("big", LIMIT + 1)).decode()
    status, body = warm.invoke(binary)
    assert status == 413, body
    # Exactly at the limit it is not a 413 (the notes field is then refused as too long).
    status, body = warm.invoke(lambda_event(tenant.tenant_id, _oversize_create("big", LIMIT)))
    assert status == 200 and body["result"]["isError"]
    assert snapshot(platform, tenant) == {}


def test_v32_get_mcp_sse_stream_is_not_served(platform: LocalPlatform, new_tenant: Any, warm: WarmContainer) -> None:
    tenant = new_tenant()
    token = platform.token(tenant.tenant_id)
    # With a valid token, SSE accept headers and a session id, over HTTP: a prompt 405, no stream.
    with httpx.stream(
        "GET",
        platform.mcp_url,
        headers={
            "authorization": f"Bearer {token}",
            "accept": "text/event-stream",
            "mcp-session-id": "00000000000000000000000000000000",
            "last-event-id": "1",
        },
        timeout=5,
    ) as response:
        assert response.status_code == 405
        assert not response.headers.get("content-type", "").startswith("text/event-stream")
        response.read()
    # And if a route ever reached the function with a GET (or DELETE), it answers 405 itself.
    for method in ("GET", "DELETE", "PUT", "PATCH"):
        status, body = warm.invoke(lambda_event(tenant.tenant_id, b"", method=method, headers={"accept": ACCEPT}))
        assert status == 405, (method, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/mcp"),
        ("PATCH", "/mcp"),
        ("POST", "/mcp/"),
        ("POST", "/MCP"),
        ("POST", "/mcp%2F"),
        ("POST", "/.well-known/oauth-protected-resource"),
    ],
)
def test_v33_unrouted_methods_and_path_tricks_never_reach_a_tool(
    platform: LocalPlatform, bystander: Any, method: str, path: str
) -> None:
    tenant = bystander
    body = json.dumps(rpc("create_customer", {"name": "Planted", "customer_id": "planted"}))
    response = httpx.request(
        method,
        platform.base_url + path,
        content=body,
        headers={"authorization": f"Bearer {platform.token(tenant.tenant_id)}", "content-type": "application/json"},
        timeout=10,
        verify=CLIENT_TLS,
    )
    assert response.status_code in (404, 405), response.text
    assert snapshot(platform, tenant) == {}


def test_v34_cross_tenant_attempts_are_audited_and_raise_the_alarm_metric(
    platform: LocalPlatform, new_tenant: Any, victim: Any
) -> None:
    attacker = new_tenant()
    metrics: list[str] = []
    remove = add_metric_listener(lambda name, _value: metrics.append(name))
    try:
        response = post(
            platform,
            platform.token(attacker.tenant_id),
            rpc("list_customers", {}),
            **{"x-tenant-id": victim.tenant_id},
        )
    finally:
        remove()
    assert response.status_code == 403
    assert_does_not_name(response.json()["error"]["message"], victim, "x-tenant-id spoof (audited)")
    assert "CrossTenantDenied" in metrics, "the refusal did not feed the cross-tenant alarm"
    trail = platform.services.audit.recent(attacker.tenant_id)
    assert trail and trail[0].outcome == "denied" and trail[0].reason == "cross_tenant_attempt"
    # Filed under the attacker (the token's tenant), never in the victim's trail.
    assert all(event.request_id != trail[0].request_id for event in platform.services.audit.recent(victim.tenant_id))
