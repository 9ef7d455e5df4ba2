"""Every bad OAuth input gets its RFC error code and creates nothing (issue 7, "Bad input")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tenantry.oauth.clients import RedirectPolicy
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import REDIRECT_URI, Flow, query_of, registered_clients

# --- Registration (RFC 7591 3.2.2) ----------------------------------------------------------

BAD_REDIRECTS = {
    "missing": None,
    "empty-list": [],
    "not-a-list": "https://chatgpt.com/connector/oauth/x",
    "relative": ["/callback"],
    "http-off-loopback": ["http://chatgpt.com/connector/oauth/x"],
    "host-not-allowed": ["https://evil.example.com/connector/oauth/x"],
    "lookalike-host": ["https://chatgpt.com.evil.example.com/cb"],
    "fragment": ["https://chatgpt.com/connector/oauth/x#frag"],
    "credentials": ["https://user:pw@chatgpt.com/connector/oauth/x"],
    "custom-scheme": ["javascript:alert(1)"],
    "one-bad-of-two": [REDIRECT_URI, "https://evil.example.com/cb"],
}


@pytest.mark.parametrize("kind", sorted(BAD_REDIRECTS))
def test_registration_with_a_bad_redirect_uri_is_invalid_redirect_uri(
    http: httpx.Client, platform: LocalPlatform, kind: str
) -> None:
    before = registered_clients(platform)
    body: dict[str, Any] = {"client_name": "bad"}
    if BAD_REDIRECTS[kind] is not None:
        body["redirect_uris"] = BAD_REDIRECTS[kind]
    response = http.post("/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert response.json()["error_description"]
    assert registered_clients(platform) == before


@pytest.mark.parametrize(
    "metadata",
    [
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["refresh_token"]},
        {"response_types": ["token"]},
        {"scope": "admin mcp:tools"},
        {"client_name": 7},
    ],
)
def test_registration_with_bad_metadata_is_invalid_client_metadata(
    http: httpx.Client, platform: LocalPlatform, metadata: dict[str, Any]
) -> None:
    before = registered_clients(platform)
    response = http.post("/register", json={"redirect_uris": [REDIRECT_URI], **metadata})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert registered_clients(platform) == before


def test_registration_body_must_be_json(http: httpx.Client, platform: LocalPlatform) -> None:
    before = registered_clients(platform)
    response = http.post("/register", content=b"redirect_uris=x", headers={"content-type": "text/plain"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert registered_clients(platform) == before


def test_chatgpt_callback_registers_as_a_public_client(http: httpx.Client) -> None:
    callback = "https://chatgpt.com/connector/oauth/cb_123abc"
    response = http.post(
        "/register",
        json={"redirect_uris": [callback], "token_endpoint_auth_method": "client_secret_basic"},
    )
    assert response.status_code == 201
    registered = response.json()
    # RFC 7591 3.2.1: the server may replace a requested value; every client here is public (PKCE).
    assert registered["token_endpoint_auth_method"] == "none" and "client_secret" not in registered
    assert registered["redirect_uris"] == [callback]
    assert response.headers["cache-control"] == "no-store"


def test_the_redirect_host_allow_list_is_configurable() -> None:
    policy = RedirectPolicy(allowed_hosts=frozenset({"connector.example.org"}), allow_loopback=False)
    assert policy.refusal("https://connector.example.org/cb") is None
    assert policy.refusal("https://chatgpt.com/connector/oauth/x") is not None
    assert policy.refusal("http://127.0.0.1:9/cb") is not None
    assert RedirectPolicy().refusal("http://[::1]:9/cb") is None


# --- Authorization endpoint (RFC 6749 4.1.2.1, RFC 7636, RFC 8707) ------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"resource": "https://other.example.com/mcp"}, "invalid_target"),
        ({"scope": "mcp:tools admin"}, "invalid_scope"),
        ({"resource": None}, "invalid_target"),
    ],
)
def test_authorize_errors_go_back_to_a_valid_client_with_state_and_no_code(
    flow: Flow, overrides: dict[str, Any], error: str
) -> None:
    params = flow.authorize_params(**overrides)
    response = flow.http.get("/authorize", params=params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["error_description"]
    assert query["state"] == params["state"]
    assert "code" not in query


def test_authorize_for_another_resource_twice_in_one_request_is_invalid_target(flow: Flow) -> None:
    params = [*flow.authorize_params().items(), ("resource", "https://other.example.com/mcp")]
    response = flow.http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_target"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "dcr-unknown"}, "invalid_client"),
        ({"client_id": None}, "invalid_request"),
        ({"redirect_uri": "http://127.0.0.1:33418/other"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example.com/steal"}, "invalid_request"),
    ],
)
def test_authorize_never_redirects_to_an_unvalidated_client_or_uri(
    flow: Flow, overrides: dict[str, Any], error: str
) -> None:
    response = flow.http.get("/authorize", params=flow.authorize_params(**overrides))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert f"<code>{error}</code>" in response.text


# --- Token endpoint (RFC 6749 5.2, RFC 7636 4.6, RFC 8707 2) ------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"redirect_uri": "http://127.0.0.1:33418/other"}, {"resource": "https://other.example.com/mcp"}],
)
def test_a_wrong_binding_is_refused_without_burning_the_code(flow: Flow, overrides: dict[str, str]) -> None:
    code = flow.code()
    assert flow.redeem(code, **overrides).status_code == 400
    assert flow.redeem(code).status_code == 200


def test_wrong_code_verifier_is_invalid_grant_and_issues_nothing(flow: Flow) -> None:
    code = flow.code()
    response = flow.redeem(code, code_verifier="x" * 64)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()
    # The bad attempt burnt nothing: the real client's retry with the right verifier works.
    # (A stolen code cannot be brute-forced either: the verifier has 256+ bits and the code lives 60 s.)
    assert flow.redeem(code).status_code == 200


def test_missing_code_verifier_is_invalid_request(flow: Flow) -> None:
    response = flow.redeem(flow.code(), code_verifier=None)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_reused_code_is_invalid_grant_and_revokes_what_it_issued(flow: Flow) -> None:
    code = flow.code()
    first = flow.redeem(code)
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]

    again = flow.redeem(code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "already used" in again.json()["error_description"]
    # OAuth 2.1: tokens issued from a replayed code are revoked (refresh tokens are tracked here).
    revoked = flow.http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": flow.client_id}
    )
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_token_for_another_resource_is_invalid_target_and_leaves_the_code_unused(flow: Flow) -> None:
    code = flow.code()
    response = flow.redeem(code, resource="https://other.example.com/mcp")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert flow.redeem(code).status_code == 200


@pytest.mark.parametrize("client_id", ["dcr-unknown", "", "https://evil.example.com/client.json"])
def test_unknown_client_at_the_token_endpoint_is_invalid_client(flow: Flow, client_id: str) -> None:
    response = flow.redeem(flow.code(), client_id=client_id)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_code_redeemed_by_another_client_is_invalid_grant(flow: Flow, http: httpx.Client, platform: Any) -> None:
    code = flow.code()
    other = Flow(http, platform, flow.browser)
    other.register()
    response = flow.redeem(code, client_id=other.client_id)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    # ...and the other client's attempt did not burn the code for its real owner.
    assert flow.redeem(code).status_code == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
    ],
)
def test_unsupported_or_missing_grant_type(flow: Flow, form: dict[str, str], error: str) -> None:
    response = flow.http.post("/token", data={"client_id": flow.client_id, **form})
    assert response.status_code == 400 and response.json()["error"] == error


def test_token_request_must_be_form_encoded(flow: Flow) -> None:
    response = flow.http.post("/token", json={"grant_type": "authorization_code", "code": flow.code()})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_sign_in(flow: Flow, platform: LocalPlatform) -> None:
    first = flow.redeem(flow.code()).json()

    def refresh(token: str, **extra: str) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": flow.client_id} | extra
        return flow.http.post("/token", data=data)

    rotated = refresh(first["refresh_token"], resource=platform.mcp_url)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    wrong_target = refresh(second["refresh_token"], resource="https://other.example.com/mcp")
    assert wrong_target.json()["error"] == "invalid_target"

    replay = refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay revoked the whole grant, including the newest refresh token.
    assert refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
