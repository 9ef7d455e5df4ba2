"""The sign-in pages' Content Security Policy and the sign-in cookie, as sent.

tests/browser/test_sign_in.py shows a real Chromium completing the sign-in under this policy;
these pin what the policy allows (the client's origin on the consent page only, no inline
style but the pages' own) and the cookie's __Host- prefix over https.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re

import pytest
from starlette.testclient import TestClient

from tenantry.oauth.app import SECURE_SESSION_COOKIE, SESSION_COOKIE, oauth_app
from tenantry.oauth.pages import form_action_source
from tenantry.oauth.server import AuthorizationServer
from tests.oauth.conftest import REDIRECT_URI, Browser, Flow, query_of


def _directives(policy: str) -> dict[str, str]:
    return {name: value for name, _, value in (part.strip().partition(" ") for part in policy.split(";"))}


def test_the_consent_page_lets_its_form_reach_only_this_server_and_the_clients_origin(
    flow: Flow, browser: Browser
) -> None:
    page = browser.sign_in(flow.authorize_url(), "owner@ironworks.example")
    policy = _directives(page.headers["content-security-policy"])
    assert policy["form-action"] == "'self' http://127.0.0.1:33418"  # REDIRECT_URI's origin, no path
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    # Only the page's own stylesheet applies (by hash), never injected inline style.
    style = re.search(r"<style>(.*?)</style>", page.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert "unsafe" not in page.headers["content-security-policy"]


def test_the_error_page_allows_no_form_at_all(browser: Browser) -> None:
    page = browser.http.get("/authorize", params={"client_id": "no-such-client"})
    assert page.status_code == 400 and page.headers["x-frame-options"] == "DENY"
    assert _directives(page.headers["content-security-policy"])["form-action"] == "'none'"


@pytest.mark.parametrize(
    ("redirect_uri", "source"),
    [
        ("https://chatgpt.com/connector_platform_oauth_redirect", "https://chatgpt.com"),
        ("http://127.0.0.1:33418/callback?x=1", "http://127.0.0.1:33418"),
        ("HTTP://Dev.LocalHost:9/cb", "http://dev.localhost:9"),
        # CSP cannot name an IPv6 literal (Chromium ignores such a source): the scheme instead.
        ("http://[::1]:8080/callback", "http:"),
        ("http://127.0.0.1:99999/callback", "http:"),
    ],
)
def test_the_form_action_source_is_the_redirect_uris_origin(redirect_uri: str, source: str) -> None:
    assert form_action_source(redirect_uri) == source


def test_over_http_on_loopback_the_cookie_is_unprefixed_and_not_secure(flow: Flow, browser: Browser) -> None:
    started = browser.start(flow.authorize_url())
    cookie = started.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=") and "secure" not in cookie.lower()


def test_over_https_the_cookie_is_host_prefixed_and_no_other_name_is_read(
    flow: Flow, oauth: AuthorizationServer
) -> None:
    deployed = copy.copy(oauth)
    deployed.url = "https://auth.example"  # as deployed: the issuer is an https URL
    with TestClient(oauth_app(deployed), base_url="https://auth.example", follow_redirects=False) as http:
        started = http.get("/authorize", params=flow.authorize_params())
        assert started.status_code == 302, started.text
        cookie = started.headers["set-cookie"]
        assert cookie.startswith(SECURE_SESSION_COOKIE + "=")
        # What a browser requires of a __Host- cookie: Secure, Path=/ and no Domain.
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(part.startswith("domain") for part in attributes)
        session_id = cookie.split(";")[0].split("=", 1)[1]
        state = query_of(started.headers["location"])["state"]
        http.cookies.clear()

        # A cookie of the unprefixed name (which a sibling subdomain could set) is not the session.
        planted = http.get(
            "/callback", params={"code": "x", "state": state}, headers={"cookie": f"{SESSION_COOKIE}={session_id}"}
        )
        assert planted.status_code == 400 and "location" not in planted.headers
        assert "expired or was started in another browser" in planted.text

        # The prefixed one is: the sign-in goes on (to the provider's answer, refused here).
        real = http.get(
            "/callback",
            params={"code": "x", "state": state},
            headers={"cookie": f"{SECURE_SESSION_COOKIE}={session_id}"},
        )
        assert real.status_code == 302 and real.headers["location"].startswith(REDIRECT_URI + "?")
        assert query_of(real.headers["location"])["error"] == "access_denied"
