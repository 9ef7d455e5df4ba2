"""The authorization server's rules: discovery, authorize, upstream callback, consent, token.

HTTP lives in app.py; this module only decides. Every refusal is an OAuthError carrying
the RFC's error code, raised before anything is created, and audited.

One sign-in, in order:
1. GET /authorize: the client (metadata document or DCR), its exact redirect URI, PKCE S256,
   `resource` (RFC 8707, required) and scope are checked; a sign-in session is stored and
   bound to the browser by a cookie; the browser goes to the upstream identity provider.
2. GET /callback: the provider's answer must carry the session's `state`; the user's
   memberships decide: none -> `access_denied`; one or several -> the consent page (which
   names the client and its redirect host, and lists the tenants to pick from).
3. POST /consent: cookie + CSRF token + a tenant among the memberships (read again) of an
   active tenant -> a one-time code bound to client, redirect URI, resource and PKCE.
4. POST /token: the code (or a refresh token) is checked in full *before* it is marked used.

Memberships come from the members table, or, with TENANTRY_OIDC_TENANTS_CLAIM, from a claim
of the provider's verified ID token intersected with the registry's active tenants (never
both). The grant records which: a refresh re-reads the table for the one, and for the other
(the claim cannot be read again without the user) re-checks the tenant and ends with the
shorter `claim_absolute_seconds`.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tenantry.audit import AuditEvent, AuditLog, AuditTally
from tenantry.dal.members import MembershipStore
from tenantry.dal.oauth import CodeRecord, GrantRecord, Membership, OAuthStore, RefreshRecord, SessionRecord
from tenantry.errors import OAuthError
from tenantry.oauth.claim_tenants import TenantsClaim
from tenantry.oauth.clients import Client, ClientRegistry, requested_scope
from tenantry.oauth.signing import Signer
from tenantry.oauth.upstream import IdentityProvider, UpstreamUser, s256
from tenantry.routes import API_ROUTES, AS_METADATA_PATH, JWKS_PATH, OIDC_DISCOVERY_PATH
from tenantry.tenancy.registry import TenantRegistry
from tenantry.tenancy.resolver import tenant_host

__all__ = [
    "AS_METADATA_PATH",
    "AS_PATHS",
    "JWKS_PATH",
    "OIDC_DISCOVERY_PATH",
    "AuthorizationServer",
    "AuthorizeRequest",
    "Lifetimes",
]

# Every path this server answers (the HTTP API routes them here: tenantry/routes.py).
AS_PATHS = frozenset(route.path for route in API_ROUTES if route.function == "oauth")

Params = Sequence[tuple[str, str]]
# An S256 challenge is the unpadded base64url of a SHA-256 digest: 43 characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# RFC 7636 4.1: 43-128 unreserved characters.
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_OAUTH_BUCKET = "_oauth"  # audit partition for events that belong to no tenant yet
_LOG = logging.getLogger(__name__)


_SOURCES: dict[Membership, str] = {
    "members": "the members table",
    "idp_claim": "the identity provider's claim",
}


@dataclass(frozen=True)
class Lifetimes:
    # 15 minutes: the JWT authorizer cannot ask whether a token was revoked, so this is how long
    # a removed membership can keep working (a suspended tenant is refused by the function at
    # once). ChatGPT and the SDKs refresh silently, so users do not see it.
    access_seconds: int = 900
    code_seconds: int = 60
    session_seconds: int = 600
    # A refresh token lives 30 days unused; the sign-in it belongs to ends after 90 whatever happens.
    refresh_idle_seconds: int = 30 * 86400
    refresh_absolute_seconds: int = 90 * 86400
    # A sign-in whose membership came from the identity provider's claim: the claim is read only
    # at sign-in, so this bounds how long a user removed upstream keeps refreshing (a tenant
    # suspended meanwhile ends it at the next refresh).
    claim_absolute_seconds: int = 7 * 86400


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorization request."""

    client: Client
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    scope: str


def _single(params: Params, name: str, redirect: tuple[str, str | None] | None = None) -> str | None:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        uri, state = redirect or (None, None)
        raise OAuthError("invalid_request", f"'{name}' was sent more than once", redirect_uri=uri, state=state)
    return values[0] if values else None


