"""Every method of both protocol eras' schemas is answered without a 5xx.

Both eras' method maps (mcp_types: 2025-11-25 and 2026-07-28), client-to-server and the
server-to-client ones sent the wrong way, as requests and as notifications, each in the
handshake-era envelope and in the 2026-07-28 per-request envelope: what a confused or hostile
client can send. A valid request is never a 5xx (issue: subscriptions/listen crashed Mangum).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from mcp_types.methods import CLIENT_NOTIFICATIONS, CLIENT_REQUESTS, SERVER_NOTIFICATIONS, SERVER_REQUESTS

from tenantry_local.platform import LocalPlatform
from tests.security.conftest import ACCEPT
from tests.tls import CLIENT_TLS

ERAS = ("2025-11-25", "2026-07-28")
METHODS = sorted(
    {
        method
        for table in (CLIENT_REQUESTS, CLIENT_NOTIFICATIONS, SERVER_REQUESTS, SERVER_NOTIFICATIONS)
        for method, v in table
        if v in ERAS
    }
)
# Plausible params, so the request gets past validation to its handler where one exists.
PARAMS: dict[str, dict[str, Any]] = {
    "tools/call": {"name": "get_tenant_profile", "arguments": {}},
    "prompts/get": {"name": "no-such-prompt"},
    "resources/read": {"uri": "ui://tenantry/customers.html"},
    "resources/subscribe": {"uri": "ui://tenantry/customers.html"},
    "resources/unsubscribe": {"uri": "ui://tenantry/customers.html"},
    "completion/complete": {"ref": {"type": "ref/prompt", "name": "x"}, "argument": {"name": "a", "value": "b"}},
    "logging/setLevel": {"level": "info"},
    "subscriptions/listen": {"notifications": {"toolsListChanged": True, "resourceSubscriptions": ["ui://x"]}},
    "initialize": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    "notifications/cancelled": {"requestId": 1},
    "notifications/progress": {"progressToken": 1, "progress": 1},
}
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def _message(method: str, era: str, request: bool) -> tuple[dict[str, Any], dict[str, str]]:
    params = dict(PARAMS.get(method, {}))
    headers = {"content-type": "application/json", "accept": ACCEPT}
    if era == "2026-07-28":
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": era,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "every-method", "version": "1"},
        }
        headers |= {"mcp-protocol-version": era, "mcp-method": method}
        if method in NAME_PARAM:
            headers["mcp-name"] = params[NAME_PARAM[method]]
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if request:
        message["id"] = f"{era}:{method}"
    return message, headers


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("request_shape", [True, False], ids=["request", "notification"])
def test_every_method_is_answered_without_a_5xx(platform: LocalPlatform, era: str, request_shape: bool) -> None:
    token = platform.token("ironworks-gym")
    answers: dict[str, tuple[int, str]] = {}
    with httpx.Client(timeout=30, verify=CLIENT_TLS, headers={"authorization": f"Bearer {token}"}) as http:
        for method in METHODS:
            message, headers = _message(method, era, request_shape)
            response = http.post(platform.mcp_url, content=json.dumps(message), headers=headers)
            answers[method] = (response.status_code, response.text[:300])
            if request_shape and response.status_code != 202:
                body = response.json()  # always JSON-RPC: never the gateway's bare {"message": ...}
                assert body.get("id") == message["id"], (method, response.text[:300])
                assert ("result" in body) != ("error" in body), (method, response.text[:300])
    server_errors = {method: answer for method, answer in answers.items() if answer[0] >= 500}
    assert not server_errors, server_errors
    assert len(answers) >= 25  # both eras' maps, not an empty import


def test_subscriptions_listen_is_method_not_found_in_both_eras_and_discover_agrees(platform: LocalPlatform) -> None:
    token = platform.token("ironworks-gym")
    with httpx.Client(timeout=30, verify=CLIENT_TLS, headers={"authorization": f"Bearer {token}"}) as http:
        for era in ERAS:
            message, headers = _message("subscriptions/listen", era, True)
            response = http.post(platform.mcp_url, content=json.dumps(message), headers=headers)
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert error["code"] == -32601 and "ttlMs" in error["message"]
        discover, headers = _message("server/discover", "2026-07-28", True)
        capabilities = http.post(platform.mcp_url, content=json.dumps(discover), headers=headers).json()["result"][
            "capabilities"
        ]
        initialize, headers = _message("initialize", "2025-11-25", True)
        legacy = http.post(platform.mcp_url, content=json.dumps(initialize), headers=headers).json()["result"][
            "capabilities"
        ]
    for declared in (capabilities, legacy):
        assert declared["tools"].get("listChanged") in (None, False), declared
        assert declared["prompts"].get("listChanged") in (None, False), declared
        assert declared["resources"].get("listChanged") in (None, False), declared
        assert declared["resources"].get("subscribe") in (None, False), declared
