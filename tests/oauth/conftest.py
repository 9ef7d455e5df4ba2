"""Helpers for the OAuth tests: a browser that signs in through every page, PKCE pairs, a hand-driven client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tenantry.oauth.server import AuthorizationServer
from tenantry_local.platform import LocalPlatform
from tests.backoff import BackoffTransport
from tests.tls import CLIENT_TLS

REDIRECT_URI = "http://127.0.0.1:33418/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def hidden_fields(html: str) -> dict[str, str]:
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def tenant_options(html: str) -> list[str]:
    return [unescape(v) for v in re.findall(r'<input type="radio" name="tenant" value="([^"]+)"', html)]


@dataclass
class Browser:
    """A user's browser: follows the sign-in pages by hand, keeping cookies, as a person would click."""

    platform: LocalPlatform
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.platform.base_url,
            follow_redirects=False,
            timeout=15,
            transport=BackoffTransport(verify=CLIENT_TLS),
        )

    def close(self) -> None:
        self.http.close()

    def start(self, authorize_url: str) -> httpx.Response:
        return self.http.get(authorize_url)

    def sign_in(self, authorize_url: str, user: str) -> httpx.Response:
        """Through /authorize and the dev sign-in page; the answer is the consent page (or a redirect)."""
        response = self.start(authorize_url)
        if response.status_code != 302 or "/dev/sign-in" not in response.headers["location"]:
            return response
        page = self.http.get(response.headers["location"])
        assert page.status_code == 200, page.text
        back = self.http.post("/dev/sign-in", data=hidden_fields(page.text) | {"email": user})
        assert back.status_code == 302, back.text
        return self.http.get(back.headers["location"])

    def consent(self, page: httpx.Response, tenant: str | None = None, decision: str = "allow") -> httpx.Response:
        assert page.status_code == 200, page.text
        form = hidden_fields(page.text) | {"decision": decision}
        if tenant is not None:
            form["tenant"] = tenant
        elif tenant_options(page.text):
            form["tenant"] = tenant_options(page.text)[0]
        return self.http.post("/consent", data=form)

    def approve(self, authorize_url: str, user: str, tenant: str | None = None) -> str:
        """Sign in and allow; the redirect back to the client."""
        page = self.sign_in(authorize_url, user)
        response = self.consent(page, tenant)
        assert response.status_code == 302, response.text
        return response.headers["location"]


async def approve_in_a_browser(platform: LocalPlatform, authorize_url: str, user: str, tenant: str | None) -> str:
    """What an SDK's redirect handler hands to the user: sign in, pick the tenant, allow; the redirect back."""
    browser = Browser(platform)
    try:
        location = await asyncio.to_thread(browser.approve, authorize_url, user, tenant)
    finally:
        browser.close()
    assert location.startswith(REDIRECT_URI + "?"), location
    return location


@pytest.fixture
def oauth(platform: LocalPlatform) -> AuthorizationServer:
    assert platform.oauth is not None
    return platform.oauth


@pytest.fixture
def browser(platform: LocalPlatform) -> Iterator[Browser]:
    opened = Browser(platform)
    yield opened
    opened.close()


@pytest.fixture
def http(platform: LocalPlatform) -> Iterator[httpx.Client]:
    # Backs off on the emulated stage's 429s, as a client of a deployed stack must.
    transport = BackoffTransport(verify=CLIENT_TLS)
    with httpx.Client(base_url=platform.base_url, follow_redirects=False, timeout=15, transport=transport) as client:
        yield client


@dataclass
class Flow:
    """A hand-driven client: register, authorize (a browser signs in and allows), redeem."""

    http: httpx.Client
    platform: LocalPlatform
    browser: Browser
    client_id: str = ""
    verifier: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def register(self, **metadata: Any) -> str:
        body = {"redirect_uris": [REDIRECT_URI], "client_name": "flow test"} | metadata
        response = self.http.post("/register", json=body)
        assert response.status_code == 201, response.text
        self.client_id = response.json()["client_id"]
        return self.client_id

    def authorize_params(self, **overrides: Any) -> dict[str, Any]:
        self.verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": "st-" + secrets.token_hex(4),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "mcp:tools",
            "resource": self.platform.mcp_url,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize_url(self, **overrides: Any) -> str:
        return str(httpx.URL("/authorize", params=self.authorize_params(**overrides)))

    def code(self, user: str = "owner@ironworks.example", tenant: str | None = None, **overrides: Any) -> str:
        location = self.browser.approve(self.authorize_url(**overrides), user, tenant)
        query = query_of(location)
        assert "code" in query, query
        return query["code"]

    def redeem(self, code: str, **overrides: Any) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
            "resource": self.platform.mcp_url,
        }
        form.update(overrides)
        return self.http.post("/token", data={k: v for k, v in form.items() if v is not None})

    def refresh(self, token: str, **overrides: Any) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": self.client_id}
        form.update(overrides)
        return self.http.post("/token", data={k: v for k, v in form.items() if v is not None})


@pytest.fixture
def flow(http: httpx.Client, platform: LocalPlatform, browser: Browser) -> Flow:
    started = Flow(http, platform, browser)
    started.register()
    return started


class DocumentServer:
    """Serves client metadata documents on 127.0.0.1 (the only place the local server fetches from).

    Over http by default; given a server TLS context, over https (MCP SDKs send only https client_id URLs).
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.documents: dict[str, Any] = {}
        self.requests: list[str] = []
        documents, requests = self.documents, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                document = documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b"{}"
                self.send_response(200 if document is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "no-store")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"

    @classmethod
    @contextmanager
    def serving(cls, tls: ssl.SSLContext | None = None) -> Iterator[DocumentServer]:
        served = cls(tls)
        thread = threading.Thread(target=served.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield served
        finally:
            served.server.shutdown()
            served.server.server_close()

    def publish(self, path: str, **fields: Any) -> str:
        url = self.base + path
        self.documents[path] = {"client_id": url, "client_name": "CIMD test", "redirect_uris": [REDIRECT_URI]} | fields
        return url


def registered_clients(platform: LocalPlatform) -> int:
    """How many DCR clients the authorization server's table holds."""
    assert platform.oauth_settings is not None
    pages = platform.services.dynamodb.get_paginator("scan").paginate(
        TableName=platform.oauth_settings.oauth_table,
        FilterExpression="begins_with(pk, :c)",
        ExpressionAttributeValues={":c": {"S": "CLIENT#"}},
        Select="COUNT",
    )
    return sum(page["Count"] for page in pages)
