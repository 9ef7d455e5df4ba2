"""The payload-2.0 events the benches send, and the check that each answer really succeeded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.core import BenchError
from tenantry_local.apigw import build_event, parse_response

__all__ = ["BASELINE_CALL", "GET_CUSTOMER", "LIST_CUSTOMERS", "TENANT", "ToolCall", "check_response", "event_for"]

TENANT = "ironworks-gym"  # seeded, professional plan


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    def message(self, rpc_id: int) -> dict[str, Any]:
        params = {"name": self.name, "arguments": self.arguments}
        return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": params}


GET_CUSTOMER = ToolCall("get_customer", {"customer_id": "cus_0001"})
LIST_CUSTOMERS = ToolCall("list_customers", {"limit": 20})
BASELINE_CALL = ToolCall("echo", {"text": "cus_0001"})


def event_for(call: ToolCall, rpc_id: int = 1, tenant_id: str = TENANT) -> dict[str, Any]:
    """Exactly what API Gateway sends after its JWT authorizer accepted the token."""
    return build_event(
        method="POST",
        path="/mcp",
        query="",
        headers=[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("host", "mcp.example.com"),
        ],
        body=json.dumps(call.message(rpc_id)).encode(),
        source_ip="127.0.0.1",
        route_key="POST /mcp",
        claims={"tenant_id": tenant_id, "sub": "bench"},
    )


def check_response(call: ToolCall, result: dict[str, Any], rpc_id: int = 1) -> dict[str, Any]:
    """Return the tool result, or raise: a fast error is not a benchmark figure."""
    response = parse_response(result)
    text = response.body.decode("utf-8", "replace")
    if response.status != 200:
        raise BenchError(f"{call.name}: HTTP {response.status}: {text[:500]}")
    try:
        payload = json.loads(text)
    except ValueError:
        raise BenchError(f"{call.name}: the body is not JSON: {text[:500]}") from None
    if payload.get("id") != rpc_id or "error" in payload:
        raise BenchError(f"{call.name}: JSON-RPC error or wrong id: {text[:500]}")
    tool_result: dict[str, Any] = payload.get("result") or {}
    if tool_result.get("isError"):
        raise BenchError(f"{call.name}: the tool returned an error result: {text[:500]}")
    return tool_result
