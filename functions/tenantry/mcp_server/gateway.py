"""The ASGI front of the function: routes, limits and the tenant, before MCP.

API Gateway has already verified the bearer token (JWT authorizer); this layer
turns the verified claims into a tenant context, refuses what must not reach a
tool, and hands the request to the MCP SDK's streamable HTTP app.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import FIRST_COMPLETED
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Message, Receive, Scope, Send

from tenantry.audit import AuditEvent, AuditLog, AuditTally
from tenantry.errors import CrossTenantAttemptError, TenantAccessError
from tenantry.observability import emit_metric, get_logger, log_context
from tenantry.routes import MCP_PATH, RESOURCE_METADATA_PATHS
from tenantry.settings import Settings
from tenantry.tenancy.context import TENANT_ID_PATTERN, tenant_scope
from tenantry.tenancy.resolver import TenantResolver, tenant_host

__all__ = ["LISTEN_METHOD", "MCP_PATH", "WELL_KNOWN_PATHS", "Gateway"]

WELL_KNOWN_PATHS = frozenset(RESOURCE_METADATA_PATHS)
# JSON-RPC codes for refusals made before the MCP server sees the message.
_PARSE_ERROR = -32700
_INVALID_REQUEST = -32600
_INTERNAL_ERROR = -32603
_ACCESS_DENIED = -32001
_METHOD_NOT_FOUND = -32601
# The 2026-07-28 method whose answer is an open notification stream (see Gateway.__call__).
LISTEN_METHOD = "subscriptions/listen"
# JSON-RPC ids: strings, or integers a JavaScript client can hold exactly.
_MAX_ID_INT = 2**53 - 1
_MAX_ID_CHARS = 256


class _StreamableServer(Protocol):
    """What the gateway needs of the MCP server (an MCPServer; a fake in the runner tests)."""

    @property
    def session_manager(self) -> Any: ...

    def streamable_http_app(
        self,
        *,
        streamable_http_path: str = ...,
        json_response: bool = ...,
        stateless_http: bool = ...,
        max_request_body_size: int = ...,
        transport_security: TransportSecuritySettings | None = ...,
    ) -> Any: ...


@dataclass(frozen=True)
class _Envelope:
    rpc_id: Any
    method: str | None
    is_request: bool = False  # has an id: answered, where a notification is only acknowledged


class _BadEnvelope(Exception):
    def __init__(self, code: int, message: str, rpc_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.rpc_id = rpc_id


class Gateway:
    def __init__(
        self,
        server: _StreamableServer,
        resolver: TenantResolver,
        settings: Settings,
        audit: AuditLog | None = None,
        refusals: AuditTally | None = None,
    ) -> None:
        self._resolver = resolver
        self._audit = audit
        # A suspended or unknown tenant's client may keep calling: its refusals are one audit record
        # per tenant, reason and minute (with a count), not one write per call.
        self._refusals = refusals or (AuditTally(audit) if audit is not None else None)
        self._settings = settings
        self._server = server
        self._mcp = self._build_app()
        self._own_paths = _own_paths(settings.resource_url)
        self._started: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._log = get_logger()

    def _build_app(self) -> Any:
        """A fresh streamable HTTP app, with a fresh session manager (each may `run()` only once)."""
        return self._server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=self._settings.max_body_bytes,
            # Behind API Gateway the Host is the API's domain, and every request
            # already carries a verified bearer token, which is what DNS-rebinding
            # protection exists to stand in for. Leaving it on (the SDK's default
            # for host 127.0.0.1) fails every deployed request with 421.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    async def start(self) -> None:
        """Start the session manager now (at init), so the first request does not pay for it.

        If it cannot start, the first request tries again (and answers 503 if that fails too).
        """
        await self._ensure_running()

    async def _ensure_running(self) -> bool:
        """Keep the session manager's task group open on this event loop; False if it cannot start.

        `run()` may be entered once per manager, and Mangum would run the ASGI
        lifespan on every invocation; so it runs in a task that outlives each
        invocation on Mangum's persistent loop (see docs/upstream-notes.md).
        A runner found dead is replaced before the request is served; one that
        fails (or hangs) while starting costs that one request a 503, and the
        next request starts a fresh one.
        """
        loop = asyncio.get_running_loop()
        if self._runner is not None and not self._runner.done() and self._runner.get_loop() is not loop:
            # The manager's task group lives on the loop it started on; requests on another loop
            # would wait for it forever. Lambda runs init and every invocation on one thread.
            raise RuntimeError("the MCP session manager was started on another event loop")
        if self._runner is not None and self._runner.done():
            self._runner_died(self._runner, "stopped")
        if self._runner is None or self._started is None:
            self._started = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run_manager(self._started))
        if self._started.is_set():
            return True
        runner, started = self._runner, self._started
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, runner}, timeout=self._settings.runner_start_seconds, return_when=FIRST_COMPLETED)
        if started.is_set():
            return True
        waiting.cancel()
        if not runner.done():
            runner.cancel()  # hung while starting: start over on the next request
        self._runner_died(runner, "failed to start")
        return False

    def _runner_died(self, runner: asyncio.Task[None], how: str) -> None:
        failure = None if runner.cancelled() or not runner.done() else runner.exception()
        emit_metric("RunnerRestarts")
        self._log.error(
            f"MCP session manager {how}; starting a new one",
            exc_info=(type(failure), failure, failure.__traceback__) if failure is not None else None,
            extra={"event": "runner_restart"},
        )
        self._runner = None
        self._started = None
        self._mcp = self._build_app()

    async def _run_manager(self, started: asyncio.Event) -> None:
        async with self._server.session_manager.run():
            started.set()
            await asyncio.Event().wait()  # until the container is frozen for good

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"].rstrip("/") or "/"
        method: str = scope["method"]
        if path != MCP_PATH and path in self._own_paths:
            # The premium function is reached at /business/mcp with `overwrite:path` to /mcp. Which
            # payload-2.0 field that rewrite changes is undocumented (docs/upstream-notes.md): answer
            # under this function's own resource path too, whichever field Mangum read it from.
            path = self._own_paths[path]
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if path in WELL_KNOWN_PATHS:
            if method not in ("GET", "HEAD"):
                await _send_json(send, 405, {"error": "method_not_allowed"}, {"allow": "GET"})
                return
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"host"), "")
            await _send_json(send, 200, self._resource_metadata(_request_context(scope), host))
            return
        if path != MCP_PATH:
            await _send_json(send, 404, {"message": "Not Found"})
            return
        refused_origin = self._foreign_origin(scope)
        if refused_origin is not None:
            await self._refuse_origin(scope, receive, send, refused_origin)
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
        # Parsed once, never raising: who the caller is gets checked before what it sent, so a
        # cross-tenant attempt is refused (and audited) whatever its body looks like.
        envelope: _Envelope | _BadEnvelope
        try:
            envelope = _parse_envelope(body)
        except _BadEnvelope as bad:
            envelope = bad

        event = _request_context(scope)
        claims, request_id = event.claims, event.request_id
        if not claims:
            # Only reachable if the route lost its authorizer: never serve anonymously.
            await _send_rpc_error(send, 401, envelope.rpc_id, _ACCESS_DENIED, "No verified access token.")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # Admitted calls (tools/call) meet the tenant's status in the admission write itself, so a
        # cached record serves them; everything else re-reads a record older than the status window.
        method_name = envelope.method if isinstance(envelope, _Envelope) else None
        max_age = None if method_name == "tools/call" else self._settings.status_cache_seconds
        try:
            tenant = self._resolver.resolve(
                {k: str(v) for k, v in claims.items()}, headers, request_id, max_age=max_age
            )
        except TenantAccessError as exc:
            self._record_denial(exc, claims, request_id)
            await _send_rpc_error(send, exc.http_status, envelope.rpc_id, _ACCESS_DENIED, str(exc))
            return
        if isinstance(envelope, _BadEnvelope):
            await _send_rpc_error(send, 400, envelope.rpc_id, envelope.code, envelope.message)
            return
        if envelope.method == LISTEN_METHOD and envelope.is_request:
            # Its answer is a stream that stays open until the client leaves; an HTTP API in front of
            # a Lambda function returns one buffered response, so no stream can be served. Answered
            # here, in both protocol eras, as the SDK answers any method without a handler (-32601,
            # 404), and consistent with discover/initialize, which declare no listChanged/subscribe.
            await _send_rpc_error(
                send,
                404,
                envelope.rpc_id,
                _METHOD_NOT_FOUND,
                "subscriptions/listen is not served here: this server cannot hold a stream open, and it "
                "declares no listChanged or subscribe capability. List results carry ttlMs; list again "
                "when it expires.",
                data={"method": LISTEN_METHOD},
            )
            return

        if not await self._ensure_running():
            await _send_rpc_error(
                send,
                503,
                envelope.rpc_id,
                _INTERNAL_ERROR,
                "The server is restarting and could not take this request; nothing was done. Retry in a moment.",
                {"retry-after": "1"},
                data={"request_id": request_id, "retryable": True},
            )
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        with (
            tenant_scope(tenant),
            log_context(tenant_id=tenant.tenant_id, plan=tenant.plan, request_id=request_id),
        ):
            try:
                await self._mcp(scope, _replay(body), tracking_send)
            except Exception:  # noqa: BLE001 - the function's outermost boundary: one answer, one log
                self._log.exception("unexpected error serving an MCP request", extra={"event": "internal_error"})
            else:
                if started:
                    return
                # The app returned without answering (a streaming path cut short, a handler that never
                # replied): Mangum would fail reading a status that was never set and API Gateway would
                # answer a bare 500. One log line, then the JSON-RPC error below.
                self._log.error(
                    "the MCP app ended without a response",
                    extra={"event": "internal_error", "rpc_method": envelope.method},
                )
            emit_metric("InternalErrors")
            if not started:
                await _send_rpc_error(
                    send,
                    500,
                    envelope.rpc_id,
                    _INTERNAL_ERROR,
                    f"Something went wrong on our side. Retry once; if it happens again, quote request id "
                    f"{request_id or 'unknown'} to support.",
                    data={"request_id": request_id, "retryable": True},
                )

    def _foreign_origin(self, scope: Scope) -> str | None:
        """The request's Origin if a browser sent it from an origin not allowed; None if it may pass.

        Streamable HTTP transport: a server MUST validate Origin and answer 403 when it is present
        and not allowed (DNS rebinding, cross-site pages). No Origin at all is a server-side client
        (ChatGPT's connector, SDKs, curl), which no browser page can impersonate.
        """
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        for name, value in raw:
            if name.lower() == b"origin":
                origin = value.decode("latin-1").strip()
                if origin.lower() not in self._settings.allowed_origins:
                    return origin
        return None

    async def _refuse_origin(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        rpc_id = None
        if scope["method"] == "POST":
            body = await _read_body(receive, self._settings.max_body_bytes)
            try:
                rpc_id = _parse_envelope(body).rpc_id if body is not None else None
            except _BadEnvelope as bad:
                rpc_id = bad.rpc_id
        emit_metric("OriginRefused")
        shown = origin[:200]
        await _send_rpc_error(
            send,
            403,
            rpc_id,
            _ACCESS_DENIED,
            f"Origin {shown!r} is not allowed to call this server: browser requests are served only from the "
            "origins the operator allows (TENANTRY_ALLOWED_ORIGINS); server-side clients send no Origin.",
            data={"reason": "origin_not_allowed"},
        )

    def _record_denial(self, exc: TenantAccessError, claims: Mapping[str, Any], request_id: str) -> None:
        cross_tenant = isinstance(exc, CrossTenantAttemptError)
        if cross_tenant:
            emit_metric("CrossTenantDenied")
        if self._audit is None or self._refusals is None:
            return
        claimed = str(claims.get(self._settings.tenant_claim) or "")
        event = AuditEvent(
            # Audit records live in the token's tenant partition; an unusable claim goes to a shared bucket.
            tenant_id=claimed if TENANT_ID_PATTERN.fullmatch(claimed) else "_unattributed",
            principal=str(claims.get("sub") or claims.get("client_id") or "unknown"),
            action="mcp:request",
            resource=MCP_PATH,
            outcome="denied",
            reason=exc.code,
            request_id=request_id,
        )
        if cross_tenant:
            self._audit.record(event)  # each attempt on another tenant is its own record, at once
        else:
            self._refusals.add(event)

    def _resource_metadata(self, event: _RequestContext, host: str) -> dict[str, Any]:
        resource = self._settings.resource_url
        if not resource:
            domain = event.domain_name or "localhost"
            resource = f"https://{domain}{MCP_PATH}"
        # RFC 9728 3.3: a client refuses metadata whose `resource` is not the URL it asked about, so
        # through a tenant host (<slug>.<base_domain>) the resource is that host's URL. The
        # authorization server accepts it for that tenant only (docs/oauth.md).
        if tenant_host(host, self._settings.base_domain):
            parts = urlsplit(resource)
            resource = urlunsplit((parts.scheme, host.lower(), parts.path, "", ""))
        return {
            "resource": resource,
            "authorization_servers": self._settings.authorization_servers,
            "scopes_supported": self._settings.scopes_supported,
            "bearer_methods_supported": ["header"],
            "resource_name": "Tenantry MCP server",
        }


def _own_paths(resource_url: str | None) -> dict[str, str]:
    """This function's resource path and its metadata path, mapped to the paths it answers them under."""
    resource_path = urlsplit(resource_url or "").path.rstrip("/")
    if not resource_path or resource_path == MCP_PATH:
        return {}
    return {
        resource_path: MCP_PATH,
        RESOURCE_METADATA_PATHS[0] + resource_path: RESOURCE_METADATA_PATHS[1],
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


@dataclass(frozen=True)
class _RequestContext:
    """What the gateway reads of the API Gateway payload-2.0 event Mangum puts in the scope.

    Read from the three keys it needs rather than through powertools' event data classes,
    whose package imports every event type there is (~0.1 s of every cold start).
    """

    request_id: str
    domain_name: str | None
    # The JWT authorizer's verified claims (requestContext.authorizer.jwt.claims); empty if absent.
    claims: Mapping[str, Any]


def _request_context(scope: Scope) -> _RequestContext:
    raw = _mapping(scope.get("aws.event"))
    context = _mapping(raw.get("requestContext"))
    claims = _mapping(_mapping(_mapping(context.get("authorizer")).get("jwt")).get("claims"))
    domain = context.get("domainName")
    return _RequestContext(
        request_id=str(context.get("requestId") or ""),
        domain_name=domain if isinstance(domain, str) and domain else None,
        claims=claims,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return len(value) <= _MAX_ID_CHARS
    # bool is an int in Python, and not an id; floats (NaN, 1.5) are not ids either.
    return type(value) is int and abs(value) <= _MAX_ID_INT


def _parse_envelope(body: bytes) -> _Envelope:
    """Check the JSON-RPC envelope before the SDK sees it: what it would drop or crash on is a 400 here."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadEnvelope(_PARSE_ERROR, "The request body is not valid UTF-8; send JSON-RPC as UTF-8 JSON.") from None
    try:
        message = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _BadEnvelope(_PARSE_ERROR, "The request body is nested too deeply to be a JSON-RPC message.") from None
    except ValueError:
        raise _BadEnvelope(
            _PARSE_ERROR, "The request body is not valid JSON (NaN and Infinity are not JSON)."
        ) from None
    if isinstance(message, list):
        raise _BadEnvelope(_INVALID_REQUEST, "Batches are not supported: send one JSON-RPC message per request.")
    if not isinstance(message, dict):
        raise _BadEnvelope(_INVALID_REQUEST, "A JSON-RPC message is a JSON object.")
    rpc_id = message.get("id")
    if not _valid_id(rpc_id):
        raise _BadEnvelope(
            _INVALID_REQUEST,
            f"The JSON-RPC id must be a string (up to {_MAX_ID_CHARS} characters), an integer between "
            f"-{_MAX_ID_INT} and {_MAX_ID_INT}, or null.",
        )
    if message.get("jsonrpc") != "2.0":
        raise _BadEnvelope(_INVALID_REQUEST, 'A JSON-RPC message needs "jsonrpc": "2.0".', rpc_id)
    method = message.get("method")
    if "method" in message:
        if not isinstance(method, str) or not method:
            raise _BadEnvelope(_INVALID_REQUEST, "The JSON-RPC method must be a non-empty string.", rpc_id)
    elif "result" not in message and "error" not in message:
        raise _BadEnvelope(_INVALID_REQUEST, "A JSON-RPC request needs a method.", rpc_id)
    return _Envelope(rpc_id=rpc_id, method=method, is_request="id" in message and "method" in message)


async def _send_json(send: Send, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _send_rpc_error(
    send: Send,
    status: int,
    rpc_id: Any,
    code: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = dict(data)
    payload = {"jsonrpc": "2.0", "id": rpc_id, "error": error}
    await _send_json(send, status, payload, headers)
