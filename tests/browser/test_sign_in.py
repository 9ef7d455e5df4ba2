"""The whole OAuth sign-in in a real browser: headless Chromium (Debian's), CSP enforced, driven by Playwright.

Every other OAuth test drives the pages with an HTTP client, which ignores Content Security
Policy. Chromium does not: it checks `form-action` on the redirect that follows a form post, so a
consent page allowing only 'self' strands the user on it instead of returning them to the
client. Here the client's redirect URI is on another origin than the server (a loopback HTTP
server on its own port, as chatgpt.com is for a deployed server), the browser signs in on the dev
page, picks and allows (or denies) on the consent page, and must land on the client; the code it
brings is then redeemed at /token. No CSP violation may be reported along the way.

The same sign-in also runs against the authorization server with an https issuer, as deployed (the
same code and tables, served over TLS on another port): there the sign-in cookie is
`__Host-tenantry_signin` and Chromium must keep it, and the redirect goes from https to the client's
loopback http, as `tenantry doctor --sign-in` does against a deployed stack.

Needs `chromium` (./dev test installs Debian's as root). Skipped with the reason otherwise, and
failed instead when CI is set (tests/needs.py: CI must not pass by skipping). Playwright drives the installed
Chromium (`executable_path`); it never downloads a browser of its own.
"""

from __future__ import annotations

import copy
import secrets
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from starlette.types import Receive, Scope, Send

from tenantry.oauth.app import SECURE_SESSION_COOKIE, SESSION_COOKIE, oauth_app
from tenantry_local.platform import LocalPlatform
from tenantry_local.signin import SIGN_IN_PATH, DevIdentityProvider
from tests.needs import require
from tests.oauth.conftest import pkce_pair, query_of
from tests.tls import CLIENT_TLS, LocalTls

# Flags that work in this container; Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LANDING_MS = 15_000  # generous: two CPU cores shared by many processes


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return require("chromium (./dev test installs it as root: apt-get install chromium)", found)


@dataclass
class ClientSite:
    """The MCP client's redirect URI: a loopback HTTP server on its own port, recording each request."""

    server: ThreadingHTTPServer
    requests: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    @property
    def redirect_uri(self) -> str:
        return self.origin + "/oauth/callback"


class _Ipv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def _serving_client(host: str = "127.0.0.1") -> Iterator[ClientSite]:
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            requests.append(self.path)
            body = b"<!doctype html><title>client</title><p>back at the client</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = (_Ipv6Server if ":" in host else ThreadingHTTPServer)((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ClientSite(server, requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def client_site() -> Iterator[ClientSite]:
    with _serving_client() as site:
        yield site


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = _chromium()
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@dataclass(frozen=True)
class Issuer:
    """An authorization server to sign in at: its URL, the resource to ask for, how to trust its TLS."""

    url: str
    resource: str
    verify: ssl.SSLContext = CLIENT_TLS


@dataclass
class SignIn:
    """One client, one sign-in attempt in a fresh browser profile, and what the browser reported."""

    issuer: Issuer
    site: ClientSite
    context: BrowserContext
    page: Page
    client_id: str
    verifier: str = ""
    state: str = ""
    violations: list[str] = field(default_factory=list)

    def start(self, user: str) -> None:
        """From the client's authorization URL through the dev sign-in page, as a person clicks."""
        self.verifier, challenge = pkce_pair()
        self.state = "st-" + secrets.token_hex(6)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.site.redirect_uri,
            "state": self.state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "mcp:tools",
            "resource": self.issuer.resource,
        }
        self.page.goto(f"{self.issuer.url}/authorize?{urlencode(query)}")
        assert "/dev/sign-in" in self.page.url, self.page.url
        self.page.click(f'button[value="{user}"]')

    def on_consent_page(self) -> None:
        self.page.wait_for_selector('button[value="allow"]', timeout=LANDING_MS)
        assert self.page.url.startswith(self.issuer.url + "/callback"), self.page.url

    def landed(self) -> dict[str, str]:
        """The browser's arrival at the client's redirect URI: its query, as the client received it."""
        try:
            self.page.wait_for_url(self.site.redirect_uri + "?**", timeout=LANDING_MS)
        except PlaywrightTimeout:
            pytest.fail(
                f"the browser never reached the client's redirect URI; it stayed on {self.page.url}; "
                f"CSP violations: {self.violations or 'none reported'}"
            )
        # The client itself got the request (not only the address bar), once, with this sign-in's state.
        arrived = [
            path
            for path in self.site.requests
            if path.startswith("/oauth/callback?") and query_of(path).get("state") == self.state
        ]
        assert len(arrived) == 1, self.site.requests
        query = query_of(arrived[0])
        assert query == query_of(self.page.url)
        assert self.violations == [], self.violations
        return query

    def redeem(self, code: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.site.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
            "resource": self.issuer.resource,
        }
        return httpx.post(self.issuer.url + "/token", data=form, timeout=15, verify=self.issuer.verify)


