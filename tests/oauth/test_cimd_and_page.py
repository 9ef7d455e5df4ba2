"""Client ID Metadata Documents served on loopback, and the sign-in page driven like a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tenantry.oauth.clients import cache_seconds
from tenantry.oauth.server import AuthorizationServer
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import Browser, DocumentServer, Flow, hidden_fields, query_of, tenant_options


@pytest.fixture(scope="module")
def documents() -> Iterator[DocumentServer]:
    with DocumentServer.serving() as served:
        yield served


def test_a_metadata_document_client_signs_in_without_registering(
    flow: Flow, documents: DocumentServer, oauth: AuthorizationServer
) -> None:
    flow.client_id = documents.publish("/clients/good.json")
    code = flow.code("owner@summit.example")
    tokens = flow.redeem(code).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == flow.client_id
    assert claims["tenant_id"] == "summit-climbing"
    assert oauth.store.clients.get(flow.client_id) is None  # nothing registered


def test_a_metadata_document_with_bad_response_types_is_refused(flow: Flow, documents: DocumentServer) -> None:
    flow.client_id = documents.publish("/clients/token-flow.json", response_types=["token"])
    response = flow.http.get("/authorize", params=flow.authorize_params())
    assert response.status_code == 400 and "response_types" in response.text


def test_document_cache_follows_cache_control_within_bounds() -> None:
    assert cache_seconds("max-age=600") == 600
    assert cache_seconds("public, max-age=5") == 60  # at least a minute
    assert cache_seconds("max-age=9999999") == 86400  # at most a day
    assert cache_seconds("no-store") == 60
    assert cache_seconds("") == 300


@pytest.mark.parametrize(
    ("path", "fields", "reason"),
    [
        ("/clients/other-id.json", {"client_id": "http://127.0.0.1:1/elsewhere.json"}, "must equal the URL"),
        ("/clients/secret.json", {"client_secret": "s3cret"}, "client secret"),
        ("/clients/confidential.json", {"token_endpoint_auth_method": "client_secret_basic"}, "public clients"),
        ("/clients/bad-redirect.json", {"redirect_uris": ["https://evil.example.com/cb"]}, "not allowed"),
    ],
)
def test_a_bad_metadata_document_is_invalid_client_on_a_page(
    flow: Flow, documents: DocumentServer, path: str, fields: dict[str, Any], reason: str
) -> None:
    flow.client_id = documents.publish(path, **fields)
    response = flow.http.get("/authorize", params=flow.authorize_params())
    assert response.status_code == 400 and "location" not in response.headers
    assert "<code>invalid_client</code>" in response.text and reason in response.text


def test_a_missing_document_and_an_external_url_are_invalid_client(flow: Flow, documents: DocumentServer) -> None:
    for client_id in (documents.base + "/clients/absent.json", "https://clients.example.com/chatgpt.json"):
        flow.client_id = client_id
        response = flow.http.get("/authorize", params=flow.authorize_params())
        assert response.status_code == 400 and "<code>invalid_client</code>" in response.text


def test_a_redirect_uri_the_document_does_not_list_gets_no_redirect(flow: Flow, documents: DocumentServer) -> None:
    flow.client_id = documents.publish("/clients/listed.json")
    response = flow.http.get("/authorize", params=flow.authorize_params(redirect_uri="http://127.0.0.1:9/other"))
    assert response.status_code == 400 and "location" not in response.headers


# --- The pages, as a person would use them ---------------------------------------------------


def test_the_consent_page_names_the_client_and_its_redirect_host(flow: Flow, browser: Browser) -> None:
    page = browser.sign_in(flow.authorize_url(), "owner@ironworks.example")
    assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
    assert "flow test" in page.text and "127.0.0.1" in page.text and "Ironworks Gym" in page.text
    assert "csrf" in hidden_fields(page.text)


def test_a_user_of_several_tenants_picks_one_and_the_token_carries_it(flow: Flow, browser: Browser) -> None:
    page = browser.sign_in(flow.authorize_url(), "accountant@books.example")
    assert tenant_options(page.text) == ["ironworks-gym", "lotus-yoga", "summit-climbing"]
    location = browser.consent(page, tenant="lotus-yoga").headers["location"]
    query = query_of(location)
    assert query["iss"] == flow.platform.base_url  # RFC 9207
    tokens = flow.redeem(query["code"]).json()
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["tenant_id"] == "lotus-yoga"


def test_a_user_with_no_membership_is_access_denied_and_sees_no_consent(flow: Flow, browser: Browser) -> None:
    response = browser.sign_in(flow.authorize_url(), "visitor@nowhere.example")
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied" and "code" not in query


@pytest.mark.parametrize(("tenant", "decision"), [("lotus-yoga", "allow"), ("ironworks-gym", "deny")])
def test_a_forged_tenant_choice_or_a_denial_is_access_denied(
    flow: Flow, browser: Browser, tenant: str, decision: str
) -> None:
    page = browser.sign_in(flow.authorize_url(), "owner@ironworks.example")
    response = browser.consent(page, tenant=tenant, decision=decision)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied" and "code" not in query


def test_consent_without_the_csrf_token_or_from_another_browser_is_refused(
    flow: Flow, browser: Browser, platform: LocalPlatform
) -> None:
    page = browser.sign_in(flow.authorize_url(), "owner@ironworks.example")
    form = hidden_fields(page.text) | {"decision": "allow"}
    # A cross-site form post: the right session cookie, but no CSRF token.
    refused = browser.http.post("/consent", data={k: v for k, v in form.items() if k != "csrf"})
    assert refused.status_code == 400 and "location" not in refused.headers
    # Another browser (no session cookie) replaying the whole form.
    with httpx.Client(base_url=platform.base_url, follow_redirects=False) as other:
        assert other.post("/consent", data=form).status_code == 400


def test_a_callback_with_the_wrong_state_is_refused_on_a_page(flow: Flow, browser: Browser) -> None:
    started = browser.start(flow.authorize_url())
    assert started.status_code == 302 and browser.http.cookies.get("tenantry_signin")
    response = browser.http.get("/callback", params={"code": "anything", "state": "forged"})
    assert response.status_code == 400 and "location" not in response.headers
