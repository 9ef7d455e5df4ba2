"""The Lambda handler survives warm invocations, as one container serves many requests."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tenantry_local.apigw import build_event, parse_response
from tenantry_local.emulator import _FakeLambdaContext
from tenantry_local.platform import LocalPlatform

HANDLER_MODULE = "tenantry.mcp_server.handler"


@pytest.fixture
def fresh_module(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler module imported afresh, as a new container does: it builds its app at import."""
    for name, value in platform.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    yield importlib.import_module(HANDLER_MODULE)
    sys.modules.pop(HANDLER_MODULE, None)


@pytest.fixture
def fresh_handler(fresh_module: Any) -> Any:
    return fresh_module.handler


def _event(tenant_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return build_event(
        method="POST",
        path="/mcp",
        query="",
        headers=[("content-type", "application/json"), ("accept", "application/json, text/event-stream")],
        body=json.dumps(message).encode(),
        source_ip="127.0.0.1",
        route_key="POST /mcp",
        claims={"tenant_id": tenant_id, "sub": "warm-test"},
    )


def test_sequential_invocations_through_one_handler(fresh_module: Any, fresh_handler: Any) -> None:
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_tenant_profile", "arguments": {}}},
    ]
    seen_tenants = []
    for i in range(8):  # alternate tenants: no state may carry from one call to the next
        tenant_id = ("ironworks-gym", "lotus-yoga")[i % 2]
        response = parse_response(
            fresh_handler(_event(tenant_id, messages[i % 2] | {"id": i}), _FakeLambdaContext("r"))
        )
        assert response.status == 200, response.body
        payload = json.loads(response.body)
        assert payload["id"] == i and "error" not in payload
        if i % 2:
            seen_tenants.append(payload["result"]["structuredContent"]["tenant_id"])
    assert seen_tenants == ["lotus-yoga"] * 4
    first_app = fresh_module.app
    fresh_handler(_event("ironworks-gym", messages[0]), _FakeLambdaContext("r"))
    assert fresh_module.app is first_app, "the handler rebuilt its app on a warm call"


def test_warm_invocation_for_another_tenant_sees_only_that_tenant(fresh_handler: Any) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_customers", "arguments": {}}}
    names = {}
    for tenant_id in ("ironworks-gym", "lotus-yoga", "ironworks-gym"):
        response = parse_response(fresh_handler(_event(tenant_id, call), _FakeLambdaContext("r")))
        customers = json.loads(response.body)["result"]["structuredContent"]["customers"]
        names.setdefault(tenant_id, []).append(sorted(c["name"] for c in customers))
    assert names["lotus-yoga"] == [["Dev Asana", "Eli Breath"]]
    assert names["ironworks-gym"][0] == names["ironworks-gym"][1]
    assert "Dev Asana" not in names["ironworks-gym"][0]
