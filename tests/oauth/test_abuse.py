"""The authorization server under abuse (issue 25): each finding, reproduced, and the guard that stops it.

Servers are built as in test_guards.py (the platform's table, signer and provider; a clock moved by
hand; small limits), so nothing waits on the wall clock for a limit and the shared platform's
counters are left alone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tenantry.audit import AuditLog
from tenantry.errors import OAuthError
from tenantry.oauth import clients as clients_module
from tenantry.oauth.app import RateLimits, oauth_app
from tenantry.oauth.clients import DocumentFetcher, FetchedDocument, RedirectPolicy
from tenantry.oauth.server import AuthorizationServer
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import REDIRECT_URI, pkce_pair
from tests.oauth.test_guards import DAY, Built, build

# --- helpers --------------------------------------------------------------------------------------


def _items(platform: LocalPlatform, table: str, prefix: str) -> list[dict[str, Any]]:
    pages = platform.services.dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="begins_with(pk, :p)", ExpressionAttributeValues={":p": {"S": prefix}}
    )
    return [item for page in pages for item in page["Items"]]


def _oauth_items(platform: LocalPlatform, prefix: str) -> list[dict[str, Any]]:
    assert platform.oauth_settings is not None
    return _items(platform, platform.oauth_settings.oauth_table, prefix)


def _audit_log(platform: LocalPlatform) -> AuditLog:
    assert platform.oauth_settings is not None
    return AuditLog(platform.services.dynamodb, platform.oauth_settings.audit_table)


def _oauth_audit_items(platform: LocalPlatform, action: str) -> list[dict[str, Any]]:
    assert platform.oauth_settings is not None
    response = platform.services.dynamodb.query(
        TableName=platform.oauth_settings.audit_table,
        KeyConditionExpression="pk = :t",
        FilterExpression="#a = :a",
        ExpressionAttributeNames={"#a": "action"},
        ExpressionAttributeValues={":t": {"S": "_oauth"}, ":a": {"S": action}},
    )
    return list(response["Items"])


def _authorize_params(built: Built, client_id: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": built.redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": built.server.resources[0],
    }


def _redeem_form(built: Built, client_id: str, code: str, verifier: str) -> list[tuple[str, str]]:
    return [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", built.redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier),
    ]


class SlowDocumentServer:
    """Serves a valid-looking document one byte at a time, each byte `gap` seconds after the last."""

    def __init__(self, gap: float, size: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(size))
                self.end_headers()
                try:
                    for _ in range(size):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(gap)
                except OSError:
                    pass  # the fetcher gave up: what the test wants

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow/client.json"

    def __enter__(self) -> SlowDocumentServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- 1. The metadata document fetch: one total deadline; failures remembered ---------------------


async def test_a_document_trickled_byte_by_byte_is_abandoned_at_the_total_deadline() -> None:
    # Each byte arrives well within the per-read timeout (0.3 s < 1 s); the whole document would take
    # 6 s. A per-read timeout never fires; the total deadline does.
    with SlowDocumentServer(gap=0.3, size=20) as slow:
        fetcher = DocumentFetcher(allow_loopback_http=True, deadline_seconds=1.0)
        with pytest.raises(OAuthError) as refused:
            await fetcher(slow.url)
    assert refused.value.error == "invalid_client"
    assert "took longer than 1 s" in refused.value.description


async def test_a_failed_fetch_is_remembered_for_a_minute_and_the_memory_is_bounded(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    async def failing(url: str) -> FetchedDocument:
        fetched.append(url)
        return FetchedDocument(404, b"", "")

    built = build(platform, fetch=failing)
    url = "https://slow.example/oauth/client.json"
    for _ in range(5):
        with pytest.raises(OAuthError) as refused:
            await built.server.clients.get(url)
        assert "answered HTTP 404" in refused.value.description
    assert fetched == [url]  # one fetch for five sign-ins

    built.clock.now += 61
    with pytest.raises(OAuthError):
        await built.server.clients.get(url)
    assert fetched == [url, url]

    # Failures share the documents' bounded memory: many failing URLs do not grow it past its cap.
    monkeypatch.setattr(clients_module, "MAX_CACHED_DOCUMENTS", 8)
    for n in range(40):
        with pytest.raises(OAuthError):
            await built.server.clients.get(f"https://slow.example/oauth/{n}.json")
    assert len(built.server.clients._documents) <= 8


# --- 2. /authorize is limited per source address --------------------------------------------------


def test_authorize_past_the_per_address_limit_answers_429_and_writes_no_session(platform: LocalPlatform) -> None:
    built = build(platform, audit=_audit_log(platform))
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    with TestClient(oauth_app(built.server, RateLimits(authorize=2)), follow_redirects=False) as http:
        for _ in range(2):
            assert http.get("/authorize", params=_authorize_params(built, client_id)).status_code == 302
        sessions = len(_oauth_items(platform, "SESSION#"))
        limited = http.get("/authorize", params=_authorize_params(built, client_id))
        assert limited.status_code == 429, limited.text
        assert "too many authorize requests" in limited.text
        assert "set-cookie" not in limited.headers
        assert len(_oauth_items(platform, "SESSION#")) == sessions  # nothing written for the refusal

        built.clock.now += 60  # the next minute: it was the limit, not the request
        assert http.get("/authorize", params=_authorize_params(built, client_id)).status_code == 302


def test_a_sign_in_the_identity_provider_cannot_start_writes_no_session(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(platform)
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]

    class Unreachable:
        async def authorization_url(self, *args: Any) -> str:
            raise OAuthError("temporarily_unavailable", "the identity provider's discovery document is unreachable")

    monkeypatch.setattr(built.server, "upstream", Unreachable())
    sessions = len(_oauth_items(platform, "SESSION#"))
    with TestClient(oauth_app(built.server), follow_redirects=False) as http:
        refused = http.get("/authorize", params=_authorize_params(built, client_id))
    assert refused.status_code == 400 and "set-cookie" not in refused.headers
    assert len(_oauth_items(platform, "SESSION#")) == sessions


# --- 3. Forms: a field cap, and a duplicate check linear in the number of fields ------------------


def test_a_token_request_with_thousands_of_fields_is_refused_before_it_is_examined(platform: LocalPlatform) -> None:
    built = build(platform)
    with TestClient(oauth_app(built.server, RateLimits(token=100))) as http:
        refused = http.post(
            "/token",
            content="&" * 14_004,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_request"
        assert "more than 32 fields" in refused.json()["error_description"]
        many = "&".join(f"f{n}=" for n in range(200))
        refused = http.get("/authorize?" + many)
        assert refused.status_code == 400 and "more than 32 fields" in refused.text


def test_the_dev_sign_in_form_is_capped_too(http: httpx.Client) -> None:
    refused = http.post("/dev/sign-in", content="&".join(f"f{n}=" for n in range(1000)))
    assert refused.status_code == 400 and "too many fields" in refused.text


class _CountingName(str):
    """A field name that counts how often it is compared with another."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _CountingName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


