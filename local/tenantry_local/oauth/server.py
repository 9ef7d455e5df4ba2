"""The dev authorization server's rules: discovery, authorize, approve, token.

HTTP lives in app.py; this module only decides. Every refusal is an OAuthError
carrying the RFC's error code, raised before anything is created.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tenantry_local.issuer import DevIssuer
from tenantry_local.oauth.clients import Client, ClientRegistry
from tenantry_local.oauth.directory import Directory
from tenantry_local.oauth.errors import OAuthError
from tenantry_local.oauth.grants import CodeRecord, GrantStore, RefreshRecord
from tenantry_local.oauth.policy import requested_scope

__all__ = ["AS_PATHS", "AuthorizationServer", "AuthorizeRequest"]

AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
OIDC_DISCOVERY_PATH = "/.well-known/openid-configuration"
AS_PATHS = frozenset({AS_METADATA_PATH, OIDC_DISCOVERY_PATH, "/register", "/authorize", "/token"})

Params = Sequence[tuple[str, str]]
# An S256 challenge is the unpadded base64url of a SHA-256 digest: 43 characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# RFC 7636 4.1: 43-128 unreserved characters.
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorization request, waiting for the user's decision."""

    client: Client
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    scope: str
    login_hint: str | None
    tenant_hint: str | None

    def form_fields(self) -> dict[str, str]:
        """The request as hidden form fields: the consent page re-submits it to be validated again."""
        fields = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "resource": self.resource,
            "scope": self.scope,
        }
        if self.state is not None:
            fields["state"] = self.state
        return fields


def _single(params: Params, name: str, redirect: tuple[str, str | None] | None = None) -> str | None:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        uri, state = redirect or (None, None)
        raise OAuthError("invalid_request", f"'{name}' was sent more than once", redirect_uri=uri, state=state)
    return values[0] if values else None


