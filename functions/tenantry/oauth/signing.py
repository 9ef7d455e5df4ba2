"""RS256 JWTs signed by a KMS asymmetric key (RSA, SIGN_VERIFY); the JWKS from kms:GetPublicKey.

The private key never leaves KMS. `kid` is the RFC 7638 thumbprint of the public key, so it
follows the key, not a name.

Rotation is the order of the key ids (TENANTRY_SIGNING_KEY_IDS): the FIRST signs; every id after
it is verification-only and is published in the JWKS, in the order given. The stack lists the
signing key, then the staged next key (published before any token names it, so API Gateway's
cached key set already holds it when it starts signing), then the previous key (published until
the tokens it signed expire); infra/constructs/auth.py and docs/deploy.md. A key that cannot be
read (GetPublicKey refused: disabled, pending deletion, no permission) fails signing if it is the
signing key, and otherwise is left out of the JWKS with an error logged: one retired key must
not take the whole key set down, since the JWT authorizer then verifies no token at all.

Caching never serves a stale set: the set is the list of ids, fixed per container by its
environment (a deploy that changes it starts new containers), and what is cached per id is that
KMS key's public key, which never changes. The JWKS response itself may be cached for
JWKS_MAX_AGE_SECONDS by whoever reads it; API Gateway keeps its own copy up to an hour or two
(docs/upstream-notes.md), which is what the waits in the rotation procedure cover.

The signing input is sent whole (MessageType RAW, at most 4,096 bytes; our tokens are well
under 2 KB): moto signs RAW correctly but hashes a DIGEST again (docs/upstream-notes.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

__all__ = ["JWKS_CACHE_SECONDS", "JWKS_MAX_AGE_SECONDS", "KmsSigner", "Signer", "b64url", "jwk_of", "thumbprint"]

# How long a container keeps a key's public key (it never changes; the bound only limits memory of
# keys no longer listed, which cannot happen within one container).
JWKS_CACHE_SECONDS = 3600
# Cache-Control max-age of the JWKS response: a reader may hold the set this long, so a staged key
# must be published at least this long (plus API Gateway's own cache) before it signs.
JWKS_MAX_AGE_SECONDS = 300
_LOG = logging.getLogger(__name__)
_MAX_RAW_MESSAGE = 4096


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def thumbprint(public: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an RSA public key."""
    numbers = public.public_numbers()
    canonical = json.dumps({"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def jwk_of(public: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = public.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": thumbprint(public),
        "n": _int_b64(numbers.n),
        "e": _int_b64(numbers.e),
    }


def _compact(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


class Signer(Protocol):
    def sign(self, claims: Mapping[str, Any], typ: str = "at+jwt") -> str: ...

    def jwks(self) -> dict[str, Any]: ...


class KmsSigner:
    def __init__(
        self,
        kms: KMSClient,
        key_ids: Sequence[str],
        cache_seconds: float = JWKS_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key_ids:
            raise ValueError("at least one signing key id is required")
        self._kms = kms
        self._key_ids = list(key_ids)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._keys: dict[str, tuple[float, rsa.RSAPublicKey]] = {}
        self._lock = threading.Lock()

    def _public_key(self, key_id: str) -> rsa.RSAPublicKey:
        now = self._clock()
        with self._lock:
            cached = self._keys.get(key_id)
        if cached and cached[0] > now:
            return cached[1]
        response = self._kms.get_public_key(KeyId=key_id)
        public = load_der_public_key(response["PublicKey"])
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError(f"KMS key {key_id} is not an RSA key; the JWT authorizer accepts RSA only")
        with self._lock:
            self._keys[key_id] = (now + self._cache_seconds, public)
        return public

    def kid(self) -> str:
        return thumbprint(self._public_key(self.signing_key_id))

    @property
    def signing_key_id(self) -> str:
        return self._key_ids[0]

    @property
    def verification_key_ids(self) -> list[str]:
        """Published but never used to sign: the staged next key and the previous one."""
        return self._key_ids[1:]

    def jwks(self) -> dict[str, Any]:
        keys = [jwk_of(self._public_key(self.signing_key_id))]
        for key_id in self.verification_key_ids:
            try:
                keys.append(jwk_of(self._public_key(key_id)))
            except ClientError as error:
                # Not cached: the next JWKS request asks KMS again.
                _LOG.error(
                    "verification key %s left out of the JWKS: KMS refused GetPublicKey (%s); "
                    "remove it from TENANTRY_SIGNING_KEY_IDS or restore it",
                    key_id,
                    error.response.get("Error", {}).get("Code", "unknown"),
                )
        return {"keys": keys}

    def sign(self, claims: Mapping[str, Any], typ: str = "at+jwt") -> str:
        return self.sign_jws({"alg": "RS256", "typ": typ, "kid": self.kid()}, claims)

    def sign_jws(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """Sign any header and claims with the active key (the tests forge headers with it)."""
        signing_input = f"{_compact(dict(header))}.{_compact(dict(claims))}".encode("ascii")
        if len(signing_input) > _MAX_RAW_MESSAGE:
            raise ValueError("the token is too large for kms:Sign with MessageType RAW")
        response = self._kms.sign(
            KeyId=self.signing_key_id,
            Message=signing_input,
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )
        return signing_input.decode("ascii") + "." + b64url(response["Signature"])
