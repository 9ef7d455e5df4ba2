"""Which redirect URIs a client may register (DCR) or declare (metadata document)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["DEFAULT_REDIRECT_HOSTS", "RedirectPolicy", "is_loopback_host", "requested_scope"]

# ChatGPT's connector callback is https://chatgpt.com/connector/oauth/{callback_id}.
DEFAULT_REDIRECT_HOSTS = frozenset({"chatgpt.com"})


def requested_scope(value: str | None) -> str | None:
    """The scope a client asked for, None when it asked for none.

    API Gateway's 401 challenge says `scope=""`; MCP SDK 2.3 reads that as a scope
    literally named `""` and sends it at registration and sign-in. Treated as "no
    scope" here so local sign-in works. Cognito does not do this (docs/oauth.md).
    """
    if value is None or value.strip() in ("", '""', "''"):
        return None
    return value


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RedirectPolicy:
    """https redirect URIs on allow-listed hosts; plus http(s) on loopback for local tools (RFC 8252 7.3)."""

    allowed_hosts: frozenset[str] = field(default_factory=lambda: DEFAULT_REDIRECT_HOSTS)
    allow_loopback: bool = True

    def refusal(self, uri: object) -> str | None:
        """Why `uri` may not be a redirect URI, or None when it may."""
        if not isinstance(uri, str) or not uri:
            return "each redirect URI must be a non-empty string"
        try:
            parts = urlsplit(uri)
            host = parts.hostname
        except ValueError:
            return f"'{uri}' is not a valid URI"
        if not parts.scheme or not host:
            return f"'{uri}' is not an absolute URI"
        if parts.fragment or "#" in uri:
            return f"'{uri}' has a fragment, which redirect URIs may not have"
        if parts.username or parts.password:
            return f"'{uri}' carries credentials"
        if self.allow_loopback and is_loopback_host(host) and parts.scheme in ("http", "https"):
            return None
        if parts.scheme != "https":
            return f"'{uri}' must use https (http is accepted only on loopback addresses)"
        if host.lower() not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts)) or "none"
            return f"the host of '{uri}' is not allowed (allowed hosts: {allowed}, and loopback)"
        return None
