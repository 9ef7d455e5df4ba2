"""Who the user is: delegated to an upstream OpenID Connect provider through one pre-configured client.

The authorization server never sees a password. It sends the browser to the provider
(authorization code + PKCE S256 + nonce), takes the code back on `/callback`, exchanges it
with the client secret, verifies the ID token (signature from the provider's JWKS, `iss`,
`aud` = our client id, `exp`, `nonce`) and reads the user's identity from one claim. Only that
verified token is read: never the userinfo endpoint nor the access token, which this client
does not verify. With TENANTRY_OIDC_TENANTS_CLAIM, the user's tenants come from the same
verified token (claim_tenants.py).

By default that claim is `email`, which must come with `email_verified: true`: memberships
are keyed by the address an operator types into `tenantry members add`. Trust only a
provider whose verified emails you trust (docs/oauth.md, threat model).

Deployed, the provider is the stack's Cognito user pool (managed login) or any OIDC provider
(Auth0, Okta, Entra ID); locally, the dev sign-in page implements the same protocol.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx2
import jwt

from tenantry.errors import OAuthError

__all__ = ["IdentityProvider", "OidcProvider", "UpstreamUser", "s256"]

_TIMEOUT = 5.0
_DISCOVERY_SECONDS = 3600


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class UpstreamUser:
    user: str  # the membership key
    display: str  # what the consent page shows
    # The ID token's claims, read only after its signature, issuer, audience, expiry and nonce
    # verified: where memberships come from when TENANTRY_OIDC_TENANTS_CLAIM names one of them.
    claims: Mapping[str, Any] = field(default_factory=dict)


class IdentityProvider(Protocol):
    async def authorization_url(self, state: str, nonce: str, verifier: str, redirect_uri: str) -> str: ...

    async def complete(
        self, params: Mapping[str, str], nonce: str, verifier: str, redirect_uri: str
    ) -> UpstreamUser: ...


class OidcProvider:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: Callable[[], str],
        user_claim: str = "email",
        scopes: str = "openid email profile",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._user_claim = user_claim
        self._scopes = scopes
        self._clock = clock
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, jwt.PyJWKSet] | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with httpx2.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as http:
            response = await http.get(url, headers={"accept": "application/json"})
        if response.status_code != 200:
            raise OAuthError("server_error", f"the identity provider answered HTTP {response.status_code}", 502)
        document = response.json()
        if not isinstance(document, dict):
            raise OAuthError("server_error", "the identity provider sent an unexpected document", 502)
        return document

    async def _config(self) -> dict[str, Any]:
        now = self._clock()
        if self._discovery and self._discovery[0] > now:
            return self._discovery[1]
        document = await self._get_json(self.issuer + "/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise OAuthError("server_error", "the identity provider's discovery names another issuer", 502)
        self._discovery = (now + _DISCOVERY_SECONDS, document)
        return document

    async def _keys(self, refresh: bool = False) -> jwt.PyJWKSet:
        now = self._clock()
        if self._jwks and self._jwks[0] > now and not refresh:
            return self._jwks[1]
        config = await self._config()
        keys = jwt.PyJWKSet.from_dict(await self._get_json(str(config["jwks_uri"])))
        self._jwks = (now + _DISCOVERY_SECONDS, keys)
        return keys

    async def authorization_url(self, state: str, nonce: str, verifier: str, redirect_uri: str) -> str:
        config = await self._config()
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": self._scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return f"{config['authorization_endpoint']}?{urlencode(query)}"

    async def complete(self, params: Mapping[str, str], nonce: str, verifier: str, redirect_uri: str) -> UpstreamUser:
        if params.get("error"):
            raise OAuthError("access_denied", f"the identity provider refused the sign-in ({params['error']})")
        code = params.get("code")
        if not code:
            raise OAuthError("access_denied", "the identity provider returned no code")
        config = await self._config()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        secret = await asyncio.get_running_loop().run_in_executor(None, self._client_secret)
        async with httpx2.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as http:
            response = await http.post(str(config["token_endpoint"]), data=form, auth=(self._client_id, secret))
        if response.status_code != 200:
            raise OAuthError("access_denied", "the identity provider did not accept the sign-in code")
        id_token = response.json().get("id_token")
        if not isinstance(id_token, str):
            raise OAuthError("access_denied", "the identity provider returned no ID token")
        claims = await self._verify(id_token)
        if claims.get("nonce") != nonce:
            raise OAuthError("access_denied", "the identity provider's answer belongs to another sign-in")
        return self._user(claims)

    async def _verify(self, id_token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            keys = await self._keys()
            if kid not in {key.key_id for key in keys.keys}:
                keys = await self._keys(refresh=True)  # the provider rotated its keys
            key = next(key for key in keys.keys if key.key_id == kid)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384"],
                audience=self._client_id,
                issuer=(await self._config())["issuer"],
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, StopIteration):
            raise OAuthError("access_denied", "the identity provider's ID token did not verify") from None
        return claims

    def _user(self, claims: Mapping[str, Any]) -> UpstreamUser:
        value = claims.get(self._user_claim)
        if not isinstance(value, str) or not value.strip():
            raise OAuthError("access_denied", f"the identity provider did not say who you are ({self._user_claim})")
        if self._user_claim == "email" and claims.get("email_verified") not in (True, "true"):
            raise OAuthError("access_denied", "your email address is not verified with the identity provider")
        user = value.strip().lower() if self._user_claim == "email" else value.strip()
        name = claims.get("name")
        display = f"{name} <{user}>" if isinstance(name, str) and name else user
        return UpstreamUser(user=user, display=display, claims=dict(claims))
