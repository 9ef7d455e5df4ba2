"""The gateway never answers 5xx or a traceback for what a client sends, and survives its own runner dying."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tenantry.audit import AuditTally
from tenantry.mcp_server.gateway import Gateway
from tenantry.observability import add_metric_listener
from tenantry.settings import Settings
from tenantry_local.apigw import build_event
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import call_asgi, lambda_event, post, rpc

_BAD_IDS = {
    "nan": "NaN",
    "infinity": "Infinity",
    "object": '{"a":1}',
    "array": "[1]",
    "bool": "true",
    "fraction": "1.5",
    "huge-int": str(10**40),
    "long-string": json.dumps("x" * 300),
}


def _customers(platform: LocalPlatform, record: Any) -> list[str]:
    return [c.customer_id for c in platform.services.customer_store.list(context_for(record), 100, None).records]


def test_deep_json_is_a_refusal_or_a_400_never_a_500(platform: LocalPlatform, new_tenant: Any) -> None:
    a, b = new_tenant(), new_tenant()
    deep = "[" * 10_000 + "]" * 10_000
    # With another tenant's header: the cross-tenant refusal, whatever the body.
    response = post(platform, platform.token(a.tenant_id), deep, **{"x-tenant-id": b.tenant_id})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == -32001 and response.json()["id"] is None
    response = post(platform, platform.token(a.tenant_id), deep)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32700 and "nested too deeply" in error["message"]


@pytest.mark.parametrize("kind", sorted(_BAD_IDS))
def test_an_id_that_is_not_a_string_integer_or_null_is_400(platform: LocalPlatform, kind: str) -> None:
    body = '{"jsonrpc":"2.0","id":' + _BAD_IDS[kind] + ',"method":"tools/list"}'
    response = post(platform, platform.token("ironworks-gym"), body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["id"] is None and payload["error"]["code"] in (-32600, -32700)
    assert payload["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param('{"id":1,"method":"tools/list"}', '"jsonrpc": "2.0"', id="no-jsonrpc"),
        pytest.param('{"jsonrpc":"1.0","id":1,"method":"tools/list"}', '"jsonrpc": "2.0"', id="old-jsonrpc"),
        pytest.param('{"jsonrpc":"2.0","id":1,"method":7}', "method must be", id="method-not-a-string"),
        pytest.param('[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]', "Batches", id="batch"),
    ],
)
def test_a_bent_envelope_is_400_with_the_request_id(platform: LocalPlatform, body: str, fragment: str) -> None:
    response = post(platform, platform.token("ironworks-gym"), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32600 and fragment in error["message"]


@pytest.mark.parametrize("rpc_id", ["abc", 0, -5, 2**53 - 1, None])
def test_valid_ids_are_answered(platform: LocalPlatform, rpc_id: Any) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": "tools/list"})
    response = post(platform, platform.token("ironworks-gym"), body)
    assert response.status_code in (200, 202), response.text
    if rpc_id is not None:
        assert response.json()["id"] == rpc_id


def test_a_body_that_is_not_utf8_is_400(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    body = json.dumps(rpc("create_customer", {"name": "Zoë", "customer_id": "zoe"}), ensure_ascii=False).encode(
        "latin-1"
    )
    response = post(platform, platform.token(tenant.tenant_id), body)
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["error"]["message"]
    assert _customers(platform, tenant) == []


def test_the_emulated_api_gateway_delivers_a_non_utf8_text_body_base64_encoded() -> None:
    raw = b'{"name":"Zo\xeb"}'
    event = build_event(
        method="POST",
        path="/mcp",
        query="",
        headers=[("content-type", "application/json")],
        body=raw,
        source_ip="127.0.0.1",
        route_key="POST /mcp",
        claims=None,
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw


# --- the keep-alive task ------------------------------------------------------------------


def test_a_killed_runner_is_replaced_and_the_next_request_is_served(platform: LocalPlatform) -> None:
    container = platform.emulator.containers[0]
    gateway = container.app.gateway
    call = lambda_event("ironworks-gym", rpc("list_customers", {}))
    assert container.executor.submit(container.invoke, call).result(timeout=30)["statusCode"] == 200
    runner = gateway._runner
    assert runner is not None and not runner.done()

    def kill() -> None:
        loop = asyncio.get_event_loop()
        loop.run_until_complete(_cancel(runner))

    container.executor.submit(kill).result(timeout=30)
    assert runner.done()
    answer = container.executor.submit(container.invoke, call).result(timeout=30)
    assert answer["statusCode"] == 200 and "result" in json.loads(answer["body"])
    assert gateway._runner is not None and gateway._runner is not runner


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class _FakeManager:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        if self.fail:
            raise RuntimeError("task group could not start")
        yield


class _FakeServer:
    """Stands in for MCPServer: each app has its own manager; the first `failures` managers fail."""

    def __init__(self, failures: int, app: Callable[..., Any]) -> None:
        self.failures = failures
        self.built = 0
        self.app = app
        self._manager = _FakeManager(False)

    @property
    def session_manager(self) -> _FakeManager:
        return self._manager

    def streamable_http_app(self, **options: Any) -> Any:
        self.built += 1
        self._manager = _FakeManager(self.built <= self.failures)
        return self.app


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})


async def _crashing_app(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("boom: secret internals")


async def test_a_runner_that_fails_to_start_costs_one_503_then_recovers(platform: LocalPlatform) -> None:
    fake = _FakeServer(failures=1, app=_ok_app)
    gateway = Gateway(fake, platform.services.resolver, platform.settings)  # type: ignore[arg-type]
    event = lambda_event("ironworks-gym", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    status, body = await call_asgi(gateway, event)
    assert status == 503
    assert body["error"]["code"] == -32603 and "Retry" in body["error"]["message"] and body["id"] == 1
    status, body = await call_asgi(gateway, event)
    assert status == 200 and body["result"] == {}
    assert fake.built == 2


async def test_a_hung_runner_is_given_up_on_within_its_start_window(platform: LocalPlatform) -> None:
    class Hanging(_FakeManager):
        @asynccontextmanager
        async def run(self) -> AsyncIterator[None]:
            await asyncio.Event().wait()
            yield

    fake = _FakeServer(failures=0, app=_ok_app)
    fake._manager = Hanging(False)
    fake.streamable_http_app = lambda **options: _ok_app  # type: ignore[method-assign]
    settings = Settings.model_validate({**platform.settings.model_dump(), "runner_start_seconds": 0.05})
    gateway = Gateway(fake, platform.services.resolver, settings)  # type: ignore[arg-type]
    status, body = await call_asgi(gateway, lambda_event("ironworks-gym", {"jsonrpc": "2.0", "id": 2, "method": "x"}))
    assert status == 503 and body["error"]["code"] == -32603


async def test_an_unexpected_error_is_one_json_rpc_internal_error_with_a_request_id(platform: LocalPlatform) -> None:
    gateway = Gateway(_FakeServer(0, _crashing_app), platform.services.resolver, platform.settings)  # type: ignore[arg-type]
    event = lambda_event("ironworks-gym", {"jsonrpc": "2.0", "id": "r1", "method": "tools/list"})
    status, body = await call_asgi(gateway, event)
    assert status == 500
    error = body["error"]
    assert body["id"] == "r1" and error["code"] == -32603
    request_id = event["requestContext"]["requestId"]
    assert error["data"]["request_id"] == request_id and request_id in error["message"]
    assert "boom" not in json.dumps(body) and "Traceback" not in json.dumps(body)


class _Clock:
    def __init__(self, at: str) -> None:
        self.now = datetime.fromisoformat(at).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_a_refused_tenants_calls_are_one_audit_record_per_minute_but_cross_tenant_attempts_each_one(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    """A suspended tenant's client that keeps calling must not cost an audit write per call."""
    suspended, victim = new_tenant(status="suspended"), new_tenant()
    audit = platform.services.audit
    clock = _Clock("2030-07-01T12:00:10+00:00")
    gateway = Gateway(
        _FakeServer(0, _ok_app),  # type: ignore[arg-type]
        platform.services.resolver,
        platform.settings,
        audit,
        AuditTally(audit, clock=clock),
    )
    for i in range(20):
        status, body = await call_asgi(
            gateway, lambda_event(suspended.tenant_id, {"jsonrpc": "2.0", "id": i, "method": "tools/list"})
        )
        assert status == 403 and "suspended" in body["error"]["message"]
    assert audit.recent(suspended.tenant_id) == []  # logged at once (alarms see it), stored when its minute ends
    clock.now += 60
    await call_asgi(gateway, lambda_event(suspended.tenant_id, {"jsonrpc": "2.0", "id": 99, "method": "tools/list"}))
    stored = audit.recent(suspended.tenant_id)
    assert [(e.action, e.outcome, e.count) for e in stored] == [("mcp:request", "denied", 20)]

    # An attempt on another tenant's data is a security event: its own record, at once, every time.
    for i in range(2):
        event = lambda_event(
            suspended.tenant_id,
            {"jsonrpc": "2.0", "id": i, "method": "tools/list"},
            headers={"x-tenant-id": victim.tenant_id},
        )
        status, _ = await call_asgi(gateway, event)
        assert status == 403
    cross = [e for e in audit.recent(suspended.tenant_id) if e.reason != stored[0].reason]
    assert len(cross) == 2 and all(e.count == 1 for e in cross)