def _register(platform: LocalPlatform, site: ClientSite) -> str:
    registered = httpx.post(
        platform.base_url + "/register",
        json={"client_name": "Browser test client", "redirect_uris": [site.redirect_uri]},
        timeout=15,
    )
    assert registered.status_code == 201, registered.text
    return str(registered.json()["client_id"])


@pytest.fixture(scope="module")
def client_id(platform: LocalPlatform, client_site: ClientSite) -> str:
    return _register(platform, client_site)


def _attempt(issuer: Issuer, site: ClientSite, chromium: Browser, client_id: str) -> SignIn:
    assert site.origin != issuer.url  # another origin: 'self' alone does not cover it
    # A fresh profile: no cookie from an earlier sign-in. The https issuer's certificate comes from
    # the test session's own CA, which this profile does not know.
    context = chromium.new_context(ignore_https_errors=issuer.url.startswith("https://"))
    attempt = SignIn(issuer, site, context, context.new_page(), client_id)

    # Both ways the browser reports a CSP violation: the DOM event (through a binding, which
    # survives navigations and is not subject to the page's CSP) and the console message.
    def report(source: Any, directive: str, blocked: str) -> None:
        attempt.violations.append(f"securitypolicyviolation: {directive} blocked {blocked}")

    context.expose_binding("reportCspViolation", report)
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => window.reportCspViolation(e.effectiveDirective, e.blockedURI));"
    )
    attempt.page.on(
        "console",
        lambda message: (
            attempt.violations.append(f"console: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )
    return attempt


@pytest.fixture
def sign_in(platform: LocalPlatform, client_site: ClientSite, chromium: Browser, client_id: str) -> Iterator[SignIn]:
    attempt = _attempt(Issuer(platform.base_url, platform.mcp_url), client_site, chromium, client_id)
    yield attempt
    attempt.context.close()


@pytest.fixture(scope="module")
def https_issuer(platform: LocalPlatform, local_tls: LocalTls) -> Iterator[Issuer]:
    """The authorization server as deployed, with an https issuer: the same code, tables and keys.

    Served over TLS on its own port with a dev sign-in page of its own (the identity provider's
    redirect URI is the issuer's /callback), routed as the emulator routes them.
    """
    assert platform.oauth is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    deployed = copy.copy(platform.oauth)
    deployed.url = url
    deployed.upstream = provider = DevIdentityProvider(url)
    sign_in_page, authorization_server = provider.app(), oauth_app(deployed)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        route = sign_in_page if scope["type"] == "http" and scope["path"] == SIGN_IN_PATH else authorization_server
        await route(scope, receive, send)

    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(local_tls.cert_file),
        ssl_keyfile=str(local_tls.key_file),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the https authorization server failed to start"
        threading.Event().wait(0.02)
    yield Issuer(url, platform.mcp_url, ssl.create_default_context(cafile=str(local_tls.ca_file)))
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _tenant_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return str(claims["tenant_id"])


def test_a_one_tenant_user_signs_in_and_lands_on_the_client_with_a_code_that_redeems(sign_in: SignIn) -> None:
    sign_in.start("owner@ironworks.example")
    sign_in.on_consent_page()
    assert sign_in.page.locator('input[name="tenant"][type="radio"]').count() == 0
    sign_in.page.click('button[value="allow"]')

    query = sign_in.landed()
    assert query["iss"] == sign_in.issuer.url and query["state"] == sign_in.state
    assert _tenant_of(sign_in.redeem(query["code"])) == "ironworks-gym"


def test_a_user_of_several_tenants_picks_one_and_the_token_is_for_that_tenant(sign_in: SignIn) -> None:
    sign_in.start("accountant@books.example")
    sign_in.on_consent_page()
    sign_in.page.check('input[name="tenant"][value="summit-climbing"]')  # not the preselected first one
    sign_in.page.click('button[value="allow"]')

    query = sign_in.landed()
    assert query["iss"] == sign_in.issuer.url and query["state"] == sign_in.state
    assert _tenant_of(sign_in.redeem(query["code"])) == "summit-climbing"


def test_a_user_who_denies_lands_on_the_client_with_access_denied(sign_in: SignIn) -> None:
    sign_in.start("owner@ironworks.example")
    sign_in.on_consent_page()
    sign_in.page.click('button[value="deny"]')

    query = sign_in.landed()
    assert query["error"] == "access_denied" and "code" not in query
    assert query["iss"] == sign_in.issuer.url and query["state"] == sign_in.state


def test_a_user_of_no_tenant_lands_on_the_client_with_access_denied(sign_in: SignIn) -> None:
    sign_in.start("visitor@nowhere.example")  # straight from the dev sign-in form to the client

    query = sign_in.landed()
    assert query["error"] == "access_denied" and "code" not in query
    assert query["iss"] == sign_in.issuer.url and query["state"] == sign_in.state


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_redirect_uri_on_ipv6_loopback_is_reached_too(platform: LocalPlatform, chromium: Browser) -> None:
    # CSP cannot name http://[::1]:port (Chromium ignores such a source), so the consent page
    # allows the scheme instead; without that the form's redirect here would be blocked.
    require("an IPv6 loopback address (::1) on this machine", _ipv6_loopback())
    with _serving_client("::1") as site:
        sign_in = _attempt(Issuer(platform.base_url, platform.mcp_url), site, chromium, _register(platform, site))
        try:
            sign_in.start("owner@lotus.example")
            sign_in.on_consent_page()
            sign_in.page.click('button[value="allow"]')
            query = sign_in.landed()
            assert _tenant_of(sign_in.redeem(query["code"])) == "lotus-yoga"
        finally:
            sign_in.context.close()


def test_over_https_chromium_keeps_the_host_prefixed_cookie_and_the_sign_in_completes(
    https_issuer: Issuer, client_site: ClientSite, chromium: Browser, client_id: str
) -> None:
    sign_in = _attempt(https_issuer, client_site, chromium, client_id)
    try:
        sign_in.start("accountant@books.example")
        sign_in.on_consent_page()
        cookies = {cookie["name"]: cookie for cookie in sign_in.context.cookies()}
        assert SESSION_COOKIE not in cookies, cookies
        kept = cookies[SECURE_SESSION_COOKIE]  # accepted: Secure, Path=/, no Domain (host-only)
        assert kept["secure"] and kept["httpOnly"] and kept["path"] == "/" and kept["domain"] == "127.0.0.1"
        sign_in.page.check('input[name="tenant"][value="lotus-yoga"]')
        sign_in.page.click('button[value="allow"]')

        query = sign_in.landed()  # from the https consent page to the client's loopback http
        assert query["iss"] == https_issuer.url and query["state"] == sign_in.state
        response = sign_in.redeem(query["code"])
        assert _tenant_of(response) == "lotus-yoga"
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["iss"] == https_issuer.url
    finally:
        sign_in.context.close()