async def test_the_duplicate_field_check_compares_each_field_a_bounded_number_of_times(
    platform: LocalPlatform,
) -> None:
    # names.count() in a loop compares every field with every other (n^2); one counting pass does not.
    # Called directly (below the HTTP cap) so the check itself is measured, in comparisons, not seconds.
    built = build(platform)
    fields = 500
    params = [(_CountingName(f"f{n}"), "") for n in range(fields)] + [(_CountingName("f0"), "")]
    _CountingName.comparisons = 0
    with pytest.raises(OAuthError) as refused:
        await built.server.token(params)
    assert refused.value.description == "parameter(s) sent more than once: f0"
    assert _CountingName.comparisons < 4 * fields


# --- 4. Refusals of no tenant are aggregated per minute, as on the MCP path -----------------------


def test_anonymous_and_rate_limited_refusals_make_one_audit_record_per_kind_and_minute(
    platform: LocalPlatform,
) -> None:
    built = build(platform, audit=_audit_log(platform))
    before = {item["sk"]["S"] for item in _oauth_audit_items(platform, "oauth:authorize")}
    with TestClient(oauth_app(built.server, RateLimits(authorize=6)), follow_redirects=False) as http:
        # Six unknown clients (each description names its own id), then two past the rate limit.
        for n in range(8):
            params = _authorize_params(built, f"dcr-unknown-{n}")
            assert http.get("/authorize", params=params).status_code in (400, 429)
        assert len(_oauth_audit_items(platform, "oauth:authorize")) == len(before)  # nothing written yet

        built.clock.now += 60  # the minute is over: the next refusal writes the last minute's records
        http.get("/authorize", params=_authorize_params(built, "dcr-unknown-next"))
    written = [item for item in _oauth_audit_items(platform, "oauth:authorize") if item["sk"]["S"] not in before]
    counts = sorted((int(item["count"]["N"]), item["reason"]["S"]) for item in written)
    assert counts == [
        (2, "rate limit of 6/minute reached"),
        (6, "unknown client_id 'dcr-unknown-0': register the client first (DCR at /register)"),
    ]


