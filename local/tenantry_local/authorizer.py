"""Emulates the API Gateway HTTP API JWT authorizer.

What the real one does (AWS docs, "Controlling access to HTTP APIs with JWT
authorizers"): takes the token from the Authorization header (with or without
"Bearer "), finds the signing key by `kid` in the issuer's JWKS (fetched over
HTTP and cached: tenantry_local.jwks), checks the signature (RSA algorithms),
`iss`, `aud` against the configured audiences (or `client_id` when `aud` is
absent), `exp`, `nbf` and `iat`, and answers a fixed 401 otherwise. It checks
nothing else: a numeric `sub` or `jti` passes. Verified claims reach the
function as strings (`render_claims`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from jwt import PyJWK

from tenantry_local.jwks import KeySetUnavailable, StaticKeySet

__all__ = ["CLOCK_LEEWAY_SECONDS", "JwtAuthorizer", "KeySet", "Unauthorized", "render_claims", "token_scopes"]

# AWS documents no clock-skew allowance; a token a few seconds "early" or "late" is not refused
# there in practice (docs/upstream-notes.md), so the emulator allows a little rather than none.
CLOCK_LEEWAY_SECONDS = 60


class Unauthorized(Exception):
    """The token is missing or did not verify; `str()` says why (for logs, never sent)."""

    def __init__(self, reason: str, *, token_sent: bool = True) -> None:
        super().__init__(reason)
        # AWS answers a request with no token with a bare `Bearer` challenge, a bad one with more.
        self.token_sent = token_sent


class KeySet(Protocol):
    async def find(self, kid: Any) -> dict[str, Any] | None: ...


@dataclass
class JwtAuthorizer:
    issuer: str
    audiences: tuple[str, ...]
    # Where the issuer's keys come from: over HTTP as API Gateway reads them (HttpKeySet), or a
    # fixed set / callable for tests of the authorizer alone.
    keys: KeySet | dict[str, Any] | Callable[[], dict[str, Any]]
    leeway: int = CLOCK_LEEWAY_SECONDS
    _key_set: KeySet = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key_set = StaticKeySet(self.keys) if isinstance(self.keys, dict) or callable(self.keys) else self.keys

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        elif token.lower() == "bearer":
            token = ""
        if not token:
            raise Unauthorized("no token in the Authorization header", token_sent=False)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from None
        alg = header.get("alg")
        if alg not in ("RS256", "RS384", "RS512"):
            raise Unauthorized(f"algorithm {alg!r} is not accepted")
        try:
            jwk = await self._key_set.find(header.get("kid"))
        except KeySetUnavailable as exc:
            raise Unauthorized(f"signing keys unavailable: {exc}") from None
        if jwk is None:
            raise Unauthorized(f"no signing key with kid {header.get('kid')!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=PyJWK(jwk).key,
                algorithms=[alg],
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": False, "verify_sub": False, "verify_jti": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(str(exc)) from None
        self._check_audience(claims)
        return claims

    def _check_audience(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        if aud is None:
            presented: Iterable[Any] = [claims.get("client_id")]
        else:
            presented = aud if isinstance(aud, list) else [aud]
        if not any(value in self.audiences for value in presented):
            raise Unauthorized("audience does not match")


def token_scopes(claims: dict[str, Any]) -> list[str]:
    """Scopes from `scope` (space-separated) or `scp` (string or list), as the JWT authorizer reads them."""
    found: list[str] = []
    for name in ("scope", "scp"):
        value = claims.get(name)
        items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
        found.extend(str(item) for item in items if str(item) not in found)
    return found


def _render(value: Any) -> str:
    # The format AWS's captures show: arrays as `[a b]`, booleans lower case, integers without a
    # decimal point; objects the same way (`map[k:v]`, keys sorted), null as an empty string.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_render(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def render_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the function receives them in `requestContext.authorizer.jwt.claims`."""
    return {name: _render(value) for name, value in claims.items()}
