"""OAuth clients: Client ID Metadata Documents first, Dynamic Client Registration (RFC 7591) for older clients.

Only public clients exist (token_endpoint_auth_method "none"): MCP clients such as ChatGPT
prove possession with PKCE, not a secret.

CIMD fetches are the server reaching a URL an anonymous caller chose, so they are fenced:
https only (loopback http only when the server runs under `./dev local`), every address the
name resolves to must be public (no private, loopback, link-local, reserved or multicast),
the connection goes to the checked address (no second lookup an attacker could rebind), no
redirects, 5 KiB at most and 3 s in total (resolving, connecting and reading together: a per-read
timeout would let a server that sends one byte at a time hold the request for as long as it likes),
certificates checked against the system trust store (under `./dev local` only, plus one extra CA
file, so a local client can serve its document over https). An IPv6 address that embeds an IPv4
one (NAT64, 6to4, Teredo, IPv4-compatible, -mapped or -translated) is judged by its IPv4 address too.
Documents are cached as long as their Cache-Control says, between 1 minute and 1 day (no-store:
1 minute, to bound what a flood of sign-ins can fetch); a failed fetch is remembered for 1 minute,
so a flood of sign-ins naming a slow or broken URL fetches it once a minute, not once a request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from tenantry.dal.oauth import ClientRecord, OAuthStore
from tenantry.errors import OAuthError
from tenantry.settings import SettingsError

__all__ = [
    "DEFAULT_REDIRECT_HOSTS",
    "Client",
    "ClientRegistry",
    "DocumentFetcher",
    "Fetch",
    "FetchedDocument",
    "RedirectPolicy",
    "cache_seconds",
    "is_loopback_host",
    "requested_scope",
]

GRANT_TYPES = ("authorization_code", "refresh_token")
# The CIMD draft suggests servers cap the document size; 5 KiB is its example.
MAX_DOCUMENT_BYTES = 5 * 1024
FETCH_SECONDS = 3.0
# How long a failed fetch (or an invalid document) is answered from memory without fetching again.
FAILURE_CACHE_SECONDS = 60
MIN_CACHE_SECONDS = 60
MAX_CACHE_SECONDS = 86400
DEFAULT_CACHE_SECONDS = 300
MAX_CACHED_DOCUMENTS = 1000
# ChatGPT's connector callback is https://chatgpt.com/connector/oauth/{callback_id}.
DEFAULT_REDIRECT_HOSTS = frozenset({"chatgpt.com"})
# Hosts that publish where their OAuth callback lives: on these, only that path prefix is accepted,
# so a client registered for the host cannot send codes to any other page the host serves.
REDIRECT_PATH_PREFIXES = {"chatgpt.com": "/connector/oauth/"}
# Every loopback redirect host (localhost, *.localhost, 127.x, [::1]) counts as this one for the
# per-host registration cap: they all reach the same machine.
LOOPBACK_REGISTRATION_HOST = "loopback"


def requested_scope(value: str | None) -> str | None:
    """The scope a client asked for, None when it asked for none.

    API Gateway's 401 challenge says `scope=""`; MCP SDK 2.3 reads that as a scope literally
    named `""` and sends it at registration and sign-in (docs/oauth.md). Treated as no scope.
    """
    if value is None or value.strip() in ("", '""', "''"):
        return None
    return value


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RedirectPolicy:
    """https redirect URIs on allow-listed hosts; plus http(s) on loopback for native tools (RFC 8252 7.3)."""

    allowed_hosts: frozenset[str] = field(default_factory=lambda: DEFAULT_REDIRECT_HOSTS)
    allow_loopback: bool = True

    def refusal(self, uri: object) -> str | None:
        """Why `uri` may not be a redirect URI, or None when it may."""
        if not isinstance(uri, str) or not uri:
            return "each redirect URI must be a non-empty string"
        try:
            parts = urlsplit(uri)
            host = parts.hostname
            _ = parts.port  # raises for a port that is not a number in 0-65535
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
        prefix = REDIRECT_PATH_PREFIXES.get(host.lower())
        if prefix is not None and not parts.path.startswith(prefix):
            return f"on {host.lower()} only redirect URIs under {prefix} are allowed (its OAuth callback path)"
        return None


@dataclass(frozen=True)
class Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str | None
    client_name: str | None
    from_metadata_document: bool = False
    record: ClientRecord | None = None

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id


@dataclass(frozen=True)
class FetchedDocument:
    status: int
    body: bytes
    cache_control: str


# (url) -> document; the registry's seam for tests.
Fetch = Callable[[str], Awaitable[FetchedDocument]]
Resolve = Callable[[str, int], Awaitable[list[str]]]

_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def cache_seconds(cache_control: str) -> int:
    """How long to keep a document, from its Cache-Control, clamped to [1 minute, 1 day]."""
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return MIN_CACHE_SECONDS
    match = _MAX_AGE.search(lowered)
    seconds = int(match.group(1)) if match else DEFAULT_CACHE_SECONDS
    return max(MIN_CACHE_SECONDS, min(MAX_CACHE_SECONDS, seconds))


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits (RFC 6052 NAT64,
# RFC 4291 IPv4-compatible, RFC 2765 IPv4-translated): a packet to them may reach that IPv4 host.
_LAST_32_BITS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
# RFC 8215 local-use NAT64: the IPv4 address may sit at several offsets, and nothing public is there.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to `ip` may be delivered to (none for a plain IPv6 address)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client): either may be where the packet goes
    if any(ip in network for network in _LAST_32_BITS_IPV4):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _refused_address(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return True
        if ip.ipv4_mapped is not None:
            # A dual-stack resolver's form of an IPv4 address: judged as that address alone.
            return _refused_address(str(ip.ipv4_mapped), allow_loopback)
        embedded = _embedded_ipv4(ip)
        if ip != ipaddress.IPv6Address("::1") and any(_refused_address(str(v4), allow_loopback) for v4 in embedded):
            return True
    if ip.is_loopback:
        return not allow_loopback
    return not ip.is_global or ip.is_multicast


class DocumentFetcher:
    """GET a client metadata document through the SSRF fences described above."""

    def __init__(
        self,
        allow_loopback_http: bool = False,
        resolve: Resolve = _resolve,
        extra_ca_file: str | None = None,
        deadline_seconds: float = FETCH_SECONDS,
    ) -> None:
        self._allow_loopback = allow_loopback_http
        self._resolve = resolve
        self._deadline = deadline_seconds
        # The system trust store, plus (./dev local only) a CA a local client signed its
        # certificate with: MCP SDKs use a client_id URL only when it is https.
        self._tls: ssl.SSLContext | bool = True
        if extra_ca_file is not None:
            if not allow_loopback_http:
                # Settings refuse this already; the fetcher refuses it too, whoever builds it.
                raise SettingsError("an extra CA for client metadata documents is for local loopback mode only")
            self._tls = httpx2.create_ssl_context(trust_env=False)
            self._tls.load_verify_locations(cafile=extra_ca_file)

    @staticmethod
    def _split(url: str) -> tuple[Any, int | None]:
        """The URL's parts and port; invalid_client (never a 500) for a URL that does not parse."""
        try:
            parts = urlsplit(url)
            return parts, parts.port
        except ValueError:
            raise OAuthError("invalid_client", "the client_id URL is not a valid URL (host or port)") from None

    def check_url(self, url: str) -> None:
        parts, _ = self._split(url)
        if not parts.hostname:
            raise OAuthError("invalid_client", "a client_id URL needs a host")
        if parts.fragment or parts.username or parts.password or parts.path in ("", "/"):
            raise OAuthError("invalid_client", "a client_id URL needs a path and may carry no fragment or credentials")
        if any(segment in (".", "..") for segment in parts.path.split("/")):
            raise OAuthError("invalid_client", "a client_id URL may not contain dot segments")
        loopback = is_loopback_host(parts.hostname)
        if parts.scheme == "https" or (parts.scheme == "http" and loopback and self._allow_loopback):
            return
        raise OAuthError(
            "invalid_client",
            "a client_id URL must use https"
            + (" (http is accepted for loopback addresses on this local server)" if self._allow_loopback else ""),
        )

    async def __call__(self, url: str) -> FetchedDocument:
        self.check_url(url)
        try:
            # One deadline for the whole fetch: httpx's timeout applies to each read separately.
            return await asyncio.wait_for(self._fetch(url), self._deadline)
        except TimeoutError:
            raise OAuthError(
                "invalid_client", f"the client metadata document at {url} took longer than {self._deadline:g} s"
            ) from None

    async def _fetch(self, url: str) -> FetchedDocument:
        parts, explicit_port = self._split(url)
        host = parts.hostname or ""
        port = explicit_port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError:
            raise OAuthError("invalid_client", f"the client metadata document host '{host}' does not resolve") from None
        if not addresses or any(_refused_address(a, self._allow_loopback) for a in addresses):
            raise OAuthError(
                "invalid_client",
                f"the client metadata document host '{host}' resolves to a private, loopback or link-local "
                "address, which this server does not fetch from",
            )
        # Connect to the address just checked; the Host header and TLS SNI keep the name.
        pinned = addresses[0]
        netloc = (f"[{pinned}]" if ":" in pinned else pinned) + (f":{explicit_port}" if explicit_port else "")
        target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        headers = {"accept": "application/json", "host": parts.netloc.rsplit("@", 1)[-1]}
        try:
            async with (
                httpx2.AsyncClient(
                    timeout=self._deadline, follow_redirects=False, trust_env=False, verify=self._tls
                ) as http,
                http.stream("GET", target, headers=headers, extensions={"sni_hostname": host}) as response,
            ):
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        break
                return FetchedDocument(response.status_code, body, response.headers.get("cache-control", ""))
        except httpx2.HTTPError as exc:
            raise OAuthError(
                "invalid_client", f"the client metadata document at {url} could not be fetched ({type(exc).__name__})"
            ) from None