def with_query(uri: str, values: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(values)
    return urlunsplit(parts._replace(query=query))


class AuthorizationServer:
    def __init__(
        self,
        *,
        issuer: str,
        resources: Sequence[str],
        signer: Signer,
        clients: ClientRegistry,
        store: OAuthStore,
        members: MembershipStore,
        registry: TenantRegistry,
        upstream: IdentityProvider,
        audit: AuditLog | None = None,
        scopes: tuple[str, ...] = ("mcp:tools",),
        tenant_claim: str = "tenant_id",
        lifetimes: Lifetimes | None = None,
        clock: Callable[[], float] = time.time,
        base_domain: str | None = None,
        tenants_claim: TenantsClaim | None = None,
    ) -> None:
        self.url = issuer.rstrip("/")
        self.resources = tuple(resources)
        # Tenant subdomains: `<slug>.<base_domain>` hosts of a resource are resources of that tenant.
        self.base_domain = base_domain
        self.signer = signer
        self.clients = clients
        self.store = store
        self.members = members
        self.registry = registry
        self.upstream = upstream
        self.scopes = scopes
        self.lifetimes = lifetimes or Lifetimes()
        self._audit = audit
        # Refusals that belong to no tenant (anonymous callers, rate limits) are what a flood makes:
        # aggregated per minute like the MCP function's, one record with a count, not one per request.
        self.refusals = AuditTally(audit, clock) if audit is not None else None
        self._tenant_claim = tenant_claim
        self._clock = clock
        # None: the members table decides memberships; else this claim of the ID token alone does.
        self.tenants_claim = tenants_claim

    @property
    def membership(self) -> Membership:
        """Where memberships come from in this deployment."""
        return "members" if self.tenants_claim is None else "idp_claim"

    @property
    def callback_url(self) -> str:
        return self.url + "/callback"

    def _now(self) -> int:
        return int(self._clock())

    def audit(
        self,
        action: str,
        outcome: str,
        reason: str,
        tenant_id: str | None = None,
        principal: str = "",
        kind: str | None = None,
    ) -> None:
        """Record an event; a refusal of no tenant goes to the per-minute tally, grouped by `kind` (or reason)."""
        if self._audit is None:
            return
        event = AuditEvent(
            tenant_id=tenant_id or _OAUTH_BUCKET,
            principal=principal or "anonymous",
            action=f"oauth:{action}",
            resource=self.url,
            outcome="allowed" if outcome == "allowed" else "denied",
            reason=reason[:300],
        )
        if outcome != "allowed" and tenant_id is None and self.refusals is not None:
            self.refusals.add(event, group=kind)
        else:
            self._audit.record(event)

    # --- Discovery -----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        base = self.url
        return {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "registration_endpoint": base + "/register",
            "jwks_uri": base + JWKS_PATH,
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
        """OIDC discovery, which the HTTP API JWT authorizer reads for `jwks_uri`.

        No ID tokens are issued (`openid` is not offered); the OIDC-required fields are
        there so strict parsers accept the document.
        """
        return self.metadata() | {
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    # --- 1. Authorization endpoint -------------------------------------------------------------

    async def authorize_request(self, params: Params) -> AuthorizeRequest:
        client_id = _single(params, "client_id")
        if not client_id:
            raise OAuthError("invalid_request", "client_id is missing")
        client = await self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client", f"unknown client_id '{client_id[:80]}': register the client first (DCR at /register)"
            )
        redirect_uri = _single(params, "redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                raise OAuthError("invalid_request", "redirect_uri is missing and the client has several registered")
            redirect_uri = client.redirect_uris[0]
        elif redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri does not exactly match a URI registered for this client")

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
        return AuthorizeRequest(client, redirect_uri, state, challenge, resource, scope)

    def _resource(self, values: list[str], fail: Callable[[str, str], OAuthError]) -> str:
        if not values:
            raise fail("invalid_target", f"resource is required (RFC 8707): send resource={self.resources[0]}")
        if len(values) > 1 or self.audience_of(values[0]) is None:
            raise fail("invalid_target", f"this server issues tokens only for {' or '.join(self.resources)}")
        return values[0]

    def audience_of(self, resource: str) -> str | None:
        """The audience a token for `resource` carries: the resource, or for a tenant host's URL
        (RFC 9728 through `<slug>.<base_domain>`) the API's own URL, which the JWT authorizer checks."""
        if resource in self.resources:
            return resource
        slug, apex = self._tenant_resource(resource)
        return apex if slug else None

    def _tenant_resource(self, resource: str) -> tuple[str | None, str | None]:
        try:
            parts = urlsplit(resource)
            port = parts.port
        except ValueError:
            return None, None
        slug = tenant_host(parts.netloc, self.base_domain)
        if not slug or "." in slug or parts.query or parts.fragment or "@" in parts.netloc:
            return None, None
        for apex in self.resources:
            known = urlsplit(apex)
            if (parts.scheme, parts.path, port) == (known.scheme, known.path, known.port):
                return slug, apex
        return None, None

    def _scope(self, requested: str | None, client: Client, fail: Callable[[str, str], OAuthError]) -> str:
        allowed = client.scope.split() if client.scope else list(self.scopes)
        wanted = requested_scope(requested)
        if wanted is None:
            return " ".join(allowed)
        unknown = [scope for scope in wanted.split() if scope not in allowed]
        if unknown:
            raise fail("invalid_scope", f"scope(s) not available to this client: {' '.join(unknown)}")
        return " ".join(dict.fromkeys(wanted.split()))

    async def start(self, request: AuthorizeRequest) -> tuple[str, str]:
        """Store the sign-in session; (session id for the cookie, the upstream sign-in URL)."""
        session_id = secrets.token_urlsafe(32)
        session = SessionRecord(
            client_id=request.client.client_id,
            client_name=request.client.client_name,
            redirect_uri=request.redirect_uri,
            state=request.state,
            code_challenge=request.code_challenge,
            resource=request.resource,
            scope=request.scope,
            upstream_state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            upstream_verifier=secrets.token_urlsafe(48),
            expires_at=self._now() + self.lifetimes.session_seconds,
        )
        # The provider's URL first: if it cannot be had (its discovery document unreachable), the
        # refused request leaves no session behind.
        url = await self.upstream.authorization_url(
            session.upstream_state, session.nonce, session.upstream_verifier, self.callback_url
        )
        self.store.sessions.put(session_id, session)
        return session_id, url

    # --- 2. The upstream provider's callback ---------------------------------------------------

    def _session(self, session_id: str | None) -> SessionRecord:
        session = self.store.sessions.get(session_id) if session_id else None
        if session is None:
            raise OAuthError(
                "invalid_request",
                "this sign-in has expired or was started in another browser; start again from the application",
            )
        return session

    @staticmethod
    def _to_client(session: SessionRecord, error: str, description: str) -> OAuthError:
        return OAuthError(error, description, redirect_uri=session.redirect_uri, state=session.state)

    async def callback(self, session_id: str | None, params: Params) -> SessionRecord:
        """Finish the upstream sign-in; the session, ready for the consent page."""
        session = self._session(session_id)
        state = _single(params, "state") or ""
        if not secrets.compare_digest(state.encode(), session.upstream_state.encode()) or session.subject:
            # Not this browser's sign-in (or replayed): never redirect on a forged callback.
            raise OAuthError("invalid_request", "the sign-in answer does not belong to this sign-in; start again")
        try:
            user = await self.upstream.complete(
                dict(params), session.nonce, session.upstream_verifier, self.callback_url
            )
        except OAuthError as exc:
            assert session_id is not None
            self.store.sessions.delete(session_id)
            self.audit("sign-in", "denied", exc.description, principal=session.client_id)
            raise self._to_client(session, exc.error, exc.description) from None
        slug, _ = self._tenant_resource(session.resource)
        if self.tenants_claim is None:
            # Only tenants that can be served are offered (consent re-checks): a suspended one is not shown.
            tenants, _ = self._offerable(self.members.tenants_of(user.user), slug)
        else:
            tenants = self._claimed_tenants(self.tenants_claim, user, slug)
        assert session_id is not None
        if not tenants:
            self.store.sessions.delete(session_id)
            why = "member of no tenant" + (f" '{slug}'" if slug else "")
            if self.tenants_claim is not None:
                why += f" (by the identity provider's '{self.tenants_claim.name[:100]}' claim)"
            self.audit("sign-in", "denied", why, principal=user.user)
            raise self._to_client(
                session, "access_denied", f"{user.user} is not a member of any tenant; ask your administrator"
            )
        session = session.model_copy(
            update={
                "subject": user.user,
                "subject_name": user.display,
                "tenants": tenants,
                "membership": self.membership,
                "csrf": secrets.token_urlsafe(24),
            }
        )
        self.store.sessions.put(session_id, session)
        return session

    def _claimed_tenants(self, claim: TenantsClaim, user: UpstreamUser, slug: str | None) -> list[str]:
        """The registered, active tenants the verified ID token's claim names (through a tenant host: that one).

        What is dropped (an unknown or inactive id, a malformed claim) is logged for the operator;
        the user only sees that no tenant is left, as a user of no membership does.
        """
        claimed = claim.read(user.claims)
        tenants, dropped = self._offerable(claimed.tenant_ids, slug)
        dropped = [*claimed.problems, *dropped]
        if dropped:
            _LOG.warning(
                "tenants claim of %s: %s", user.user[:200], "; ".join(dropped)[:2000], extra={"claim": claim.name}
            )
        return tenants

    def _offerable(self, tenant_ids: Iterable[str], slug: str | None) -> tuple[list[str], list[str]]:
        """The registered, active tenants among `tenant_ids` (through a tenant's own host: that one or none),
        and why each other one was left out."""
        tenants, dropped = [], []
        for tenant_id in tenant_ids:
            record = self.registry.load(tenant_id)
            if record is None:
                dropped.append(f"'{tenant_id}' is not a registered tenant")
            elif record.status != "active":
                dropped.append(f"tenant '{tenant_id}' is {record.status}")
            elif slug is None or record.slug == slug:
                tenants.append(tenant_id)
        return tenants, dropped

    def _is_member(self, membership: Membership, subject: str, tenant_id: str) -> bool:
        """Whether a membership from this source still holds (the tenant's status is checked apart).

        A claim is read only at sign-in: its tenants are the session's (checked by the caller)
        and the grant's. A sign-in allowed by the other source (the setting changed since) no
        longer holds: the source that allowed it is no longer the one in force.
        """
        if membership != self.membership:
            return False
        return membership == "idp_claim" or self.members.is_member(subject, tenant_id)

    def tenant_names(self, tenant_ids: Sequence[str]) -> dict[str, str]:
        names = {}
        for tenant_id in tenant_ids:
            record = self.registry.get(tenant_id)
            names[tenant_id] = record.display_name if record else tenant_id
        return names

    # --- 3. Consent (and the tenant choice) ----------------------------------------------------

    def consent(self, session_id: str | None, form: Params) -> str:
        """The redirect back to the client: a code for the chosen tenant, or access_denied."""
        session = self._session(session_id)
        csrf = _single(form, "csrf") or ""
        if not session.subject or not session.csrf or not secrets.compare_digest(csrf.encode(), session.csrf.encode()):
            self.audit("consent", "denied", "missing or wrong CSRF token", principal=session.client_id)
            raise OAuthError("invalid_request", "the form is stale or was not sent from this sign-in; start again")
        assert session_id is not None
        self.store.sessions.delete(session_id)  # one decision per session, whatever it is
        subject = session.subject
        if _single(form, "decision") != "allow":
            self.audit("consent", "denied", "the user denied access", principal=subject)
            raise self._to_client(session, "access_denied", "the user denied access")
        tenant_id = _single(form, "tenant") or (session.tenants[0] if len(session.tenants) == 1 else "")
        # Read again: the membership may have been removed while the page was open.
        if tenant_id not in session.tenants or not self._is_member(session.membership, subject, tenant_id):
            self.audit("consent", "denied", f"not a member of '{tenant_id[:64]}'", principal=subject)
            raise self._to_client(session, "access_denied", "you are not a member of the tenant you picked")
        self._require_active(tenant_id, lambda why: self._to_client(session, "access_denied", why))
        code = secrets.token_urlsafe(32)
        grant_id = secrets.token_urlsafe(12)
        self.store.codes.put(
            code,
            CodeRecord(
                client_id=session.client_id,
                redirect_uri=session.redirect_uri,
                code_challenge=session.code_challenge,
                resource=session.resource,
                scope=session.scope,
                subject=subject,
                tenant_id=tenant_id,
                grant_id=grant_id,
                expires_at=self._now() + self.lifetimes.code_seconds,
                membership=session.membership,
            ),
        )
        self.audit("consent", "allowed", f"code for client {session.client_id[:120]}", tenant_id, subject)
        values = {"code": code, "iss": self.url}
        if session.state is not None:
            values["state"] = session.state
        return with_query(session.redirect_uri, values)

    def _require_active(self, tenant_id: str, fail: Callable[[str], OAuthError]) -> None:
        record = self.registry.load(tenant_id)
        if record is None or record.status != "active":
            raise fail(f"tenant '{tenant_id}' is not active")

    def error_redirect(self, error: OAuthError) -> str:
        assert error.redirect_uri is not None
        values = {"error": error.error, "error_description": error.description, "iss": self.url}
        if error.state is not None:
            values["state"] = error.state
        return with_query(error.redirect_uri, values)

    # --- 4. Token endpoint ---------------------------------------------------------------------

    async def token(self, params: Params) -> dict[str, Any]:
        # One pass (Counter), whatever the number of fields.
        repeated = sorted(name for name, seen in Counter(key for key, _ in params).items() if seen > 1)
        if repeated:
            raise OAuthError("invalid_request", f"parameter(s) sent more than once: {', '.join(repeated)}")
        form = dict(params)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type[:40]}' is not supported")
        client_id = form.get("client_id")
        if not client_id:
            raise OAuthError("invalid_client", "client_id is missing (public clients identify themselves with it)")
        client = await self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", f"unknown client_id '{client_id[:80]}'")
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"this client is not registered for the {grant_type} grant")
        resource = form.get("resource")
        if resource is not None and self.audience_of(resource) is None:
            raise OAuthError("invalid_target", f"this server issues tokens only for {' or '.join(self.resources)}")
        if grant_type == "authorization_code":
            return self._redeem_code(form, client)
        return self._refresh(form, client)

    def _redeem_code(self, form: dict[str, str], client: Client) -> dict[str, Any]:
        code, verifier = form.get("code"), form.get("code_verifier")
        if not code:
            raise OAuthError("invalid_request", "code is missing")
        if not verifier:
            raise OAuthError("invalid_request", "code_verifier is missing (PKCE is required)")
        record = self.store.codes.get(code)
        if record is None:
            raise OAuthError("invalid_grant", "the authorization code is unknown or expired")
        # Every binding is checked before the code is marked used: a wrong guess burns nothing.
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the authorization code was issued to another client")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the one in the authorization request")
        resource = form.get("resource")
        if resource is not None and resource != record.resource:
            raise OAuthError("invalid_target", "resource differs from the one in the authorization request")
        if not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(s256(verifier), record.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        now = self._now()
        from_claim = record.membership == "idp_claim"
        lifetime = self.lifetimes.claim_absolute_seconds if from_claim else self.lifetimes.refresh_absolute_seconds
        grant = GrantRecord(
            grant_id=record.grant_id,
            tenant_id=record.tenant_id,
            subject=record.subject,
            client_id=client.client_id,
            expires_at=now + lifetime,
            membership=record.membership,
        )
        if record.used_at is not None or not self.store.codes.consume(code):
            # The real client presented it before: someone else holds a copy. End that sign-in. The
            # revocation is written whether or not the winner has written the grant yet: the winner
            # creates the grant only where none exists, so it sees this marker and issues nothing.
            self.store.revoke_grant_family(grant, "authorization code reused")
            self.audit("token", "denied", "authorization code reused; grant revoked", record.tenant_id, record.subject)
            raise OAuthError(
                "invalid_grant", "the authorization code was already used; tokens issued from it are revoked"
            )
        if not self.store.put_grant(grant):
            # A second redemption of this code got in between our consume and this write, and revoked it.
            self.audit("token", "denied", "authorization code reused meanwhile", record.tenant_id, record.subject)
            raise OAuthError("invalid_grant", "the authorization code was used twice; tokens from it are revoked")
        self.clients.used(client)
        self.audit("token", "allowed", "authorization code redeemed", record.tenant_id, record.subject)
        return self._issue(client.client_id, record.resource, record.scope, grant)

    def _refresh(self, form: dict[str, str], client: Client) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is missing")
        record = self.store.refresh_tokens.get(token)
        if record is None:
            raise OAuthError("invalid_grant", "the refresh token is unknown or expired; sign in again")
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        resource = form.get("resource")
        if resource is not None and resource != record.resource:
            raise OAuthError("invalid_target", "resource differs from the one this refresh token was issued for")
        scope = record.scope
        if form.get("scope"):
            wanted = form["scope"].split()
            if any(value not in record.scope.split() for value in wanted):
                raise OAuthError("invalid_scope", "a refresh may only narrow the scope that was granted")
            scope = " ".join(wanted)
        grant = self.store.get_grant(record.tenant_id, record.grant_id)
        if grant is None or grant.revoked:
            raise OAuthError("invalid_grant", "this sign-in was revoked or has ended; sign in again")
        if record.used_at is not None or not self.store.refresh_tokens.consume(token):
            # A rotated token came back: someone holds a copy. End the whole sign-in.
            self.store.revoke_grant(record.tenant_id, record.grant_id, "refresh token reused")
            self.audit("token", "denied", "refresh token reused; grant revoked", record.tenant_id, record.subject)
            raise OAuthError("invalid_grant", "the refresh token was already used; the sign-in is revoked")

        def ended(why: str) -> OAuthError:
            self.store.revoke_grant(record.tenant_id, record.grant_id, why)
            self.audit("token", "denied", f"refresh refused and grant revoked: {why}", record.tenant_id, record.subject)
            return OAuthError("invalid_grant", f"{why}; sign in again")

        # The user and the tenant are checked again at every refresh, not only at sign-in.
        if not self._is_member(grant.membership, record.subject, record.tenant_id):
            if grant.membership != self.membership:
                raise ended("memberships now come from " + _SOURCES[self.membership])
            raise ended(f"{record.subject} is no longer a member of tenant '{record.tenant_id}'")
        self._require_active(record.tenant_id, ended)
        # A client whose sign-ins keep refreshing is in use: without this a DCR client would expire
        # `unused_days` after its first sign-in, however often its refresh token is used.
        self.clients.used(client)
        self.audit("token", "allowed", "refresh token rotated", record.tenant_id, record.subject)
        return self._issue(client.client_id, record.resource, scope, grant)

    def _issue(self, client_id: str, resource: str, scope: str, grant: GrantRecord) -> dict[str, Any]:
        now = self._now()
        access_seconds = self.lifetimes.access_seconds
        access = self.signer.sign(
            {
                "iss": self.url,
                "aud": self.audience_of(resource) or resource,
                "sub": grant.subject,
                "client_id": client_id,
                "scope": scope,
                self._tenant_claim: grant.tenant_id,
                "iat": now,
                "nbf": now,
                "exp": now + access_seconds,
                "jti": secrets.token_urlsafe(16),
            }
        )
        refresh = secrets.token_urlsafe(32)
        self.store.refresh_tokens.put(
            refresh,
            RefreshRecord(
                client_id=client_id,
                resource=resource,
                scope=scope,
                subject=grant.subject,
                tenant_id=grant.tenant_id,
                grant_id=grant.grant_id,
                # Never past the end of the sign-in.
                expires_at=min(now + self.lifetimes.refresh_idle_seconds, grant.expires_at),
            ),
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": access_seconds,
            "scope": scope,
            "refresh_token": refresh,
        }
