"""The local API Gateway: routes, the JWT authorizer, and warm Lambda containers.

Each HTTP request is turned into the payload-2.0 event the deployed HTTP API
would send and handed to a LambdaApp running on its own thread, one request at
a time per container, as Lambda does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.routes import API_ROUTES, MCP_PATH
from tenantry_local.apigw import build_event, parse_response
from tenantry_local.authorizer import JwtAuthorizer, Unauthorized, render_claims, token_scopes
from tenantry_local.hosts import HostPolicy
from tenantry_local.throttle import RouteThrottles

__all__ = [
    "GATEWAY_MAX_BODY",
    "LAMBDA_PAYLOAD_BYTES",
    "OAUTH_ROUTES",
    "PREMIUM_PATH",
    "ROUTES",
    "ROUTE_SCOPES",
    "Container",
    "Emulator",
    "FunctionContainer",
    "GatewayLimits",
    "PremiumPath",
]

# (method, path) -> whether the route has the JWT authorizer: the list the stack deploys.
ROUTES: dict[tuple[str, str], bool] = {route.key: route.authorized for route in API_ROUTES}
# The authorization server function's routes, all public (they are how a client gets a token).
OAUTH_ROUTES: frozenset[tuple[str, str]] = frozenset(route.key for route in API_ROUTES if route.function == "oauth")
# Authorization scopes per authorized route (the route's AuthorizationScopes in infra/).
# As deployed, a token passes when it carries at least one of them in `scope` or `scp`.
ROUTE_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/mcp"): ("mcp:tools",),
}
# API Gateway HTTP APIs accept at most 10 MB of payload.
GATEWAY_MAX_BODY = 10 * 1024 * 1024
# Lambda's synchronous invocation payload limit (6 MB), on the whole event and the whole response.
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
# The premium path infra/ deploys when configured (infra.constructs.api.PREMIUM_ROUTE).
PREMIUM_PATH = "/business/mcp"


@dataclass
class _FakeLambdaContext:
    aws_request_id: str
    function_name: str = "tenantry-mcp-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tenantry-mcp-local"
    log_group_name: str = "/aws/lambda/tenantry-mcp-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _own_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


@dataclass
class FunctionContainer:
    """A warm container of another function (the authorization server): any Lambda-style callable."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, initializer=_own_event_loop)
    )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler(event, _FakeLambdaContext(aws_request_id=str(uuid.uuid4())))


@dataclass
class Container:
    """One warm Lambda container: its app (a LambdaApp, or any Lambda-style callable) and its one thread."""

    app: Callable[[dict[str, Any], Any], dict[str, Any]]
    # Like a Lambda runtime, the container's thread owns one event loop for its life.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, initializer=_own_event_loop)
    )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.app(event, _FakeLambdaContext(aws_request_id=str(uuid.uuid4())))


@dataclass(frozen=True)
class GatewayLimits:
    """API Gateway's and Lambda's limits, as deployed; tests shrink the timeouts instead of waiting."""

    # Lambda's synchronous invocation payload, request (the whole event) and response alike.
    payload_bytes: int = LAMBDA_PAYLOAD_BYTES
    # The HTTP API's integration timeout (30 s for HTTP APIs).
    integration_timeout: float = 30.0
    # The functions' own timeouts (infra/constructs/functions.py and auth.py).
    mcp_timeout: float = 28.0
    oauth_timeout: float = 15.0
    # The HTTP API quota on the request line and the headers together.
    header_bytes: int = 10_240


@dataclass(frozen=True)
class PremiumPath:
    """POST /business/mcp: another function behind its own authorizer, with `overwrite:path` to /mcp.

    Which payload-2.0 path field the rewrite changes is not documented: `rewrites` names the
    reading emulated ("http.path", "rawPath" or "both"); the function must answer under any.
    """

    containers: list[Container]
    authorizer: JwtAuthorizer
    path: str = PREMIUM_PATH
    rewrites: str = "both"


