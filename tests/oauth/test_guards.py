"""The authorization server's abuse guards, each proven to bite: CIMD address fence, DCR per-host cap,
per-address rate limits, expiry of unused DCR clients.

Servers here are built from the platform's parts with an injected clock and small limits, so no
test waits on the wall clock and the shared platform's counters are left alone.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from tenantry.audit import AuditLog
from tenantry.dal.oauth import CodeRecord, OAuthStore, RefreshRecord
from tenantry.errors import OAuthError
from tenantry.oauth import clients as clients_module
from tenantry.oauth.app import RateLimits, oauth_app
from tenantry.oauth.clients import ClientRegistry, DocumentFetcher, Fetch, FetchedDocument, RedirectPolicy
from tenantry.oauth.server import AuthorizationServer
from tenantry.oauth.upstream import s256
from tenantry.settings import SettingsError
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import DocumentServer, pkce_pair, registered_clients
from tests.tls import LocalTls

DAY = 86400


class Clock:
    """A clock the test moves by hand; starts on a minute of its own so counters are fresh."""

    def __init__(self) -> None:
        self.now = float(1_600_000_000 + secrets.randbelow(10**6) * 60)

    def __call__(self) -> float:
        return self.now


async def _no_fetch(url: str) -> FetchedDocument:
    raise AssertionError("these tests register clients; nothing should fetch a document")


@dataclass
class Built:
    server: AuthorizationServer
    store: OAuthStore
    clock: Clock
    host: str

    @property
    def redirect_uri(self) -> str:
        return f"https://{self.host}/callback"

    def put_code(self, client_id: str, lifetime_seconds: int, tenant_id: str = "t-guards") -> tuple[str, str, str]:
        """A stored, valid authorization code for `client_id`: (code, PKCE verifier, challenge)."""
        verifier, challenge = pkce_pair()
        code = secrets.token_urlsafe(32)
        self.store.codes.put(
            code,
            CodeRecord(
                client_id=client_id,
                redirect_uri=self.redirect_uri,
                code_challenge=challenge,
                resource=self.server.resources[0],
                scope="mcp:tools",
                subject="owner@ironworks.example",
                tenant_id=tenant_id,
                grant_id=secrets.token_urlsafe(12),
                expires_at=int(self.clock.now) + lifetime_seconds,
            ),
        )
        return code, verifier, challenge


def build(
    platform: LocalPlatform,
    *,
    unused_days: int = 30,
    per_host: int = 500,
    allow_loopback: bool = False,
    fetch: Fetch = _no_fetch,
    audit: AuditLog | None = None,
) -> Built:
    """An authorization server on the platform's table, signer and provider; its own clock and redirect host."""
    assert platform.oauth is not None and platform.oauth_settings is not None
    base = platform.oauth
    clock = Clock()
    host = f"app-{uuid.uuid4().hex[:8]}.example"
    store = OAuthStore(platform.services.dynamodb, platform.oauth_settings.oauth_table, clock=clock)
    registry = ClientRegistry(
        store,
        RedirectPolicy(allowed_hosts=frozenset({host}), allow_loopback=allow_loopback),
        base.scopes,
        fetch,
        unused_days=unused_days,
        registrations_per_host_per_day=per_host,
        clock=clock,
    )
    server = AuthorizationServer(
        issuer=base.url,
        resources=base.resources,
        signer=base.signer,
        clients=registry,
        store=store,
        members=base.members,
        registry=base.registry,
        upstream=base.upstream,
        audit=audit,
        scopes=base.scopes,
        clock=clock,
    )
    return Built(server, store, clock, host)


