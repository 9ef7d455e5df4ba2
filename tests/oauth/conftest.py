"""Helpers for the OAuth tests: a browser stand-in, PKCE pairs, and the SDK's OAuth client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tenantry_local.oauth import AuthorizationServer
from tenantry_local.platform import LocalPlatform

REDIRECT_URI = "http://127.0.0.1:33418/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def oauth(platform: LocalPlatform) -> AuthorizationServer:
    assert platform.oauth is not None
    return platform.oauth


@pytest.fixture
def auto_approve(oauth: AuthorizationServer) -> Iterator[AuthorizationServer]:
    """Non-interactive approval for this test only (see AuthorizationServer.auto_approval)."""
    with oauth.auto_approval():
        yield oauth


@pytest.fixture
def http(platform: LocalPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, follow_redirects=False, timeout=10) as client:
        yield client


@dataclass
class Flow:
    """A hand-driven client: register, authorize (auto-approved), redeem."""

    http: httpx.Client
    platform: LocalPlatform
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
            "login_hint": "owner@ironworks",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def code(self, **overrides: Any) -> str:
        response = self.http.get("/authorize", params=self.authorize_params(**overrides))
        assert response.status_code == 302, response.text
        query = query_of(response.headers["location"])
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


@pytest.fixture
def flow(http: httpx.Client, platform: LocalPlatform, auto_approve: AuthorizationServer) -> Flow:
    started = Flow(http, platform)
    started.register()
    return started


def authorize_url(base: str, params: dict[str, Any]) -> str:
    return f"{base}/authorize?{urlencode(params)}"