class Emulator:
    def __init__(
        self,
        authorizer: JwtAuthorizer,
        containers: list[Container],
        resource_metadata_url: str,
        extra_routes: dict[str, Callable[[], Any]] | None = None,
        on_refusal: Callable[[str], None] | None = None,
        local_apps: dict[str, ASGIApp] | None = None,
        oauth: FunctionContainer | None = None,
        *,
        limits: GatewayLimits | None = None,
        throttles: RouteThrottles | None = None,
        hosts: HostPolicy | None = None,
        advertise_resource_metadata: bool = False,
        premium: PremiumPath | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.containers = containers
        # Free containers per function, keyed by its container list (kept here, so an id is never reused).
        self._pools: dict[int, tuple[list[Container], asyncio.Queue[Container]]] = {}
        self._metadata_url = resource_metadata_url
        self._extra_routes = extra_routes or {}
        self._on_refusal = on_refusal
        # Paths served by local-only ASGI apps on the same origin (the dev authorization server).
        self._local_apps = local_apps or {}
        # The authorization server function's container (its own Lambda, as deployed).
        self.oauth = oauth
        self.limits = limits or GatewayLimits()
        # None: no throttling at all (benchmarks measure the function, not the stage's limits).
        self.throttles = throttles
        self.hosts = hosts
        # Local-only: name the RFC 9728 metadata in the 401 challenge, which the deployed JWT
        # authorizer never does (`./dev local --advertise-resource-metadata`).
        self.advertise_resource_metadata = advertise_resource_metadata
        self.premium = premium

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host = next((v for k, v in headers if k.lower() == "host"), "")
        if self.hosts is not None and not self.hosts.serves(host):
            # No API answers this name: API Gateway has nothing to route it to.
            await _message(send, 404, "Not Found")
            return
        if path in self._local_apps:
            await self._local_apps[path](scope, receive, send)
            return
        if method == "GET" and path in self._extra_routes:
            await _respond(send, 200, [("content-type", "application/json")], json.dumps(self._extra_routes[path]()))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        raw_path = scope.get("raw_path", path.encode()).decode("latin-1")
        if _request_head_size(method, raw_path, query, headers) > self.limits.header_bytes:
            await _message(send, 431, "Request Header Fields Too Large")
            return
        route = (method, path)
        premium = self.premium is not None and route == ("POST", self.premium.path)
        if route not in ROUTES and not premium:
            await _message(send, 404, "Not Found")
            return
        if self.throttles is not None and not self.throttles.admit(route):
            if self._on_refusal:
                self._on_refusal(f"429 {method} {path}: route throttle")
            await _message(send, 429, "Too Many Requests")
            return
        body = await _read(receive, GATEWAY_MAX_BODY)
        if body is None:
            await _message(send, 413, "Request Entity Too Large")
            return
        claims, scopes = None, None
        if premium or ROUTES[route]:
            authorizer = self.premium.authorizer if premium and self.premium else self.authorizer
            authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
            try:
                verified = await authorizer.verify(authorization)
            except Unauthorized as exc:
                if self._on_refusal:
                    self._on_refusal(f"401 {method} {path}: {exc}")
                await self._unauthorized(send, exc)
                return
            required = ROUTE_SCOPES.get(("POST", MCP_PATH) if premium else route, ())
            granted = token_scopes(verified)
            if required and not set(granted) & set(required):
                if self._on_refusal:
                    self._on_refusal(f"403 {method} {path}: token lacks scope {' or '.join(required)}")
                await _insufficient_scope(send, required)
                return
            claims = render_claims(verified)
            # API Gateway fills jwt.scopes only for a route that requires scopes.
            scopes = granted if required else None
        function_path, event_raw_path = path, None
        if premium and self.premium is not None:
            # overwrite:path, as the reading chosen for this run applies it.
            function_path = MCP_PATH if self.premium.rewrites in ("http.path", "both") else path
            event_raw_path = MCP_PATH if self.premium.rewrites in ("rawPath", "both") else path
        event = build_event(
            method=method,
            path=function_path,
            raw_path=event_raw_path,
            query=query,
            headers=headers,
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            route_key=f"{method} {path}",
            claims=claims,
            scopes=scopes,
        )
        if len(json.dumps(event)) > self.limits.payload_bytes:
            # Lambda refuses the invocation (RequestEntityTooLargeException); the function never runs.
            await _message(send, 413, "Request Entity Too Large")
            return
        if route in OAUTH_ROUTES:
            if self.oauth is None:
                await _message(send, 404, "Not Found")
                return
            result = await self._invoke_on(self.oauth, event, self.limits.oauth_timeout)
        else:
            pool = self.premium.containers if premium and self.premium else self.containers
            result = await self._invoke(pool, event)
        if isinstance(result, _Failure):
            await _message(send, result.status, result.message)
            return
        if len(json.dumps(result)) > self.limits.payload_bytes:
            # Lambda fails the invocation (response too large): an integration failure, like a crash.
            await _message(send, 500, "Internal Server Error")
            return
        response = parse_response(result)
        await _respond(send, response.status, response.headers, response.body)

    async def _invoke(self, containers: list[Container], event: dict[str, Any]) -> dict[str, Any] | _Failure:
        """On the next free container of the function, as Lambda gives each container one request at a time."""
        if id(containers) not in self._pools:
            self._pools[id(containers)] = (containers, asyncio.Queue())
            for container in containers:
                self._pools[id(containers)][1].put_nowait(container)
        pool = self._pools[id(containers)][1]
        container = await pool.get()
        return await self._invoke_on(container, event, self.limits.mcp_timeout, release=pool.put_nowait)

    async def _invoke_on(
        self,
        container: Container | FunctionContainer,
        event: dict[str, Any],
        function_timeout: float,
        release: Callable[[Any], None] | None = None,
    ) -> dict[str, Any] | _Failure:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(container.executor, container.invoke, event)
        if release is not None:
            # A timed-out invocation still occupies its thread: the container is free only when it ends.
            future.add_done_callback(lambda _: release(container))
        deadline = min(function_timeout, self.limits.integration_timeout)
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            future.add_done_callback(_consume)
            if function_timeout <= self.limits.integration_timeout:
                # Lambda stops the function ("Task timed out"): a failed invocation, 500.
                return _Failure(500, "Internal Server Error")
            # The HTTP API stops waiting first: 503 (the function may still be running).
            return _Failure(503, "Service Unavailable")
        except Exception:  # noqa: BLE001 - a crashed invocation is API Gateway's 500, as deployed
            import traceback

            traceback.print_exc()
            return _Failure(500, "Internal Server Error")

    async def _unauthorized(self, send: Send, refusal: Unauthorized) -> None:
        # As the deployed JWT authorizer answers: a bare challenge when no token was sent, the
        # error and its description when one was; never resource_metadata (HTTP APIs cannot add
        # it). `advertise_resource_metadata` adds it, for local clients that want the shortcut.
        parts = []
        if refusal.token_sent:
            parts.append(f'scope="" error="invalid_token" error_description="{_description(str(refusal))}"')
        if self.advertise_resource_metadata:
            parts.append(f'resource_metadata="{self._metadata_url}"')
        challenge = "Bearer " + ", ".join(parts) if parts else "Bearer"
        headers = [("content-type", "application/json"), ("www-authenticate", challenge)]
        await _respond(send, 401, headers, '{"message":"Unauthorized"}')


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str


def _consume(future: asyncio.Future[Any]) -> None:
    # A late failure of a timed-out invocation is already answered; read it so asyncio does not warn.
    if not future.cancelled():
        future.exception()


def _request_head_size(method: str, raw_path: str, query: str, headers: list[tuple[str, str]]) -> int:
    target = raw_path + (f"?{query}" if query else "")
    line = len(f"{method} {target} HTTP/1.1")
    return line + sum(len(name) + len(value) for name, value in headers)


async def _message(send: Send, status: int, message: str) -> None:
    """API Gateway's own answers: a JSON body with one `message`, written without spaces as AWS writes it."""
    body = json.dumps({"message": message}, separators=(",", ":"))
    await _respond(send, status, [("content-type", "application/json")], body)


async def _insufficient_scope(send: Send, required: tuple[str, ...]) -> None:
    # What a deployed HTTP API answers when a valid token lacks the route's scopes
    # (captured from a real API, see docs/oauth.md): 403, this body and this header.
    wanted = " ".join(required)
    challenge = f'Bearer scope="{wanted}" error="insufficient_scope" error_description="expected scopes: [{wanted}]"'
    headers = [("content-type", "application/json"), ("www-authenticate", challenge)]
    await _respond(send, 403, headers, '{"message":"Forbidden"}')


def _description(reason: str) -> str:
    if "expired" in reason:
        return "the token has expired"
    if "audience" in reason:
        return "the token does not have a valid audience"
    if "issuer" in reason.lower():
        return "the token does not have a valid issuer"
    return "the token could not be verified"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: str | bytes) -> None:
    data = body.encode() if isinstance(body, str) else body
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