async def _silent_app(scope: Any, receive: Any, send: Any) -> None:
    """An app that returns without answering, as a streaming path cut short by the client's disconnect does."""
    await receive()


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(("error", message))

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(("exception", message))


async def test_an_app_that_ends_without_a_response_is_a_json_rpc_error_logged_once(platform: LocalPlatform) -> None:
    gateway = Gateway(_FakeServer(0, _silent_app), platform.services.resolver, platform.settings)  # type: ignore[arg-type]
    log = _Log()
    gateway._log = log  # type: ignore[assignment]
    metrics: list[str] = []
    remove = add_metric_listener(lambda name, _: metrics.append(name))
    event = lambda_event("ironworks-gym", {"jsonrpc": "2.0", "id": "q7", "method": "tools/list"})
    try:
        status, body = await call_asgi(gateway, event)
    finally:
        remove()
    assert status == 500
    assert body["id"] == "q7" and body["error"]["code"] == -32603
    assert body["error"]["data"]["request_id"] == event["requestContext"]["requestId"]
    assert log.lines == [("error", "the MCP app ended without a response")]
    assert metrics.count("InternalErrors") == 1


def test_through_mangum_an_app_that_ends_without_a_response_is_not_a_bare_500(platform: LocalPlatform) -> None:
    """What Lambda sees: Mangum would raise reading a status never set (API Gateway: bare 500)."""
    from mangum import Mangum

    gateway = Gateway(_FakeServer(0, _silent_app), platform.services.resolver, platform.settings)  # type: ignore[arg-type]
    event = lambda_event("ironworks-gym", {"jsonrpc": "2.0", "id": 9, "method": "ping"})
    context = SimpleNamespace(aws_request_id="r", get_remaining_time_in_millis=lambda: 29_000)
    result = Mangum(gateway, lifespan="off")(event, context)
    assert result["statusCode"] == 500
    assert json.loads(result["body"])["id"] == 9