@pytest.fixture
def no_outbound(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Replace the fetcher's HTTP client: a fetch that passed the fence is recorded, never sent."""
    attempted: list[str] = []

    class Refusing:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        async def __aenter__(self) -> Refusing:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        def stream(self, method: str, url: str, **kwargs: Any) -> Any:
            attempted.append(url)
            raise AssertionError(f"the fetcher tried to connect to {url}")

    monkeypatch.setattr(clients_module.httpx2, "AsyncClient", Refusing)
    yield attempted


# --- 1. CIMD: no fetch from private, loopback or link-local addresses --------------------------


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.1"],
        ["192.168.1.20"],
        ["169.254.169.254"],  # the instance metadata service
        ["127.0.0.1"],
        ["::1"],
        ["fe80::1"],
        ["::ffff:10.0.0.1"],  # IPv4-mapped private address
        # IPv6 forms that carry an IPv4 address a packet may be delivered to: judged by that address.
        ["64:ff9b::a00:1"],  # NAT64 (RFC 6052) of 10.0.0.1
        ["64:ff9b::a9fe:a9fe"],  # NAT64 of the instance metadata service
        ["64:ff9b:1::a00:1"],  # local-use NAT64 (RFC 8215)
        ["::a9fe:a9fe"],  # IPv4-compatible 169.254.169.254
        ["::7f00:1"],  # IPv4-compatible 127.0.0.1
        ["::ffff:0:a00:1"],  # IPv4-translated (RFC 2765) 10.0.0.1
        ["2002:a00:1::1"],  # 6to4 of 10.0.0.1
        ["2002:a9fe:a9fe::1"],  # 6to4 of the instance metadata service
        ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],  # Teredo, client 10.0.0.1
        ["93.184.215.14", "10.0.0.1"],  # one bad address among good ones is enough
    ],
)
async def test_a_metadata_document_host_resolving_to_a_non_public_address_is_not_fetched(
    addresses: list[str], no_outbound: list[str]
) -> None:
    looked_up: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append((host, port))
        return addresses

    fetcher = DocumentFetcher(allow_loopback_http=False, resolve=resolve)
    with pytest.raises(OAuthError) as refused:
        await fetcher("https://client.example/oauth/client.json")
    assert refused.value.error == "invalid_client"
    assert "private, loopback or link-local" in refused.value.description
    assert looked_up == [("client.example", 443)]
    assert no_outbound == []


async def test_a_metadata_document_on_localhost_is_refused_outside_local_loopback_mode(
    no_outbound: list[str],
) -> None:
    """The real resolver: localhost resolves (from the hosts file) to loopback addresses only."""
    with pytest.raises(OAuthError) as refused:
        await DocumentFetcher(allow_loopback_http=False)("https://localhost/oauth/client.json")
    assert refused.value.error == "invalid_client"
    assert no_outbound == []


@pytest.fixture(scope="module")
def https_documents(local_tls: LocalTls) -> Iterator[DocumentServer]:
    """Documents over https on 127.0.0.1, with a certificate from the session's throwaway CA."""
    with DocumentServer.serving(local_tls.server_context()) as served:
        yield served


async def test_deployed_mode_refuses_a_loopback_https_document_whatever_its_certificate(
    https_documents: DocumentServer,
) -> None:
    url = https_documents.publish("/clients/deployed-mode.json")
    with pytest.raises(OAuthError) as refused:
        await DocumentFetcher(allow_loopback_http=False)(url)
    assert refused.value.error == "invalid_client"
    assert "private, loopback or link-local" in refused.value.description
    assert "/clients/deployed-mode.json" not in https_documents.requests


async def test_local_mode_trusts_the_extra_ca_for_https_documents_and_nothing_else_does(
    https_documents: DocumentServer, local_tls: LocalTls
) -> None:
    url = https_documents.publish("/clients/local-mode.json")
    fetched = await DocumentFetcher(allow_loopback_http=True, extra_ca_file=str(local_tls.ca_file))(url)
    assert fetched.status == 200 and json.loads(fetched.body)["client_id"] == url
    # The system trust store alone does not know the throwaway CA: certificates are verified.
    with pytest.raises(OAuthError) as refused:
        await DocumentFetcher(allow_loopback_http=True)(url)
    assert "could not be fetched" in refused.value.description


def test_a_fetcher_refuses_an_extra_ca_outside_local_loopback_mode(local_tls: LocalTls) -> None:
    # Settings refuse TENANTRY_CIMD_CA_FILE without the local switch (tests/unit/test_settings.py);
    # the fetcher refuses the combination too, whoever builds it.
    with pytest.raises(SettingsError, match="local loopback mode only"):
        DocumentFetcher(allow_loopback_http=False, extra_ca_file=str(local_tls.ca_file))


# --- 2. DCR: registrations per redirect host per day ---------------------------------------------