# --- 5. A code redeemed twice at once: the revocation cannot be lost ------------------------------


def _redeem_in_another_thread(server: AuthorizationServer, form: list[tuple[str, str]]) -> OAuthError | None:
    def run() -> OAuthError | None:
        try:
            asyncio.run(server.token(form))
        except OAuthError as exc:
            return exc
        return None

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


async def test_a_code_reused_while_its_first_redemption_is_still_writing_revokes_what_that_writes(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(platform)
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    code, verifier, _ = built.put_code(client_id, 600, tenant_id="ironworks-gym")
    form = _redeem_form(built, client_id, code, verifier)
    losers: list[OAuthError | None] = []
    real_put_grant = built.store.put_grant

    def loser_runs_first(record: Any) -> bool:
        # The winner has consumed the code and not yet written its grant: the second redemption
        # runs to its end right here, then the winner goes on.
        losers.append(_redeem_in_another_thread(built.server, form))
        return real_put_grant(record)

    monkeypatch.setattr(built.store, "put_grant", loser_runs_first)
    with pytest.raises(OAuthError) as winner:
        await built.server.token(form)
    assert winner.value.error == "invalid_grant"
    assert losers[0] is not None and "already used" in losers[0].description
    stored = built.store.codes.get(code)
    assert stored is not None
    grant = built.store.get_grant("ironworks-gym", stored.grant_id)
    assert grant is not None and grant.revoked and grant.revoked_reason == "authorization code reused"


async def test_a_code_reused_after_its_first_redemption_revokes_the_grant_it_made(platform: LocalPlatform) -> None:
    built = build(platform)
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    code, verifier, _ = built.put_code(client_id, 600, tenant_id="ironworks-gym")
    form = _redeem_form(built, client_id, code, verifier)
    issued = await built.server.token(form)
    with pytest.raises(OAuthError):
        await built.server.token(form)
    with pytest.raises(OAuthError) as refused:
        await built.server.token(
            [("grant_type", "refresh_token"), ("refresh_token", issued["refresh_token"]), ("client_id", client_id)]
        )
    assert "revoked" in refused.value.description


# --- 6. Every loopback host counts as one for the per-host registration cap -----------------------


def test_loopback_redirect_hosts_share_one_registration_counter(platform: LocalPlatform) -> None:
    built = build(platform, per_host=2, allow_loopback=True)
    register = built.server.clients.register
    register({"redirect_uris": ["http://a.localhost:9/cb"]})
    register({"redirect_uris": ["http://127.0.0.2:9/cb"]})
    for uri in ("http://[::1]:9/cb", "http://localhost:9/cb", "http://b.localhost/cb", "https://127.9.9.9/cb"):
        with pytest.raises(OAuthError) as refused:
            register({"redirect_uris": [uri]})
        assert "too many clients were registered for redirect host 'loopback'" in refused.value.description
    # Other hosts keep their own counters.
    register({"redirect_uris": [built.redirect_uri]})


# --- 7. Embedded IPv4: a public IPv4 behind an IPv6 form is still fetched -------------------------


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::5db8:d70e", "2002:5db8:d70e::1", "2606:4700:4700::1111", "93.184.215.14"],
)
def test_public_addresses_in_embedded_forms_pass_the_fence(address: str) -> None:
    assert clients_module._refused_address(address, allow_loopback=False) is False


