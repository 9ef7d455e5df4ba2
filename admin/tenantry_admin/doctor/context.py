"""What every step of the doctor shares: the options, the network, and what earlier steps found.

A DoctorContext is made once per run by `diagnose`. Each stage module reads what
earlier stages left on it (the resource document, the authorization server's
metadata, the accepted clients...) and records its checks with `add`. The small
helpers here are the wire details more than one stage needs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from tenantry_admin.doctor.net import FencedHttp, Loopback, Reply
from tenantry_admin.doctor.report import STEPS, Check, Status

__all__ = [
    "ACCEPT",
    "FIX_HOST_CHECK",
    "PROTOCOL_VERSION",
    "Browser",
    "DoctorContext",
    "DoctorOptions",
    "authorize_params",
    "challenge_params",
    "excerpt",
    "init_params",
    "is_loopback",
    "pkce",
    "secure",
]

# Opens (or shows) the authorize URL; the person signs in and their browser lands on the doctor's loopback.
Browser = Callable[[str], None]

ACCEPT = "application/json, text/event-stream"
PROTOCOL_VERSION = "2025-06-18"
FIX_HOST_CHECK = (
    "the MCP SDK's DNS-rebinding protection is on and checks the Host header; behind API Gateway the Host is the "
    "API's domain. Build the app with TransportSecuritySettings(enable_dns_rebinding_protection=False) "
    "(docs/upstream-notes.md)"
)


class DoctorOptions(BaseModel):
    url: str
    token: str | None = None
    token_source: str = "--token"
    sign_in: bool = False
    client_metadata_url: str | None = None
    tenant_claim: str = "tenant_id"
    timeout: float = Field(default=10.0, gt=0, le=120)
    sign_in_timeout: float = Field(default=300.0, gt=0, le=3600)

    @field_validator("url", "client_metadata_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value[:80]}' is not an http(s) URL (e.g. https://mcp.example.com/mcp)")
        if parts.query or parts.fragment:
            raise ValueError(f"'{value[:80]}' carries a query or fragment; give the MCP URL alone")
        return value


@dataclass
class DoctorContext:
    """One run's shared state; stages add to `checks` and fill in what later stages need."""

    options: DoctorOptions
    http: FencedHttp
    loopback: Loopback
    browser: Browser
    checks: list[Check] = field(default_factory=list)
    prm: dict[str, Any] | None = None  # the protected resource document (step 2)
    scopes: list[str] = field(default_factory=list)
    as_url: str | None = None  # the authorization server the resource names
    meta: dict[str, Any] | None = None  # its metadata (step 3)
    jwks: dict[str, Any] | None = None
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (client_id, loopback redirect URI)
    cleanup: tuple[str, str] | None = None  # (registration_client_uri, registration_access_token)
    first_call_ms: float | None = None
    protocol: str | None = None  # the protocol version initialize agreed
    metadata_pointer: str | None = None  # the 401's resource_metadata
    registered_client: str | None = None  # a DCR client to clean up

    @property
    def url(self) -> str:
        return self.options.url

    def add(self, step: int, title: str, status: Status, detail: str = "", **extra: Any) -> Check:
        check = Check(step=step, title=title, status=status, detail=detail, **extra)
        self.checks.append(check)
        return check

    def skip_steps(self, steps: range, reason: str) -> None:
        for step in steps:
            self.add(step, STEPS[step], "SKIP", reason)

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.http.request("GET", url, headers={"accept": "application/json"}, **kwargs)


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def secure(url: object) -> bool:
    return isinstance(url, str) and (url.startswith("https://") or (url.startswith("http://") and is_loopback(url)))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def challenge_params(header: str) -> dict[str, str]:
    return {key.lower(): value for key, value in re.findall(r'([A-Za-z_]+)="([^"]*)"', header)}


def excerpt(value: Any, limit: int = 120) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def init_params() -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "tenantry-doctor", "version": "1"},
    }


def authorize_params(
    ctx: DoctorContext, client_id: str, redirect_uri: str, challenge: str, state: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": ctx.url,
    }
    if ctx.scopes:
        params["scope"] = " ".join(ctx.scopes)
    return params
