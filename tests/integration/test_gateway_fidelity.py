"""The emulator fails where API Gateway and Lambda fail: throttles, payload and time limits, hosts, JWKS.

Most checks run a small emulator in process (httpx's ASGI transport) around a stand-in function,
so a timeout can be a fraction of a second instead of AWS's 30; the rest go through the session's
`./dev local` platform.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tenantry.routes import API_ROUTES, STAGE_THROTTLE, Throttle
from tenantry_local.apigw import build_event
from tenantry_local.authorizer import JwtAuthorizer, Unauthorized
from tenantry_local.emulator import PREMIUM_PATH, Container, Emulator, GatewayLimits, PremiumPath
from tenantry_local.hosts import HostPolicy
from tenantry_local.issuer import DevIssuer
from tenantry_local.jwks import HttpKeySet
from tenantry_local.platform import LocalPlatform
from tenantry_local.throttle import RouteThrottles, TokenBucket
from tests.backoff import BackoffTransport
from tests.tls import CLIENT_TLS

ISSUER = "https://issuer.example"
AUDIENCE = "http://127.0.0.1:9/mcp"
RPC = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
ACCEPT = "application/json, text/event-stream"


class StandIn:
    """A Lambda-style function that records its events and sleeps or answers as asked."""

    def __init__(self, sleep: float = 0.0, answer_bytes: int = 2) -> None:
        self.sleep = sleep
        self.answer_bytes = answer_bytes
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        time.sleep(self.sleep)
        return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "x" * self.answer_bytes}


@asynccontextmanager
async def _gateway(function: StandIn, **options: Any) -> AsyncIterator[tuple[httpx.AsyncClient, DevIssuer]]:
    issuer = DevIssuer.ephemeral(ISSUER, AUDIENCE)
    authorizer = JwtAuthorizer(issuer=ISSUER, audiences=(AUDIENCE,), keys=issuer.jwks)
    container = Container(function)
    emulator = Emulator(
        authorizer,
        [container],
        resource_metadata_url="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp",
        hosts=HostPolicy("http://127.0.0.1:9", "localhost"),
        **options,
    )
    transport = httpx.ASGITransport(app=emulator)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
            yield client, issuer
    finally:
        container.executor.shutdown(wait=False, cancel_futures=True)


def _bearer(issuer: DevIssuer, **extra: Any) -> dict[str, str]:
    return {"authorization": "Bearer " + issuer.mint("ironworks-gym", extra=extra)}


# --- throttles ----------------------------------------------------------------------------


def test_a_token_bucket_allows_its_burst_then_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(Throttle(rate=2, burst=5), clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.5  # one token back at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]


def test_each_route_gets_its_own_throttle_or_the_stages() -> None:
    now = [0.0]
    throttles = RouteThrottles(API_ROUTES, clock=lambda: now[0])
    register = next(route for route in API_ROUTES if route.path == "/register")
    assert register.throttle is not None
    assert sum(throttles.admit(register.key) for _ in range(register.throttle.burst + 3)) == register.throttle.burst
    # /mcp is not throttled on its own: the stage's default, in a bucket of its own.
    admitted = sum(throttles.admit(("POST", "/mcp")) for _ in range(STAGE_THROTTLE.burst + 3))
    assert admitted == STAGE_THROTTLE.burst


@pytest.fixture
def refilled(platform: LocalPlatform) -> Iterator[None]:
    yield
    assert platform.emulator.throttles is not None
    platform.emulator.throttles.refill()  # the next test starts with full buckets


def test_register_beyond_its_route_rate_gets_aws_429_and_a_client_that_backs_off_gets_through(
    platform: LocalPlatform, refilled: None
) -> None:
    # An invalid registration: the throttle counts it all the same, and nothing is ever written.
    with httpx.Client(base_url=platform.base_url, timeout=15, verify=CLIENT_TLS) as plain:
        answers = [plain.post("/register", json={}) for _ in range(12)]
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert throttled, [answer.status_code for answer in answers]
    assert all(answer.content == b'{"message":"Too Many Requests"}' for answer in throttled)  # AWS's bytes
    assert {answer.status_code for answer in answers} <= {400, 429}

    transport = BackoffTransport(verify=CLIENT_TLS)
    with httpx.Client(base_url=platform.base_url, timeout=15, transport=transport) as patient:
        answer = patient.post("/register", json={})
    assert answer.status_code == 400  # the function's own answer, once the bucket has a token again


# --- Lambda limits ------------------------------------------------------------------------


async def test_a_function_slower_than_its_timeout_is_aws_500() -> None:
    async with _gateway(StandIn(sleep=1.0), limits=GatewayLimits(mcp_timeout=0.05)) as (client, _):
        response = await client.get("/mcp")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


async def test_a_call_beyond_the_integration_timeout_is_aws_503() -> None:
    limits = GatewayLimits(mcp_timeout=5.0, integration_timeout=0.05)
    async with _gateway(StandIn(sleep=1.0), limits=limits) as (client, _):
        response = await client.get("/mcp")
    assert response.status_code == 503
    assert response.json() == {"message": "Service Unavailable"}


async def test_a_request_event_beyond_lambdas_payload_limit_is_413_and_never_invoked() -> None:
    function = StandIn()
    async with _gateway(function, limits=GatewayLimits(payload_bytes=64 * 1024)) as (client, _):
        small = await client.request("DELETE", "/mcp", content=b"x" * 1024)
        large = await client.request("DELETE", "/mcp", content=b"x" * 70 * 1024)
    assert small.status_code == 200
    assert large.status_code == 413 and large.json() == {"message": "Request Entity Too Large"}
    assert len(function.events) == 1


async def test_a_response_beyond_lambdas_payload_limit_is_aws_500() -> None:
    limits = GatewayLimits(payload_bytes=64 * 1024)
    async with _gateway(StandIn(answer_bytes=70 * 1024), limits=limits) as (client, _):
        response = await client.get("/mcp")
    assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}


def test_a_7_mb_body_with_a_valid_token_is_refused_before_the_function(platform: LocalPlatform) -> None:
    body = json.dumps({**RPC, "params": {"padding": "x" * (7 * 1024 * 1024)}})
    headers = {"authorization": "Bearer " + platform.token("ironworks-gym"), "content-type": "application/json"}
    response = httpx.post(platform.mcp_url, content=body, headers=headers, timeout=30, verify=CLIENT_TLS)
    assert response.status_code == 413
    assert response.content == b'{"message":"Request Entity Too Large"}'


async def test_request_line_and_headers_beyond_10240_bytes_are_refused() -> None:
    function = StandIn()
    async with _gateway(function) as (client, _):
        fits = await client.get("/mcp", headers={"x-pad": "x" * 9000})
        too_big = await client.get("/mcp", headers={"x-pad": "x" * 10_300})
    assert fits.status_code == 200
    assert too_big.status_code == 431
    assert len(function.events) == 1


# --- hosts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("127.0.0.1:9", True),
        ("localhost:9", True),
        ("[::1]:9", True),
        ("ironworks.localhost:9", True),
        ("a.b.localhost:9", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
    ],
)
async def test_only_the_hosts_a_deployed_api_answers_are_served(host: str, served: bool) -> None:
    function = StandIn()
    async with _gateway(function) as (client, _):
        response = await client.get("/mcp", headers={"host": host})
    if served:
        assert response.status_code == 200
    else:
        assert response.status_code == 404 and response.json() == {"message": "Not Found"}
        assert function.events == []


def test_bound_to_every_interface_the_machines_addresses_are_served_and_names_still_refused() -> None:
    policy = HostPolicy("http://0.0.0.0:8787", "localhost")
    assert policy.serves("192.0.2.10:8787") and policy.serves("[2001:db8::1]:8787")
    assert not policy.serves("evil.example:8787")
    assert not HostPolicy("http://127.0.0.1:8787").serves("192.0.2.10:8787")


def test_the_session_platform_refuses_a_foreign_host(platform: LocalPlatform) -> None:
    response = httpx.get(platform.base_url + "/.well-known/oauth-protected-resource/mcp", headers={"host": "evil.test"})
    assert response.status_code == 404


# --- the authorizer as AWS applies it -------------------------------------------------------


async def test_scopes_and_claims_reach_the_function_as_aws_renders_them() -> None:
    function = StandIn()
    async with _gateway(function) as (client, issuer):
        response = await client.post("/mcp", json=RPC, headers=_bearer(issuer, sub=12345, org={"tier": 2}))
    assert response.status_code == 200
    jwt_context = function.events[0]["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["scopes"] == ["mcp:tools"]
    assert jwt_context["claims"]["sub"] == "12345"  # a numeric sub passes, as a string
    assert jwt_context["claims"]["org"] == "map[tier:2]"


async def test_the_authorizer_allows_a_little_clock_skew_and_no_more() -> None:
    async with _gateway(StandIn()) as (client, issuer):
        now = int(time.time())
        just_expired = await client.post("/mcp", json=RPC, headers=_bearer(issuer, exp=now - 20))
        long_expired = await client.post("/mcp", json=RPC, headers=_bearer(issuer, exp=now - 600))
    assert just_expired.status_code == 200
    assert long_expired.status_code == 401


# --- JWKS over HTTP -----------------------------------------------------------------------


async def test_the_session_authorizer_reads_the_jwks_over_http_and_caches_it(platform: LocalPlatform) -> None:
    keys = platform.emulator.authorizer.keys
    assert isinstance(keys, HttpKeySet)
    assert keys.discovery_url == platform.base_url + "/.well-known/openid-configuration"
    keys.expire()
    before = keys.fetches
    token = "Bearer " + platform.token("ironworks-gym")
    with httpx.Client(timeout=15, verify=CLIENT_TLS) as http:
        for _ in range(3):
            response = http.post(platform.mcp_url, json=RPC, headers={"authorization": token})
            assert response.status_code == 200
    assert keys.fetches == before + 1


@contextmanager
def _slow_issuer(delay: float, jwks: dict[str, Any]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            time.sleep(delay)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = {"issuer": base, "jwks_uri": base + "/jwks"} if "openid" in self.path else jwks
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("delay", "verified"), [(0.0, True), (0.5, False)])
async def test_a_jwks_slower_than_the_fetch_timeout_turns_a_valid_token_into_a_401(
    delay: float, verified: bool
) -> None:
    signer = DevIssuer.ephemeral("placeholder", AUDIENCE)
    with _slow_issuer(delay, signer.jwks()) as issuer_url:
        issuer = DevIssuer(issuer_url, AUDIENCE, signer.signer)
        authorizer = JwtAuthorizer(issuer=issuer_url, audiences=(AUDIENCE,), keys=HttpKeySet(issuer_url, timeout=0.1))
        token = "Bearer " + issuer.mint("ironworks-gym")
        if verified:
            assert (await authorizer.verify(token))["tenant_id"] == "ironworks-gym"
        else:
            with pytest.raises(Unauthorized, match="signing keys unavailable"):
                await asyncio.wait_for(authorizer.verify(token), 5)


# --- the premium path ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def premium_function(platform: LocalPlatform) -> Iterator[tuple[str, list[Container]]]:
    """A second MCP function whose resource is /business/mcp, as infra/ deploys the premium one."""
    from tenantry.mcp_server.app import LambdaApp
    from tenantry.mcp_server.services import Services

    url = platform.base_url + PREMIUM_PATH
    containers = [Container(LambdaApp(Services.create(platform.settings.model_copy(update={"resource_url": url}))))]
    yield url, containers
    for container in containers:
        container.executor.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("rewrites", ["http.path", "rawPath", "both"])
def test_the_premium_path_is_served_whichever_field_the_path_rewrite_changes(
    platform: LocalPlatform, premium_function: tuple[str, list[Container]], rewrites: str
) -> None:
    url, containers = premium_function
    apex = platform.emulator.authorizer
    own = JwtAuthorizer(issuer=apex.issuer, audiences=(url,), keys=apex.keys)
    platform.emulator.premium = PremiumPath(containers, own, rewrites=rewrites)
    try:
        with httpx.Client(timeout=30, verify=CLIENT_TLS) as http:
            premium_token = platform.token("summit-climbing", extra={"aud": url})
            served = http.post(url, json=RPC, headers={"authorization": f"Bearer {premium_token}", "accept": ACCEPT})
            apex_token = platform.token("summit-climbing")
            refused = http.post(url, json=RPC, headers={"authorization": f"Bearer {apex_token}", "accept": ACCEPT})
    finally:
        platform.emulator.premium = None
    assert served.status_code == 200, served.text
    assert "tools" in served.json()["result"]
    assert refused.status_code == 401  # its own authorizer: a token for /mcp is not one for /business/mcp


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", f"/.well-known/oauth-protected-resource{PREMIUM_PATH}"]
)
def test_the_premium_functions_metadata_names_its_own_resource_under_either_path(
    premium_function: tuple[str, list[Container]], path: str
) -> None:
    url, containers = premium_function
    event = build_event(
        method="GET",
        path=path,
        query="",
        headers=[("host", "127.0.0.1")],
        body=b"",
        source_ip="127.0.0.1",
        route_key=f"GET {path}",
        claims=None,
    )
    result = containers[0].executor.submit(containers[0].invoke, event).result(timeout=30)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["resource"] == url
