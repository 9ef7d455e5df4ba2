"""A local token issuer standing in for the deployed authorization server.

Its RSA key is kept in the state directory so tokens minted by `tenantry token`
are accepted by a running `tenantry local`.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["DEFAULT_SCOPE", "DevIssuer"]

DEFAULT_SCOPE = "mcp:tools"


class DevIssuer:
    def __init__(self, issuer: str, audience: str, key: rsa.RSAPrivateKey, kid: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = key
        self.kid = kid

    @classmethod
    def load_or_create(cls, state_dir: Path, issuer: str, audience: str) -> DevIssuer:
        path = state_dir / "dev-issuer-key.pem"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA key; delete it to make a new one")
            key = loaded
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        kid = _thumbprint(key)
        return cls(issuer, audience, key, kid)

    @classmethod
    def ephemeral(cls, issuer: str, audience: str) -> DevIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(issuer, audience, key, _thumbprint(key))

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

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
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    numbers = key.public_key().public_numbers()
    return f"dev-{numbers.n % (1 << 48):012x}"