def test_registrations_past_the_per_host_cap_are_refused_and_create_nothing(platform: LocalPlatform) -> None:
    built = build(platform, per_host=2)
    body = {"redirect_uris": [built.redirect_uri], "client_name": "cap test"}
    with TestClient(oauth_app(built.server, RateLimits(register=100, token=100))) as http:
        for _ in range(2):
            assert http.post("/register", json=body).status_code == 201
        before = registered_clients(platform)
        refused = http.post("/register", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_client_metadata"  # RFC 7591 3.2.2
        assert "too many clients" in refused.json()["error_description"]
        assert registered_clients(platform) == before

        # The cap is per host: another allowed host is not affected.
        other = build(platform, per_host=2)
        other_body = {"redirect_uris": [other.redirect_uri]}
        with TestClient(oauth_app(other.server, RateLimits(register=100, token=100))) as other_http:
            assert other_http.post("/register", json=other_body).status_code == 201

        # And it is per day: the next day the host may register again.
        built.clock.now += DAY
        assert http.post("/register", json=body).status_code == 201


# --- 3. Rate limits on /register and /token per source address -----------------------------------


def test_register_and_token_past_the_rate_limit_answer_429_and_create_nothing(platform: LocalPlatform) -> None:
    built = build(platform)
    server = built.server
    with TestClient(oauth_app(server, RateLimits(register=2, token=2))) as http:
        body = {"redirect_uris": [built.redirect_uri]}
        client_id = http.post("/register", json=body).json()["client_id"]
        assert http.post("/register", json=body).status_code == 201
        before = registered_clients(platform)
        limited = http.post("/register", json=body)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"] == "slow_down"
        assert registered_clients(platform) == before

        # A valid code, then two token requests that use up the minute's budget.
        code, verifier, challenge = built.put_code(client_id, 600)
        assert s256(verifier) == challenge
        redeem = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": built.redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": server.resources[0],
        }
        for _ in range(2):
            assert http.post("/token", data={"grant_type": "password"}).status_code == 400
        limited = http.post("/token", data=redeem)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"] == "slow_down"
        assert "access_token" not in limited.json()
        stored = built.store.codes.get(code)
        assert stored is not None and stored.used_at is None  # the code was not spent

        # The next minute the same request is answered: it was the limit, not the request.
        built.clock.now += 60
        answered = http.post("/token", data=redeem)
        assert answered.status_code == 200, answered.text
        assert answered.json()["access_token"]


# --- 4. DCR clients unused for N days expire -----------------------------------------------------


async def test_a_dcr_client_unused_past_its_expiry_can_no_longer_authorize_or_redeem(
    platform: LocalPlatform,
) -> None:
    built = build(platform, unused_days=3)
    server = built.server
    client_id = server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    _, challenge = pkce_pair()
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", built.redirect_uri),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", server.resources[0]),
    ]

    built.clock.now += 3 * DAY - 60  # still within its unused days
    assert (await server.authorize_request(params)).client.client_id == client_id

    built.clock.now += 120  # past them, with no grant completed in between
    with pytest.raises(OAuthError) as refused:
        await server.authorize_request(params)
    assert refused.value.error == "invalid_client"
    assert refused.value.redirect_uri is None  # an unknown client is never redirected to

    code, verifier, _ = built.put_code(client_id, 60)
    with pytest.raises(OAuthError) as refused:
        await server.token(
            [
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", built.redirect_uri),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ]
        )
    assert refused.value.error == "invalid_client"
    stored = built.store.codes.get(code)
    assert stored is not None and stored.used_at is None


# --- 5. Single use holds in the write, not only in the read ----------------------------------------


def test_two_redemptions_that_both_read_a_code_unused_spend_it_once(platform: LocalPlatform) -> None:
    # Two token requests racing with one code (or refresh token) both read used_at as unset; the
    # conditional write is what lets exactly one of them through (the server then revokes the grant).
    built = build(platform)
    bound = {
        "client_id": "c-race",
        "resource": "https://mcp.example.com/mcp",
        "scope": "mcp:tools",
        "subject": "owner@ironworks.example",
        "tenant_id": "t-guards",
        "grant_id": secrets.token_urlsafe(12),
        "expires_at": int(built.clock.now) + 600,
    }
    code, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    built.store.codes.put(code, CodeRecord(redirect_uri=built.redirect_uri, code_challenge="x" * 43, **bound))
    built.store.refresh_tokens.put(token, RefreshRecord(**bound))
    for kind, secret in ((built.store.codes, code), (built.store.refresh_tokens, token)):
        first, second = kind.get(secret), kind.get(secret)
        assert first is not None and second is not None and first.used_at is second.used_at is None
        assert kind.consume(secret) is True
        assert kind.consume(secret) is False
        stored = kind.get(secret)
        assert stored is not None and stored.used_at == int(built.clock.now)