def _registration_host(uri: str) -> str:
    """The host a registration counts against: every loopback name and address is one host."""
    host = (urlsplit(uri).hostname or "").lower()
    return LOOPBACK_REGISTRATION_HOST if is_loopback_host(host) else host


class ClientRegistry:
    def __init__(
        self,
        store: OAuthStore,
        policy: RedirectPolicy,
        scopes: tuple[str, ...],
        fetch: Fetch,
        unused_days: int = 30,
        registrations_per_host_per_day: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.policy = policy
        self._scopes = scopes
        self._fetch = fetch
        self._unused_seconds = unused_days * 86400
        self._per_host = registrations_per_host_per_day
        self._clock = clock
        # url -> (until, the client or why it was refused); at most MAX_CACHED_DOCUMENTS entries.
        self._documents: dict[str, tuple[float, Client | OAuthError]] = {}
        self._lock = threading.Lock()

    # --- Dynamic Client Registration (RFC 7591) ------------------------------------------------

    def register(self, metadata: Any) -> dict[str, Any]:
        """Validate the request and create the client; on any error nothing is created."""
        if not isinstance(metadata, dict):
            raise OAuthError("invalid_client_metadata", "the registration request must be a JSON object")
        redirect_uris = self._redirect_uris(metadata.get("redirect_uris"), "invalid_redirect_uri")
        grant_types = self._grant_types(metadata.get("grant_types"), "invalid_client_metadata")
        self._response_types(metadata.get("response_types"), "invalid_client_metadata")
        scope = self._scope(metadata.get("scope"), "invalid_client_metadata")
        name = metadata.get("client_name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise OAuthError("invalid_client_metadata", "client_name must be a string of at most 200 characters")
        # Per redirect host and day: a flood of registrations for one host stops at the cap,
        # and unused clients expire, so the table stays bounded (docs/oauth.md).
        now = int(self._clock())
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        for host in sorted({_registration_host(uri) for uri in redirect_uris}):
            if not self._store.count_registration(host, day, self._per_host):
                raise OAuthError(
                    "invalid_client_metadata",
                    f"too many clients were registered for redirect host '{host}' today; try again tomorrow "
                    "or use a client metadata document",
                )
        # RFC 7591 3.2.1 lets the server replace requested values: every client here is
        # public (PKCE), so a request for a secret-based method gets "none" back.
        record = ClientRecord(
            client_id="dcr-" + secrets.token_urlsafe(16),
            redirect_uris=list(redirect_uris),
            grant_types=list(grant_types),
            scope=scope,
            client_name=name,
            issued_at=now,
            last_used_at=now,
            expires_at=now + self._unused_seconds,
        )
        if not self._store.clients.put(record.client_id, record):
            raise OAuthError("invalid_client_metadata", "could not allocate a client id; try again", status=500)
        response: dict[str, Any] = {
            "client_id": record.client_id,
            "client_id_issued_at": record.issued_at,
            "redirect_uris": record.redirect_uris,
            "grant_types": record.grant_types,
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        if record.scope:
            response["scope"] = record.scope
        if record.client_name:
            response["client_name"] = record.client_name
        return response

    # --- Lookup (metadata document or registered client) ---------------------------------------

    async def get(self, client_id: str) -> Client | None:
        """The client, None if unknown; OAuthError(invalid_client) for a bad metadata document."""
        if client_id.startswith(("https://", "http://")):
            return await self._from_document(client_id)
        if not client_id.startswith("dcr-") or len(client_id) > 64:
            return None
        record = self._store.clients.get(client_id)
        if record is None:
            return None
        return Client(
            client_id=record.client_id,
            redirect_uris=tuple(record.redirect_uris),
            grant_types=tuple(record.grant_types),
            scope=record.scope,
            client_name=record.client_name,
            record=record,
        )

    def used(self, client: Client) -> None:
        """A registered client completed a grant: it is not unused."""
        if client.record is not None:
            self._store.touch_client(client.record, self._unused_seconds)

    async def _from_document(self, url: str) -> Client:
        if len(url) > 512:
            raise OAuthError("invalid_client", "a client_id URL may be at most 512 characters")
        now = self._clock()
        with self._lock:
            cached = self._documents.get(url)
        if cached and cached[0] > now:
            if isinstance(cached[1], OAuthError):
                raise OAuthError(cached[1].error, cached[1].description)
            return cached[1]
        try:
            client, seconds = await self._load(url)
        except OAuthError as exc:
            # Remembered too: a URL that fails (slowly, or with a bad document) is fetched once a minute.
            self._remember(url, now + FAILURE_CACHE_SECONDS, exc, now)
            raise
        self._remember(url, now + seconds, client, now)
        return client

    def _remember(self, url: str, until: float, outcome: Client | OAuthError, now: float) -> None:
        with self._lock:
            if len(self._documents) >= MAX_CACHED_DOCUMENTS:
                # Drop expired entries first; if all are live, drop the oldest half.
                live = {k: v for k, v in self._documents.items() if v[0] > now}
                if len(live) >= MAX_CACHED_DOCUMENTS:
                    live = dict(sorted(live.items(), key=lambda kv: kv[1][0])[MAX_CACHED_DOCUMENTS // 2 :])
                self._documents = live
            self._documents[url] = (until, outcome)

    async def _load(self, url: str) -> tuple[Client, int]:
        """The validated client and how many seconds to keep it; OAuthError(invalid_client) if not."""
        fetched = await self._fetch(url)
        if fetched.status != 200:
            raise OAuthError("invalid_client", f"the client metadata document at {url} answered HTTP {fetched.status}")
        if len(fetched.body) > MAX_DOCUMENT_BYTES:
            raise OAuthError(
                "invalid_client", f"the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            document = json.loads(fetched.body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's limit
            raise OAuthError("invalid_client", "the client metadata document is not JSON") from None
        return self._validate_document(url, document), cache_seconds(fetched.cache_control)

    def _validate_document(self, url: str, document: Any) -> Client:
        if not isinstance(document, dict):
            raise OAuthError("invalid_client", "the client metadata document must be a JSON object")
        if document.get("client_id") != url:
            raise OAuthError("invalid_client", "the document's client_id must equal the URL it was fetched from")
        if "client_secret" in document or "client_secret_expires_at" in document:
            raise OAuthError("invalid_client", "a client metadata document may not contain a client secret")
        if document.get("token_endpoint_auth_method", "none") != "none":
            raise OAuthError("invalid_client", "only public clients (token_endpoint_auth_method 'none') are supported")
        self._response_types(document.get("response_types"), "invalid_client")
        name = document.get("client_name")
        return Client(
            client_id=url,
            redirect_uris=self._redirect_uris(document.get("redirect_uris"), "invalid_client"),
            grant_types=self._grant_types(document.get("grant_types"), "invalid_client"),
            scope=self._scope(document.get("scope"), "invalid_client"),
            client_name=name[:200] if isinstance(name, str) else None,
            from_metadata_document=True,
        )

    # --- Field rules shared by both ------------------------------------------------------------

    def _redirect_uris(self, value: Any, error: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise OAuthError(error, "redirect_uris must be a non-empty list (the authorization code flow needs one)")
        if len(value) > 10:
            raise OAuthError(error, "at most 10 redirect_uris are accepted")
        for uri in value:
            reason = self.policy.refusal(uri)
            if reason:
                raise OAuthError(error, reason)
        return tuple(value)

    @staticmethod
    def _response_types(value: Any, error: str) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not value or any(item != "code" for item in value):
            raise OAuthError(error, "response_types may only contain 'code'")

    @staticmethod
    def _grant_types(value: Any, error: str) -> tuple[str, ...]:
        if value is None:
            return GRANT_TYPES
        if not isinstance(value, list) or not value or any(grant not in GRANT_TYPES for grant in value):
            raise OAuthError(error, f"grant_types may only contain {', '.join(GRANT_TYPES)}")
        if "authorization_code" not in value:
            raise OAuthError(error, "grant_types must include authorization_code")
        return tuple(value)

    def _scope(self, value: object, error: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise OAuthError(error, "scope must be a space-separated string")
        scope = requested_scope(value)
        if scope is None:
            return None
        unknown = [item for item in scope.split() if item not in self._scopes]
        if unknown:
            raise OAuthError(error, f"unsupported scope(s) {' '.join(unknown)}; supported: {' '.join(self._scopes)}")
        return scope
