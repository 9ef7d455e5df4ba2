"""The local identity provider: a dev sign-in page standing in for Cognito (or Auth0, Okta, Entra).

It implements the runtime's IdentityProvider interface the way an OIDC provider does:
`authorization_url` sends the browser to `/dev/sign-in` with state, nonce and a PKCE
challenge; picking a demo user there redirects to the authorization server's `/callback`
with a one-time code; `complete` redeems the code, checking nonce, PKCE and redirect URI.
No password: this runs only on a laptop. Who may act for which tenant is NOT decided here:
the members table decides, exactly as deployed (seeded from DEMO_USERS), or, with
TENANTRY_OIDC_TENANTS_CLAIM (`./dev local --tenants-claim`), the claim this provider puts in
each user's claims, as Cognito, Auth0 or Okta would in the ID token: the user's tenants under
that name (with the prefix), or what a user's `claims` say instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tenantry.errors import OAuthError
from tenantry.oauth.upstream import UpstreamUser, s256

__all__ = ["DEMO_USERS", "SIGN_IN_PATH", "DemoUser", "DevIdentityProvider"]

SIGN_IN_PATH = "/dev/sign-in"
# Nothing loads or runs, and no framing. No form-action: like an identity provider's sign-in page,
# this form's answer goes to the authorization server's /callback, which for a user of no tenant
# redirects on to the client, an origin this page cannot know. Chromium and Safari check
# form-action on every redirect after a form post, so listing only 'self' would strand that user
# on this page instead of returning them to the client with error=access_denied (docs/oauth.md).
PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    tenants: tuple[str, ...]  # seeded into the members table; the tenants claim, in claim mode
    # More claims of this user's ID token, overriding the provider's (e.g. {"groups": ["tenantry-acme"]}).
    claims: Mapping[str, Any] = field(default_factory=dict)


DEMO_USERS = (
    DemoUser("owner@ironworks.example", "Ines Owner (Ironworks Gym)", ("ironworks-gym",)),
    DemoUser("owner@lotus.example", "Lou Owner (Lotus Yoga)", ("lotus-yoga",)),
    DemoUser("owner@summit.example", "Sam Owner (Summit Climbing)", ("summit-climbing",)),
    # One person serving three studios: the tenant is picked on the consent page, per token.
    DemoUser("accountant@books.example", "Alex Accountant", ("ironworks-gym", "lotus-yoga", "summit-climbing")),
    # Signs in but is a member of nothing: must get no token.
    DemoUser("visitor@nowhere.example", "Vic Visitor (no tenant)", ()),
)


@dataclass
class _Pending:
    email: str
    nonce: str
    challenge: str
    redirect_uri: str
    expires_at: float


class DevIdentityProvider:
    def __init__(
        self,
        base_url: str,
        users: tuple[DemoUser, ...] = DEMO_USERS,
        tenants_claim: str | None = None,
        tenants_prefix: str = "",
    ) -> None:
        self._base = base_url.rstrip("/")
        # Public: a test signs in as a user of its own by adding one.
        self.users = {user.email: user for user in users}
        self.tenants_claim = tenants_claim
        self.tenants_prefix = tenants_prefix
        self._codes: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    # --- IdentityProvider -----------------------------------------------------------------------

    async def authorization_url(self, state: str, nonce: str, verifier: str, redirect_uri: str) -> str:
        query = {"state": state, "nonce": nonce, "code_challenge": s256(verifier), "redirect_uri": redirect_uri}
        return f"{self._base}{SIGN_IN_PATH}?{urlencode(query)}"

    async def complete(self, params: Mapping[str, str], nonce: str, verifier: str, redirect_uri: str) -> UpstreamUser:
        with self._lock:
            pending = self._codes.pop(params.get("code", ""), None)
        if pending is None or pending.expires_at < time.time():
            raise OAuthError("access_denied", "the dev sign-in code is unknown or expired")
        if pending.nonce != nonce or pending.challenge != s256(verifier) or pending.redirect_uri != redirect_uri:
            raise OAuthError("access_denied", "the dev sign-in answer belongs to another sign-in")
        user = self.users[pending.email]
        return UpstreamUser(user=user.email, display=f"{user.name} <{user.email}>", claims=self.claims_of(user))

    def claims_of(self, user: DemoUser) -> dict[str, Any]:
        """What an OIDC provider's verified ID token would say of this user."""
        claims: dict[str, Any] = {"sub": user.email, "email": user.email, "email_verified": True, "name": user.name}
        if self.tenants_claim:
            claims[self.tenants_claim] = [self.tenants_prefix + tenant_id for tenant_id in user.tenants]
        return claims | dict(user.claims)

    # --- the page -------------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def page(request: Request) -> Response:
            fields = {k: request.query_params.get(k, "") for k in ("state", "nonce", "code_challenge", "redirect_uri")}
            if request.method == "POST":
                try:
                    # Five fields are sent; a cap like the authorization server's forms (oauth/app.py).
                    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), max_num_fields=16))
                except ValueError:
                    return HTMLResponse("<p>The sign-in form has too many fields.</p>", status_code=400)
                fields = {k: form.get(k, "") for k in fields}
                email = form.get("email", "")
                if email not in self.users or not fields["redirect_uri"].startswith(self._base + "/"):
                    return HTMLResponse("<p>Unknown user or sign-in request.</p>", status_code=400)
                code = secrets.token_urlsafe(24)
                with self._lock:
                    now = time.time()
                    self._codes = {k: v for k, v in self._codes.items() if v.expires_at > now}
                    self._codes[code] = _Pending(
                        email, fields["nonce"], fields["code_challenge"], fields["redirect_uri"], now + 120
                    )
                target = f"{fields['redirect_uri']}?{urlencode({'code': code, 'state': fields['state']})}"
                return RedirectResponse(target, status_code=302)
            hidden = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items())
            buttons = "".join(
                f'<button name="email" value="{escape(u.email)}">{escape(u.name)} &lt;{escape(u.email)}&gt;</button>'
                for u in self.users.values()
            )
            source = (
                f"the <code>{escape(self.tenants_claim)}</code> claim this page puts in their ID token"
                if self.tenants_claim
                else "the members table (<code>tenantry members list</code>)"
            )
            return HTMLResponse(
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dev sign-in</title></head><body>'
                "<h1>Tenantry local: dev sign-in</h1><p>Stands in for your identity provider. Pick who signs in; "
                f"their tenants come from {source}.</p>"
                f'<form method="post" action="{SIGN_IN_PATH}">{hidden}{buttons}</form></body></html>',
                headers={
                    "cache-control": "no-store",
                    "x-frame-options": "DENY",
                    "content-security-policy": PAGE_CSP,
                    "referrer-policy": "no-referrer",
                },
            )

        return Starlette(routes=[Route(SIGN_IN_PATH, page, methods=["GET", "POST"])])
