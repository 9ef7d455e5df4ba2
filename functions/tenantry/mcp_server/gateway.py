"""The ASGI front of the function: routes, limits and the tenant, before MCP.

API Gateway has already verified the bearer token (JWT authorizer); this layer
turns the verified claims into a tenant context, refuses what must not reach a
tool, and hands the request to the MCP SDK's streamable HTTP app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Message, Receive, Scope, Send

from tenantry.audit import AuditEvent, AuditLog
from tenantry.errors import CrossTenantAttemptError, TenantAccessError
from tenantry.observability import emit_metric, get_logger, log_context
from tenantry.settings import Settings
from tenantry.tenancy.context import TENANT_ID_PATTERN, tenant_scope
from tenantry.tenancy.resolver import TenantResolver

__all__ = ["MCP_PATH", "WELL_KNOWN_PATHS", "Gateway"]

MCP_PATH = "/mcp"
WELL_KNOWN_PATHS = frozenset({"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"})
# JSON-RPC codes for refusals made before the MCP server sees the message.
_INVALID_REQUEST = -32600
_ACCESS_DENIED = -32001


class Gateway:
    def __init__(
        self, server: MCPServer, resolver: TenantResolver, settings: Settings, audit: AuditLog | None = None
    ) -> None:
        self._resolver = resolver
        self._audit = audit
        self._settings = settings
        self._server = server
        self._mcp = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=settings.max_body_bytes,
            # Behind API Gateway the Host is the API's domain, and every request
            # already carries a verified bearer token, which is what DNS-rebinding
            # protection exists to stand in for. Leaving it on (the SDK's default
            # for host 127.0.0.1) fails every deployed request with 421.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._started: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._log = get_logger()

    async def start(self) -> None:
        """Start the session manager now (at init), so the first request does not pay for it."""
        await self._ensure_running()

    async def _ensure_running(self) -> None:
        """Keep the session manager's task group open on this event loop.

        `run()` may be entered once per manager, and Mangum would run the ASGI
        lifespan on every invocation; so it runs in a task that outlives each
        invocation on Mangum's persistent loop (see docs/upstream-notes.md).
        """
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = asyncio.Event()
            self._runner = loop.create_task(self._run_manager())
        elif self._runner is not None and self._runner.get_loop() is not loop:
            # The manager's task group lives on the loop it started on; requests on another loop
            # would wait for it forever. Lambda runs init and every invocation on one thread.
            raise RuntimeError("the MCP session manager was started on another event loop")
        await self._started.wait()

    async def _run_manager(self) -> None:
        assert self._started is not None
        async with self._server.session_manager.run():
            self._started.set()
            await asyncio.Event().wait()  # until the container is frozen for good

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path in WELL_KNOWN_PATHS:
            if method not in ("GET", "HEAD"):
                await _send_json(send, 405, {"error": "method_not_allowed"}, {"allow": "GET"})
                return
            await _send_json(send, 200, self._resource_metadata(scope))
            return
        if path.rstrip("/") != MCP_PATH:
            await _send_json(send, 404, {"message": "Not Found"})
            return
        if method != "POST":
            # No SSE stream and no sessions through API Gateway + Lambda: only POST.
            await _send_rpc_error(
                send,
                405,
                None,
                _INVALID_REQUEST,
                f"{method} is not supported on /mcp; send JSON-RPC with POST.",
                {"allow": "POST"},
            )
            return

        body = await _read_body(receive, self._settings.max_body_bytes)
        if body is None:
            limit_kib = self._settings.max_body_bytes // 1024
            await _send_rpc_error(send, 413, None, _INVALID_REQUEST, f"Request body is larger than {limit_kib} KiB.")
            return

        event: Mapping[str, Any] = scope.get("aws.event") or {}
        context = event.get("requestContext") or {}
        claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims")
        request_id = str(context.get("requestId") or "")
        if not isinstance(claims, Mapping):
            # Only reachable if the route lost its authorizer: never serve anonymously.
            await _send_rpc_error(send, 401, _rpc_id(body), _ACCESS_DENIED, "No verified access token.")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            tenant = self._resolver.resolve({k: str(v) for k, v in claims.items()}, headers, request_id)
        except TenantAccessError as exc:
            self._record_denial(exc, claims, request_id)
            await _send_rpc_error(send, exc.http_status, _rpc_id(body), _ACCESS_DENIED, str(exc))
            return

        await self._ensure_running()
        with (
            tenant_scope(tenant),
            log_context(tenant_id=tenant.tenant_id, plan=tenant.plan, request_id=request_id),
        ):
            await self._mcp(scope, _replay(body), send)

    def _record_denial(self, exc: TenantAccessError, claims: Mapping[str, Any], request_id: str) -> None:
        cross_tenant = isinstance(exc, CrossTenantAttemptError)
        if cross_tenant:
            emit_metric("CrossTenantDenied")
        if self._audit is None:
            return
        claimed = str(claims.get(self._settings.tenant_claim) or "")
        self._audit.record(
            AuditEvent(
                # Audit records live in the token's tenant partition; an unusable claim goes to a shared bucket.
                tenant_id=claimed if TENANT_ID_PATTERN.fullmatch(claimed) else "_unattributed",
                principal=str(claims.get("sub") or claims.get("client_id") or "unknown"),
                action="mcp:request",
                resource=MCP_PATH,
                outcome="denied",
                reason=exc.code,
                request_id=request_id,
            )
        )

    def _resource_metadata(self, scope: Scope) -> dict[str, Any]:
        resource = self._settings.resource_url
        if not resource:
            event = scope.get("aws.event") or {}
            domain = (event.get("requestContext") or {}).get("domainName") or "localhost"
            resource = f"https://{domain}{MCP_PATH}"
        return {
            "resource": resource,
            "authorization_servers": self._settings.authorization_servers,
            "scopes_supported": self._settings.scopes_supported,
            "bearer_methods_supported": ["header"],
            "resource_name": "Tenantry MCP server",
        }


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _rpc_id(body: bytes) -> Any:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message.get("id") if isinstance(message, dict) else None


async def _send_json(send: Send, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _send_rpc_error(
    send: Send, status: int, rpc_id: Any, code: int, message: str, headers: Mapping[str, str] | None = None
) -> None:
    payload = {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}
    await _send_json(send, status, payload, headers)
