"""OAuth clients: registered dynamically (RFC 7591) or named by a metadata document URL (CIMD).

Only public clients (token_endpoint_auth_method "none") exist here: MCP clients
like ChatGPT prove possession with PKCE, not with a secret.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from tenantry_local.oauth.errors import OAuthError
from tenantry_local.oauth.policy import RedirectPolicy, is_loopback_host, requested_scope

__all__ = ["Client", "ClientRegistry", "Fetch", "fetch_document"]

GRANT_TYPES = ("authorization_code", "refresh_token")
# The CIMD draft suggests servers cap the document size; 5 KiB is its example.
MAX_DOCUMENT_BYTES = 5 * 1024
DOCUMENT_CACHE_SECONDS = 60.0
MAX_REGISTERED_CLIENTS = 10_000

# (url) -> (status, body); injectable so tests and callers choose the transport.
Fetch = Callable[[str], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str | None
    client_name: str | None
    issued_at: int
    from_metadata_document: bool = False


async def fetch_document(url: str) -> tuple[int, bytes]:
    """GET a client metadata document: no redirects, short timeout, bounded size."""
    async with (
        httpx2.AsyncClient(timeout=2.0, follow_redirects=False) as http,
        http.stream("GET", url, headers={"accept": "application/json"}) as response,
    ):
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                break
        return response.status_code, body


class ClientRegistry:
    def __init__(
        self,
        policy: RedirectPolicy,
        scopes: tuple[str, ...],
        fetch: Fetch = fetch_document,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self._scopes = scopes
        self._fetch = fetch
        self._clock = clock
        self._clients: dict[str, Client] = {}
        self._documents: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many clients were registered (metadata-document clients are not registered)."""
        with self._lock:
            return len(self._clients)

    # --- Dynamic Client Registration (RFC 7591) -------------------------------------------

    def register(self, metadata: Any) -> dict[str, Any]:
        """Validate the request and create the client; on any error nothing is created."""
        if not isinstance(metadata, dict):
            raise OAuthError("invalid_client_metadata", "the registration request must be a JSON object")
        redirect_uris = self._redirect_uris(metadata.get("redirect_uris"), "invalid_redirect_uri")
        grant_types = self._grant_types(metadata.get("grant_types"), "invalid_client_metadata")
        response_types = metadata.get("response_types", ["code"])
        if not isinstance(response_types, list) or any(value != "code" for value in response_types):
            raise OAuthError("invalid_client_metadata", "response_types may only contain 'code'")
        scope = self._scope(metadata.get("scope"), "invalid_client_metadata")
        name = metadata.get("client_name")
        if name is not None and not isinstance(name, str):
            raise OAuthError("invalid_client_metadata", "client_name must be a string")
        # RFC 7591 3.2.1 lets the server replace requested values: every client here is
        # public (PKCE), so a request for a secret-based method gets "none" back.
        with self._lock:
            if len(self._clients) >= MAX_REGISTERED_CLIENTS:
                raise OAuthError("invalid_client_metadata", "too many clients are registered on this local server")
            client = Client(
                client_id="dcr-" + secrets.token_urlsafe(16),
                redirect_uris=redirect_uris,
                grant_types=grant_types,
                scope=scope,
                client_name=name,
                issued_at=int(self._clock()),
            )
            self._clients[client.client_id] = client
        response: dict[str, Any] = {
            "client_id": client.client_id,
            "client_id_issued_at": client.issued_at,
            "redirect_uris": list(client.redirect_uris),
            "grant_types": list(client.grant_types),
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        if client.scope:
            response["scope"] = client.scope
        if client.client_name:
            response["client_name"] = client.client_name
        return response

    # --- Lookup (registered client or metadata document) ----------------------------------

    async def get(self, client_id: str) -> Client | None:
        """The client, None if unknown; OAuthError(invalid_client) for a bad metadata document."""
        with self._lock:
            client = self._clients.get(client_id)
        if client is not None:
            return client
        if client_id.startswith(("https://", "http://")):
            return await self._from_document(client_id)
        return None

    async def _from_document(self, url: str) -> Client:
        now = self._clock()
        with self._lock:
            cached = self._documents.get(url)
        if cached and cached[0] > now:
            return cached[1]
        self._check_document_url(url)
        try:
            status, body = await self._fetch(url)
        except httpx2.HTTPError as exc:
            raise OAuthError(
                "invalid_client", f"the client metadata document at {url} could not be fetched ({exc})"
            ) from None
        if status != 200:
            raise OAuthError("invalid_client", f"the client metadata document at {url} answered HTTP {status}")
        if len(body) > MAX_DOCUMENT_BYTES:
            raise OAuthError(
                "invalid_client", f"the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            document = json.loads(body)
        except ValueError:
            raise OAuthError("invalid_client", "the client metadata document is not JSON") from None
        client = self._validate_document(url, document)
        with self._lock:
            self._documents[url] = (now + DOCUMENT_CACHE_SECONDS, client)
        return client

    def _check_document_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.fragment or parts.username or parts.password or parts.path in ("", "/"):
            raise OAuthError("invalid_client", "a client_id URL needs a path and may carry no fragment or credentials")
        if any(segment in (".", "..") for segment in parts.path.split("/")):
            raise OAuthError("invalid_client", "a client_id URL may not contain dot segments")
        # The local server never reaches the internet: documents come from this machine only.
        # http is accepted for loopback documents (a local dev exception; the draft requires https).
        if not is_loopback_host(parts.hostname):
            raise OAuthError(
                "invalid_client",
                "this local authorization server fetches client metadata documents only from loopback "
                f"addresses; '{parts.hostname}' is not one. Register with DCR instead, or serve the document locally.",
            )

    def _validate_document(self, url: str, document: Any) -> Client:
        if not isinstance(document, dict):
            raise OAuthError("invalid_client", "the client metadata document must be a JSON object")
        if document.get("client_id") != url:
            raise OAuthError("invalid_client", "the document's client_id must equal the URL it was fetched from")
        if "client_secret" in document or "client_secret_expires_at" in document:
            raise OAuthError("invalid_client", "a client metadata document may not contain a client secret")
        if document.get("token_endpoint_auth_method", "none") != "none":
            raise OAuthError("invalid_client", "only public clients (token_endpoint_auth_method 'none') are supported")
        name = document.get("client_name")
        return Client(
            client_id=url,
            redirect_uris=self._redirect_uris(document.get("redirect_uris"), "invalid_client"),
            grant_types=self._grant_types(document.get("grant_types"), "invalid_client"),
            scope=self._scope(document.get("scope"), "invalid_client"),
            client_name=name if isinstance(name, str) else None,
            issued_at=int(self._clock()),
            from_metadata_document=True,
        )

    # --- Field rules shared by both ------------------------------------------------------

    def _redirect_uris(self, value: Any, error: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise OAuthError(error, "redirect_uris must be a non-empty list (the authorization code flow needs one)")
        for uri in value:
            reason = self.policy.refusal(uri)
            if reason:
                raise OAuthError(error, reason)
        return tuple(value)

    def _grant_types(self, value: Any, error: str) -> tuple[str, ...]:
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
        value = requested_scope(value)
        if value is None:
            return None
        unknown = [scope for scope in value.split() if scope not in self._scopes]
        if unknown:
            raise OAuthError(error, f"unsupported scope(s) {' '.join(unknown)}; supported: {' '.join(self._scopes)}")
        return value