def _with_query(uri: str, values: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(values)
    return urlunsplit(parts._replace(query=query))


class AuthorizationServer:
    def __init__(
        self,
        issuer: DevIssuer,
        resource: str,
        directory: Directory,
        clients: ClientRegistry,
        grants: GrantStore | None = None,
        scopes: tuple[str, ...] = ("mcp:tools",),
        tenant_claim: str = "tenant_id",
        access_token_seconds: int = 900,
        refresh_token_seconds: int = 30 * 24 * 3600,
        code_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.resource = resource
        self.directory = directory
        self.clients = clients
        self.grants = grants or GrantStore(clock)
        self.scopes = scopes
        self._tenant_claim = tenant_claim
        self._access_seconds = access_token_seconds
        self._refresh_seconds = refresh_token_seconds
        self._code_seconds = code_seconds
        self._clock = clock
        self._auto_approve = False

    @property
    def url(self) -> str:
        return self.issuer.issuer

    # --- Discovery -------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        base = self.url
        return {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "registration_endpoint": base + "/register",
            "jwks_uri": base + "/.well-known/jwks.json",
            # Only what clients may request: ChatGPT asks for every advertised scope.
            "scopes_supported": list(self.scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }

    def openid_configuration(self) -> dict[str, Any]:
        """OIDC discovery: the same document plus the fields OIDC marks required.

        No ID tokens are issued (the `openid` scope is not offered); the two
        OIDC-only fields are there so strict OIDC parsers accept the document.
        """
        return self.metadata() | {
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    # --- Authorization endpoint --------------------------------------------------------

    async def authorize_request(self, params: Params) -> AuthorizeRequest:
        client_id = _single(params, "client_id")
        if not client_id:
            raise OAuthError("invalid_request", "client_id is missing")
        client = await self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client", f"unknown client_id '{client_id}': register the client first (DCR at /register)"
            )
        redirect_uri = _single(params, "redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                raise OAuthError("invalid_request", "redirect_uri is missing and the client has several registered")
            redirect_uri = client.redirect_uris[0]
        elif redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri does not match any URI registered for this client")

        # From here on the client and redirect URI are trusted: errors go back to the client.
        state = _single(params, "state", (redirect_uri, None))
        where = (redirect_uri, state)

        def fail(error: str, description: str) -> OAuthError:
            return OAuthError(error, description, redirect_uri=redirect_uri, state=state)

        response_type = _single(params, "response_type", where)
        if not response_type:
            raise fail("invalid_request", "response_type is missing")
        if response_type != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        if "authorization_code" not in client.grant_types:
            raise fail("unauthorized_client", "this client is not registered for the authorization_code grant")
        challenge = _single(params, "code_challenge", where)
        method = _single(params, "code_challenge_method", where)
        if not challenge:
            raise fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
        if method != "S256":
            raise fail("invalid_request", f"code_challenge_method must be S256 (got {method or 'none, meaning plain'})")
        if not _S256_CHALLENGE.fullmatch(challenge):
            raise fail("invalid_request", "code_challenge is not a base64url SHA-256 digest (43 characters)")
        resource = self._resource([value for key, value in params if key == "resource"], fail)
        scope = self._scope(_single(params, "scope", where), client, fail)
        return AuthorizeRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            resource=resource,
            scope=scope,
            login_hint=_single(params, "login_hint", where),
            tenant_hint=_single(params, "tenant_hint", where),
        )

    def _resource(self, values: list[str], fail: Callable[[str, str], OAuthError]) -> str:
        # RFC 8707: a client that omits `resource` gets a token for the only resource there is.
        if not values:
            return self.resource
        if len(values) > 1 or values[0] != self.resource:
            raise fail("invalid_target", f"this server issues tokens only for the resource {self.resource}")
        return values[0]

    def _scope(self, requested: str | None, client: Client, fail: Callable[[str, str], OAuthError]) -> str:
        allowed = client.scope.split() if client.scope else list(self.scopes)
        requested = requested_scope(requested)
        if requested is None:
            return " ".join(allowed)
        unknown = [scope for scope in requested.split() if scope not in allowed]
        if unknown:
            raise fail("invalid_scope", f"scope(s) not available to this client: {' '.join(unknown)}")
        return " ".join(dict.fromkeys(requested.split()))

    def approve(self, request: AuthorizeRequest, email: str, tenant_id: str | None) -> str:
        """The redirect after the user signed in as `email` and picked `tenant_id`."""
        user = self.directory.get(email)

        def denied(description: str) -> OAuthError:
            return OAuthError("access_denied", description, redirect_uri=request.redirect_uri, state=request.state)

        if user is None:
            raise denied(f"there is no user '{email}' in this directory")
        if not user.tenants:
            raise denied(f"{user.email} is not a member of any tenant, so no token can be issued")
        if tenant_id is None and len(user.tenants) == 1:
            tenant_id = user.tenants[0]
        if tenant_id not in user.tenants:
            raise denied(f"{user.email} is not a member of tenant '{tenant_id}'")
        code = self.grants.new_code(
            CodeRecord(
                client_id=request.client.client_id,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                resource=request.resource,
                scope=request.scope,
                subject=user.email,
                tenant_id=tenant_id,
                expires_at=self._clock() + self._code_seconds,
                grant_id=secrets.token_urlsafe(12),
            )
        )
        values = {"code": code, "iss": self.url}
        if request.state is not None:
            values["state"] = request.state
        return _with_query(request.redirect_uri, values)

    def error_redirect(self, error: OAuthError) -> str:
        assert error.redirect_uri is not None
        values = {"error": error.error, "error_description": error.description, "iss": self.url}
        if error.state is not None:
            values["state"] = error.state
        return _with_query(error.redirect_uri, values)

    # --- Non-interactive approval for automated tests ----------------------------------

    @contextmanager
    def auto_approval(self) -> Iterator[None]:
        """Approve requests that carry `login_hint` (and `tenant_hint` for multi-tenant users) without a page.

        Only Python code holding this object can turn it on, only for the `with`
        block: there is no CLI flag, environment variable or HTTP request for it.
        """
        self._auto_approve = True
        try:
            yield
        finally:
            self._auto_approve = False

    def auto_decision(self, request: AuthorizeRequest) -> str | None:
        if not self._auto_approve or not request.login_hint:
            return None
        user = self.directory.get(request.login_hint)
        if user is not None and len(user.tenants) > 1 and request.tenant_hint is None:
            return None  # the page asks which tenant
        return self.approve(request, request.login_hint, request.tenant_hint)

    # --- Token endpoint ----------------------------------------------------------------

    async def token(self, params: Params) -> dict[str, Any]:
        names = [key for key, _ in params]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise OAuthError("invalid_request", f"parameter(s) sent more than once: {', '.join(repeated)}")
        form = dict(params)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' is not supported")
        client_id = form.get("client_id")
        if not client_id:
            raise OAuthError("invalid_client", "client_id is missing (public clients identify themselves with it)")
        client = await self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", f"unknown client_id '{client_id}'")
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"this client is not registered for the {grant_type} grant")
        resource = form.get("resource")
        if resource is not None and resource != self.resource:
            raise OAuthError("invalid_target", f"this server issues tokens only for the resource {self.resource}")
        if grant_type == "authorization_code":
            return self._redeem_code(form, client)
        return self._refresh(form, client)

    def _redeem_code(self, form: dict[str, str], client: Client) -> dict[str, Any]:
        code, verifier = form.get("code"), form.get("code_verifier")
        if not code:
            raise OAuthError("invalid_request", "code is missing")
        if not verifier:
            raise OAuthError("invalid_request", "code_verifier is missing (PKCE is required)")
        record, first_use = self.grants.redeem_code(code)
        if record is None:
            raise OAuthError("invalid_grant", "the authorization code is unknown, expired or revoked")
        if not first_use:
            self.grants.revoke(record.grant_id)
            raise OAuthError(
                "invalid_grant", "the authorization code was already used; tokens issued from it are revoked"
            )
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the authorization code was issued to another client")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the one in the authorization request")
        if not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(_s256(verifier), record.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return self._issue(client.client_id, record.subject, record.tenant_id, record.scope, record.grant_id)

    def _refresh(self, form: dict[str, str], client: Client) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is missing")
        record, first_use = self.grants.redeem_refresh(token)
        if record is None:
            raise OAuthError("invalid_grant", "the refresh token is unknown, expired or revoked; sign in again")
        if not first_use:
            # A rotated token came back: someone holds a copy. End the whole sign-in.
            self.grants.revoke(record.grant_id)
            raise OAuthError("invalid_grant", "the refresh token was already used; the sign-in is revoked")
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        scope = record.scope
        if form.get("scope"):
            wanted = form["scope"].split()
            if any(value not in record.scope.split() for value in wanted):
                raise OAuthError("invalid_scope", "a refresh may only narrow the scope that was granted")
            scope = " ".join(wanted)
        return self._issue(client.client_id, record.subject, record.tenant_id, scope, record.grant_id)

    def _issue(self, client_id: str, subject: str, tenant_id: str, scope: str, grant_id: str) -> dict[str, Any]:
        access = self.issuer.mint(
            tenant_id,
            subject=subject,
            ttl_seconds=self._access_seconds,
            scope=scope,
            extra={"client_id": client_id, "aud": self.resource},
            tenant_claim=self._tenant_claim,
        )
        refresh = self.grants.new_refresh(
            RefreshRecord(
                client_id=client_id,
                resource=self.resource,
                scope=scope,
                subject=subject,
                tenant_id=tenant_id,
                expires_at=self._clock() + self._refresh_seconds,
                grant_id=grant_id,
            )
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self._access_seconds,
            "scope": scope,
            "refresh_token": refresh,
        }


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
