"""Mint bearer tokens for the local server without a sign-in (`tenantry token`, tests).

They are signed by the same KMS key (moto's) as the authorization server's tokens, so the
emulated JWT authorizer treats both alike. `ephemeral` makes an issuer with its own
in-process key, for tests that need a token from a key the server never published.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tenantry.oauth.signing import jwk_of, thumbprint

__all__ = ["DEFAULT_SCOPE", "DevIssuer", "LocalKeySigner"]

DEFAULT_SCOPE = "mcp:tools"


class LocalKeySigner:
    """An RSA key in this process: for forged-token tests only, never trusted by the server."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def kid(self) -> str:
        return thumbprint(self.key.public_key())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk_of(self.key.public_key())]}

    def sign(self, claims: Mapping[str, Any], typ: str = "at+jwt") -> str:
        return self.sign_jws({"alg": "RS256", "typ": typ, "kid": self.kid()}, claims)

    def sign_jws(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.key, algorithm="RS256", headers=dict(header))


class DevIssuer:
    def __init__(self, issuer: str, audience: str, signer: Any) -> None:
        self.issuer = issuer
        self.audience = audience
        self.signer = signer

    @classmethod
    def ephemeral(cls, issuer: str, audience: str) -> DevIssuer:
        return cls(issuer, audience, LocalKeySigner())

    @property
    def kid(self) -> str:
        return str(self.signer.kid())

    def jwks(self) -> dict[str, Any]:
        result: dict[str, Any] = self.signer.jwks()
        return result

    def sign_jws(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """Any header and claims, signed by this issuer's key (tests forge with it)."""
        return str(self.signer.sign_jws(header, claims))

    def mint(
        self,
        tenant_id: str | None,
        subject: str = "dev-user",
        ttl_seconds: int = 12 * 3600,
        scope: str = DEFAULT_SCOPE,
        extra: dict[str, Any] | None = None,
        tenant_claim: str = "tenant_id",
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "scope": scope,
            "client_id": "tenantry-local",
        }
        if tenant_id is not None:
            claims[tenant_claim] = tenant_id
        claims.update(extra or {})
        return str(self.signer.sign(claims))
