"""Helpers for the attack suite: raw HTTP, raw Lambda events, a probe gateway, leak checks.

Every vector here is written from the attacker's side: a tenant (the attacker)
tries to reach, change or learn about another tenant (the victim). Each test
checks the refusal *and* that the victim's data is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.assembly import build_server
from tenantry.mcp_server.gateway import Gateway
from tenantry.mcp_server.services import Services
from tenantry.mcp_server.tools.customers import READ_ONLY
from tenantry.observability import get_logger
from tenantry.settings import Settings
from tenantry.tenancy.context import current_tenant, tenant_scope
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.apigw import build_event, parse_response
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.tls import CLIENT_TLS

ACCEPT = "application/json, text/event-stream"
BASE_DOMAIN = "mcp.example.com"

# Every error text produced by a cross-tenant attempt, with the victims it must not name.
# test_v40 (last file) asserts over all of them once the suite has run.
ERROR_TEXTS: list[tuple[str, str, TenantRecord, str]] = []


# --- requests ---------------------------------------------------------------------------


def rpc(name: str, arguments: dict[str, Any], rpc_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def post(platform: LocalPlatform, token: str | None, body: Any, **headers: str) -> httpx.Response:
    """POST /mcp through the emulated API Gateway (authorizer included)."""
    sent = {"content-type": "application/json", "accept": ACCEPT, **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return httpx.post(platform.mcp_url, content=content, headers=sent, timeout=30, verify=CLIENT_TLS)


def tool_text(response: httpx.Response) -> tuple[bool, str, Any]:
    """(is_error, text, structuredContent) of a tools/call answered with 200."""
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    return bool(result.get("isError")), result["content"][0]["text"], result.get("structuredContent")


def lambda_event(
    tenant_id: str | None,
    body: Any,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event API Gateway sends after its JWT authorizer accepted a token."""
    if claims is None and tenant_id is not None:
        claims = {"tenant_id": tenant_id, "sub": "attacker@example.com"}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"content-type": "application/json", "accept": ACCEPT, **(headers or {})}
    return build_event(
        method=method,
        path="/mcp",
        query="",
        headers=list(sent.items()),
        body=raw,
        source_ip="203.0.113.7",
        route_key=f"{method} /mcp",
        claims=claims,
    )


@dataclass
class WarmContainer:
    """One emulated Lambda container (own thread and event loop), invoked with raw events."""

    container: Container

    @property
    def app(self) -> LambdaApp:
        return self.container.app

    def invoke(self, event: dict[str, Any]) -> tuple[int, Any]:
        result = self.container.executor.submit(self.container.invoke, event).result(timeout=30)
        response = parse_response(result)
        try:
            return response.status, json.loads(response.body)
        except ValueError:
            return response.status, response.body.decode()


def new_container(settings: Settings) -> WarmContainer:
    return WarmContainer(Container(LambdaApp(Services.create(settings))))


@pytest.fixture(scope="session")
def warm(platform: LocalPlatform) -> Iterator[WarmContainer]:
    """A container of its own (the platform's containers are shared with other tests)."""
    container = new_container(platform.settings)
    yield container
    container.container.executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="session")
def subdomain_app(platform: LocalPlatform) -> Iterator[WarmContainer]:
    """A container deployed with per-tenant subdomains: <slug>.mcp.example.com."""
    container = new_container(platform.settings.model_copy(update={"base_domain": BASE_DOMAIN}))
    yield container
    container.container.executor.shutdown(wait=False, cancel_futures=True)


def make_tenant(
    platform: LocalPlatform, plan: str = "starter", status: str = "active", placement: dict[str, Any] | None = None
) -> TenantRecord:
    """Like the `new_tenant` fixture, for module- and session-scoped fixtures."""
    suffix = uuid.uuid4().hex[:8]
    fields = {"tenant_id": f"t-{suffix}", "slug": f"s{suffix}", "display_name": f"Studio {suffix}"}
    record = TenantRecord.model_validate(
        fields | {"plan": plan, "status": status} | ({"placement": placement} if placement else {})
    )
    platform.services.registry.put(record)
    return record


@pytest.fixture(scope="session")
def victim(platform: LocalPlatform) -> TenantRecord:
    """A tenant with data that no test may ever change: every attack in the suite aims at it."""
    record = make_tenant(platform, plan="business")
    seed_customers(platform, record, "vip", "cus_victim01")
    return record