# --- 8. Malformed client ids and deep JSON are OAuth errors, never 500 ----------------------------


@pytest.mark.parametrize(
    "client_id", ["https://example.com:99999/x", "https://example.com:abc/x", "https://[::1/x", "https:///x"]
)
def test_a_malformed_client_id_url_is_an_oauth_error(client_id: str, http: httpx.Client) -> None:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI}
    page = http.get("/authorize", params=params)
    assert page.status_code == 400, page.text
    assert "invalid_client" in page.text or "client_id URL" in page.text
    token = http.post("/token", data={"grant_type": "authorization_code", "client_id": client_id, "code": "x"})
    assert token.status_code == 400, token.text
    assert token.json()["error"] == "invalid_client"


def test_a_malformed_redirect_uri_port_is_refused_at_registration(http: httpx.Client) -> None:
    for uri in ("https://chatgpt.com:99999/connector/oauth/x", "http://127.0.0.1:abc/cb", "http://[::1/cb"):
        refused = http.post("/register", json={"redirect_uris": [uri]})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_redirect_uri"


def test_deeply_nested_json_is_refused_at_registration(http: httpx.Client) -> None:
    for body in ("[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, "[" * 100_000):
        refused = http.post("/register", content=body, headers={"content-type": "application/json"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_client_metadata"


async def test_a_deeply_nested_metadata_document_is_invalid_client(platform: LocalPlatform) -> None:
    async def nested(url: str) -> FetchedDocument:
        return FetchedDocument(200, b"[" * 2000 + b"]" * 2000, "")

    built = build(platform, fetch=nested)
    with pytest.raises(OAuthError) as refused:
        await built.server.clients.get("https://deep.example/oauth/client.json")
    assert refused.value.error == "invalid_client" and "not JSON" in refused.value.description


# --- 9. A refresh keeps its DCR client alive ------------------------------------------------------


async def test_a_dcr_client_whose_refresh_token_is_used_does_not_expire(platform: LocalPlatform) -> None:
    built = build(platform, unused_days=30)
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    code, verifier, _ = built.put_code(client_id, 600, tenant_id="ironworks-gym")
    issued = await built.server.token(_redeem_form(built, client_id, code, verifier))
    for _ in range(4):  # day 20, 40, 60, 80: past the client's 30 unused days since its sign-in
        built.clock.now += 20 * DAY
        issued = await built.server.token(
            [("grant_type", "refresh_token"), ("refresh_token", issued["refresh_token"]), ("client_id", client_id)]
        )
        assert issued["access_token"]


# --- 10. The redirect allow-list by path on hosts that publish their callback path ----------------


def test_chatgpt_redirect_uris_must_be_under_its_connector_callback_path() -> None:
    policy = RedirectPolicy()
    assert policy.refusal("https://chatgpt.com/connector/oauth/cb_123abc") is None
    for uri in ("https://chatgpt.com/", "https://chatgpt.com/c/123", "https://chatgpt.com/connector/oauthx/1"):
        reason = policy.refusal(uri)
        assert reason is not None and "/connector/oauth/" in reason
    # Hosts without a published path, and loopback, are as before.
    assert RedirectPolicy(allowed_hosts=frozenset({"app.example"})).refusal("https://app.example/any") is None
    assert policy.refusal("http://127.0.0.1:9/any/path") is None


# --- 11. DCR client ids are stored only hashed ----------------------------------------------------


def test_a_registered_client_id_appears_nowhere_in_the_table(platform: LocalPlatform) -> None:
    built = build(platform)
    client_id = built.server.clients.register({"redirect_uris": [built.redirect_uri]})["client_id"]
    assert built.store.clients.get(client_id) is not None
    stored = [str(item) for item in _oauth_items(platform, "CLIENT#")]
    assert stored and not any(client_id in item for item in stored)
