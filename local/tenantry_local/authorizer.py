"""Emulates the API Gateway HTTP API JWT authorizer.

What the real one does (AWS docs, "Controlling access to HTTP APIs with JWT
authorizers"): takes the token from the Authorization header (with or without
"Bearer "), finds the signing key by `kid` in the issuer's JWKS, checks the
signature (RSA algorithms), `iss`, `aud` against the configured audiences (or
`client_id` when `aud` is absent), `exp`, `nbf` and `iat`, and answers a fixed
401 otherwise. Verified claims reach the function as strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK

__all__ = ["JwtAuthorizer", "Unauthorized", "stringify_claims"]


class Unauthorized(Exception):
    """The token is missing or did not verify; `str()` says why (for logs, never sent)."""


@dataclass
class JwtAuthorizer:
    issuer: str
    audiences: tuple[str, ...]
    # The issuer's JWKS, or how to read it now (API Gateway re-reads it as keys rotate).
    jwks: dict[str, Any] | Callable[[], dict[str, Any]]

    def verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise Unauthorized("no Authorization header")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from None
        alg = header.get("alg")
        if alg not in ("RS256", "RS384", "RS512"):
            raise Unauthorized(f"algorithm {alg!r} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(str(exc)) from None
        self._check_audience(claims)
        return claims

    def _key(self, kid: Any) -> PyJWK:
        jwks = self.jwks() if callable(self.jwks) else self.jwks
        for jwk in jwks.get("keys", []):
            if jwk.get("kid") == kid:
                return PyJWK(jwk)
        raise Unauthorized(f"no signing key with kid {kid!r}")

    def _check_audience(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        if aud is None:
            presented: Iterable[Any] = [claims.get("client_id")]
        else:
            presented = aud if isinstance(aud, list) else [aud]
        if not any(value in self.audiences for value in presented):
            raise Unauthorized("audience does not match")


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_as_string(v) for v in value) + "]"
    return str(value)


def stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the function receives them in `requestContext.authorizer.jwt.claims`."""
    return {name: _as_string(value) for name, value in claims.items()}
