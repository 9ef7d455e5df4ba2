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

from tenantry.mcp_server.app import LambdaApp
from tenantry.routes import API_ROUTES
from tenantry_local.apigw import build_event, parse_response
from tenantry_local.authorizer import JwtAuthorizer, Unauthorized, stringify_claims

__all__ = ["GATEWAY_MAX_BODY", "OAUTH_ROUTES", "ROUTES", "ROUTE_SCOPES", "Container", "Emulator", "FunctionContainer"]

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
    """One warm Lambda container: its app and the single thread it runs on."""

    app: LambdaApp
    # Like a Lambda runtime, the container's thread owns one event loop for its life.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, initializer=_own_event_loop)
    )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.app(event, _FakeLambdaContext(aws_request_id=str(uuid.uuid4())))


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
    ) -> None:
        self.authorizer = authorizer
        self.containers = containers
        self._free: asyncio.Queue[Container] | None = None
        self._metadata_url = resource_metadata_url
        self._extra_routes = extra_routes or {}
        self._on_refusal = on_refusal
        # Paths served by local-only ASGI apps on the same origin (the dev authorization server).
        self._local_apps = local_apps or {}
        # The authorization server function's container (its own Lambda, as deployed).
        self.oauth = oauth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path in self._local_apps:
            await self._local_apps[path](scope, receive, send)
            return
        if method == "GET" and path in self._extra_routes:
            await _respond(send, 200, [("content-type", "application/json")], json.dumps(self._extra_routes[path]()))
            return
        route = (method, path)
        if route not in ROUTES:
            await _respond(send, 404, [("content-type", "application/json")], '{"message":"Not Found"}')
            return
        body = await _read(receive, GATEWAY_MAX_BODY)
        if body is None:
            await _respond(send, 413, [("content-type", "application/json")], '{"message":"Request Entity Too Large"}')
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        claims = None
        if ROUTES[route]:
            authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
            try:
                verified = self.authorizer.verify(authorization)
            except Unauthorized as exc:
                if self._on_refusal:
                    self._on_refusal(f"401 {method} {path}: {exc}")
                await self._unauthorized(send, str(exc))
                return
            required = ROUTE_SCOPES.get(route, ())
            if required and not _token_scopes(verified) & set(required):
                if self._on_refusal:
                    self._on_refusal(f"403 {method} {path}: token lacks scope {' or '.join(required)}")
                await _insufficient_scope(send, required)
                return
            claims = stringify_claims(verified)
        event = build_event(
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            route_key=f"{method} {path}",
            claims=claims,
        )
        if route in OAUTH_ROUTES:
            if self.oauth is None:
                await _respond(send, 404, [("content-type", "application/json")], '{"message":"Not Found"}')
                return
            result = await self._invoke_on(self.oauth, event)
        else:
            result = await self._invoke(event)
        if result is None:
            await _respond(send, 500, [("content-type", "application/json")], '{"message":"Internal Server Error"}')
            return
        response = parse_response(result)
        await _respond(send, response.status, response.headers, response.body)

    async def _invoke(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """On the next free MCP container, as Lambda gives each container one request at a time."""
        if self._free is None:
            self._free = asyncio.Queue()
            for container in self.containers:
                self._free.put_nowait(container)
        container = await self._free.get()
        try:
            return await self._invoke_on(container, event)
        finally:
            self._free.put_nowait(container)

    async def _invoke_on(
        self, container: Container | FunctionContainer, event: dict[str, Any]
    ) -> dict[str, Any] | None:
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(container.executor, container.invoke, event)
        except Exception:  # noqa: BLE001 - a crashed invocation is API Gateway's 500, as deployed
            import traceback

            traceback.print_exc()
            return None

    async def _unauthorized(self, send: Send, reason: str) -> None:
        # The deployed authorizer's 401 body and header are fixed; locally the
        # header also carries resource_metadata (RFC 9728) so clients can discover.
        challenge = (
            f'Bearer scope="" error="invalid_token" error_description="{_description(reason)}", '
            f'resource_metadata="{self._metadata_url}"'
        )
        headers = [("content-type", "application/json"), ("www-authenticate", challenge)]
        await _respond(send, 401, headers, '{"message":"Unauthorized"}')


def _token_scopes(claims: dict[str, Any]) -> set[str]:
    """Scopes from `scope` (space-separated) or `scp` (string or list), as the JWT authorizer reads them."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(str(item) for item in value)
    return found


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
    if "no Authorization" in reason:
        return "no token was provided"
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