@pytest.fixture(scope="session")
def bystander(platform: LocalPlatform) -> TenantRecord:
    """An attacker whose own partition must stay empty (its refused requests wrote nothing)."""
    return make_tenant(platform)


# --- the victim's data, read directly ----------------------------------------------------


def snapshot(platform: LocalPlatform, record: TenantRecord) -> dict[str, dict[str, Any]]:
    """Every customer of a tenant, by id, read through the service layer in its own scope."""
    seen: dict[str, dict[str, Any]] = {}
    cursor = None
    with tenant_scope(context_for(record)):
        while True:
            page = platform.services.customers.list(limit=100, cursor=cursor)
            seen.update({c.customer_id: c.model_dump() for c in page.customers})
            cursor = page.next_cursor
            if not cursor:
                return seen


def seed_customers(platform: LocalPlatform, record: TenantRecord, *ids: str) -> None:
    from tenantry.logic.customers import CustomerFields

    with tenant_scope(context_for(record)):
        for customer_id in ids:
            platform.services.customers.create(
                CustomerFields(name=f"{record.display_name} member {customer_id}", notes="private"), customer_id
            )


# --- leak checks ---------------------------------------------------------------------------


def victim_markers(victim: TenantRecord) -> list[str]:
    return [victim.tenant_id, victim.slug, victim.display_name]


def assert_does_not_name(text: str, victim: TenantRecord, where: str, sent: Any = "") -> None:
    """An answer given to the attacker never names the victim tenant.

    A marker the attacker put in its own request (`sent`) may be echoed back
    (validation errors quote the input): that tells the attacker nothing new.
    """
    echoed = sent if isinstance(sent, str) else json.dumps(sent)
    ERROR_TEXTS.append((where, text, victim, echoed))
    for marker in victim_markers(victim):
        if marker in echoed:
            continue
        assert marker not in text, f"{where}: answer names the victim ({marker!r}): {text[:300]}"


# --- a probe gateway: the real gateway and server plus one test-only tool --------------------


def probe_gateway(settings: Settings) -> tuple[Gateway, asyncio.Event, list[str]]:
    """The production Gateway and tools, plus `probe`, which reports the tenant it ran for.

    `probe` waits on a shared event between two reads of the tenant context and logs
    in between, so concurrent requests really are interleaved inside the tool.
    """
    services = Services.create(settings)
    server = build_server(services)
    release = asyncio.Event()
    entered: list[str] = []

    @server.tool(feature="profile", annotations=READ_ONLY)
    async def probe(hold: bool = True) -> dict[str, Any]:
        before = current_tenant().tenant_id
        entered.append(before)
        get_logger().info("probe started", extra={"acting_tenant": before})
        if hold:
            await release.wait()
        await asyncio.sleep(0)
        after = current_tenant().tenant_id
        get_logger().info("probe finished", extra={"acting_tenant": after})
        profile = services.profile.get()
        return {"before": before, "after": after, "profile": profile.tenant_id}

    return Gateway(server, services.resolver, services.settings), release, entered


def asgi_scope(event: dict[str, Any]) -> dict[str, Any]:
    """The ASGI scope Mangum builds from a payload-2.0 event (the fields the gateway reads)."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in event["headers"].items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "method": event["requestContext"]["http"]["method"],
        "http_version": "1.1",
        "headers": headers,
        "path": event["rawPath"],
        "raw_path": None,
        "root_path": "",
        "scheme": "https",
        "query_string": b"",
        "server": ("mcp.example.com", 443),
        "client": ("203.0.113.7", 0),
        "aws.event": event,
    }


async def call_asgi(app: Any, event: dict[str, Any]) -> tuple[int, Any]:
    body = (event.get("body") or "").encode()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {"type": "http.disconnect"}

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(asgi_scope(event), receive, send)
    raw = b"".join(chunks)
    return status, json.loads(raw) if raw else None


def run_in_own_loop(coro_factory: Any) -> Any:
    """Run a coroutine on a fresh event loop in its own thread, like a Lambda container."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_factory()).result(timeout=60)


class LogCapture(logging.Handler):
    """Collects the `tenantry` logger's records as the powertools formatter renders them."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(get_logger().registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def tenantry_logs() -> Iterator[LogCapture]:
    logger = logging.getLogger("tenantry")
    capture = LogCapture()
    level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
