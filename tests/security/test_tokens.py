"""Forged, altered and misplaced tokens never reach the function.

Layer under test: the API Gateway JWT authorizer (emulated by tenantry_local.authorizer,
which follows the documented behaviour). Each attack goes over HTTP through the
emulator and must get the authorizer's fixed 401 and write nothing.

Emulator tests: what they check is tenantry_local's authorizer, not API Gateway's; they say
the product is safe only as far as the emulator matches AWS (marked `emulator`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tenantry_local.authorizer import CLOCK_LEEWAY_SECONDS
from tenantry_local.issuer import DevIssuer
from tenantry_local.platform import LocalPlatform
from tests.security.conftest import ACCEPT, post, rpc, snapshot
from tests.tls import CLIENT_TLS

pytestmark = pytest.mark.emulator


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _claims(platform: LocalPlatform, tenant_id: str) -> dict[str, Any]:
    return jwt.decode(platform.token(tenant_id), options={"verify_signature": False})


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes, digest: Any) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return signing_input + "." + _b64(signature)


def _assert_refused_and_nothing_written(
    platform: LocalPlatform, token: str | None, victim: Any, **headers: str
) -> httpx.Response:
    before = snapshot(platform, victim)
    response = post(platform, token, rpc("create_customer", {"name": "Mallory", "customer_id": "planted"}), **headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert snapshot(platform, victim) == before
    return response


def test_v01_unsigned_token_is_rejected(platform: LocalPlatform, victim: Any) -> None:
    claims = _claims(platform, victim.tenant_id)
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": platform.issuer.kid}).encode())
    # A token that claims RS256 but whose signature was stripped (empty third part).
    stripped = f"{header}.{_b64(json.dumps(claims).encode())}."
    _assert_refused_and_nothing_written(platform, stripped, victim)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_v02_alg_none_token_is_rejected(platform: LocalPlatform, victim: Any, alg: str) -> None:
    claims = _claims(platform, victim.tenant_id)
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": platform.issuer.kid}).encode())
    _assert_refused_and_nothing_written(platform, f"{header}.{_b64(json.dumps(claims).encode())}.", victim)


@pytest.mark.parametrize(("alg", "digest"), [("HS256", hashlib.sha256), ("HS512", hashlib.sha512)])
def test_v03_hs256_signed_with_public_key_pem_is_rejected(
    platform: LocalPlatform, victim: Any, alg: str, digest: Any
) -> None:
    # Algorithm confusion: the verifier's public key, used as an HMAC secret.
    public = jwt.PyJWK(platform.issuer.jwks()["keys"][0]).key
    secrets = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        json.dumps(platform.issuer.jwks()["keys"][0]).encode(),
    ]
    for secret in secrets:
        token = _hand_signed(
            {"alg": alg, "typ": "JWT", "kid": platform.issuer.kid},
            _claims(platform, victim.tenant_id),
            secret,
            digest,
        )
        _assert_refused_and_nothing_written(platform, token, victim)


def test_v04_unknown_kid_is_rejected(platform: LocalPlatform, victim: Any) -> None:
    attacker_issuer = DevIssuer.ephemeral(platform.issuer.issuer, platform.issuer.audience)
    # Signed by a key the issuer never published, under a kid it does not have, or none at all.
    for kid in ("attacker-key-1", "", None):
        headers: dict[str, Any] = {} if kid is None else {"kid": kid}
        claims = _claims(platform, victim.tenant_id)
        token = jwt.encode(claims, attacker_issuer.signer.key, algorithm="RS256", headers=headers)
        if kid is None:
            assert "kid" not in jwt.get_unverified_header(token)
        _assert_refused_and_nothing_written(platform, token, victim)


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "x'; DROP TABLE keys; --",
        "dev-*",
        "http://169.254.169.254/latest/meta-data/",
        "\u0000",
    ],
)
def test_v05_kid_header_injection_is_rejected(platform: LocalPlatform, victim: Any, kid: str) -> None:
    # Whatever the kid says, it is only ever compared with the published kids: no lookup by path or query.
    forged_with_hmac = _hand_signed(
        {"alg": "HS256", "kid": kid}, _claims(platform, victim.tenant_id), b"", hashlib.sha256
    )
    attacker = DevIssuer.ephemeral(platform.issuer.issuer, platform.issuer.audience)
    forged_with_rsa = jwt.encode(
        _claims(platform, victim.tenant_id), attacker.signer.key, algorithm="RS256", headers={"kid": kid}
    )
    for token in (forged_with_hmac, forged_with_rsa):
        _assert_refused_and_nothing_written(platform, token, victim)


def test_v06_embedded_jwk_and_jku_headers_are_ignored(platform: LocalPlatform, victim: Any) -> None:
    # The attacker ships its own key in the header (jwk) or points at its own key set (jku, x5u).
    attacker = DevIssuer.ephemeral(platform.issuer.issuer, platform.issuer.audience)
    attacker_jwk = attacker.jwks()["keys"][0]
    for extra in (
        {"jwk": attacker_jwk},
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": attacker_jwk, "kid": attacker.kid},
    ):
        headers = {"kid": attacker.kid, **extra}
        token = jwt.encode(_claims(platform, victim.tenant_id), attacker.signer.key, algorithm="RS256", headers=headers)
        _assert_refused_and_nothing_written(platform, token, victim)


def test_v07_expired_token_is_rejected(platform: LocalPlatform, victim: Any) -> None:
    # Past the clock-skew allowance the JWT authorizer gives (a token is accepted a little after exp,
    # as API Gateway's is: docs/upstream-notes.md), then long past it.
    for ttl in (-CLOCK_LEEWAY_SECONDS - 2, -3600, -30 * 86400):
        _assert_refused_and_nothing_written(platform, platform.token(victim.tenant_id, ttl_seconds=ttl), victim)
    # No exp at all: the authorizer requires it.
    claims = _claims(platform, victim.tenant_id)
    del claims["exp"]
    token = platform.issuer.sign_jws({"alg": "RS256", "typ": "JWT", "kid": platform.issuer.kid}, claims)
    _assert_refused_and_nothing_written(platform, token, victim)


def test_v08_not_yet_valid_token_is_rejected(platform: LocalPlatform, victim: Any) -> None:
    future = int(time.time()) + 600
    token = platform.token(victim.tenant_id, extra={"nbf": future, "iat": future})
    _assert_refused_and_nothing_written(platform, token, victim)


@pytest.mark.parametrize(
    "audience",
    [
        "https://other-service.example.com/mcp",
        "",
        ["https://other-service.example.com/mcp"],
        "{audience}/",
        "{audience}.attacker.example",
    ],
)
def test_v09_wrong_audience_is_rejected(platform: LocalPlatform, victim: Any, audience: Any) -> None:
    if isinstance(audience, str):
        audience = audience.format(audience=platform.issuer.audience)
    _assert_refused_and_nothing_written(platform, platform.token(victim.tenant_id, extra={"aud": audience}), victim)


@pytest.mark.parametrize("issuer", ["https://evil.example.com", "{issuer}/", "{issuer}.evil.example", None])
def test_v10_wrong_issuer_is_rejected(platform: LocalPlatform, victim: Any, issuer: str | None) -> None:
    claims = _claims(platform, victim.tenant_id)
    if issuer is None:
        del claims["iss"]
    else:
        claims["iss"] = issuer.format(issuer=platform.issuer.issuer)
    token = platform.issuer.sign_jws({"alg": "RS256", "typ": "JWT", "kid": platform.issuer.kid}, claims)
    _assert_refused_and_nothing_written(platform, token, victim)


def test_v11_tampered_tenant_claim_breaks_the_signature(platform: LocalPlatform, victim: Any, bystander: Any) -> None:
    attacker = bystander
    genuine = platform.token(attacker.tenant_id)
    header, payload, signature = genuine.split(".")
    claims = json.loads(_unb64(payload))
    claims["tenant_id"] = victim.tenant_id
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    _assert_refused_and_nothing_written(platform, tampered, victim)
    # The untampered token still works, for the attacker's own tenant only.
    ok = post(platform, genuine, rpc("get_tenant_profile", {}))
    assert ok.json()["result"]["structuredContent"]["tenant_id"] == attacker.tenant_id


def test_v12_token_outside_the_authorization_header_is_not_accepted(platform: LocalPlatform, victim: Any) -> None:
    token = platform.token(victim.tenant_id)
    before = snapshot(platform, victim)
    body = json.dumps(rpc("create_customer", {"name": "Mallory", "customer_id": "planted"}))
    attempts = [
        {"params": {"access_token": token}, "headers": {}},
        {"params": {"token": token, "authorization": f"Bearer {token}"}, "headers": {}},
        {"params": {}, "headers": {"cookie": f"access_token={token}; authorization=Bearer {token}"}},
        {"params": {}, "headers": {"x-access-token": token, "x-amz-security-token": token}},
        {"params": {}, "headers": {"proxy-authorization": f"Bearer {token}"}},
    ]
    for attempt in attempts:
        response = httpx.post(
            platform.mcp_url,
            params=attempt["params"],
            content=body,
            headers={"content-type": "application/json", "accept": ACCEPT, **attempt["headers"]},
            timeout=30,
            verify=CLIENT_TLS,
        )
        assert response.status_code == 401, attempt
        assert response.json() == {"message": "Unauthorized"}
    # And in the JSON-RPC body itself (params._meta): still no Authorization header, still 401.
    in_body = rpc("create_customer", {"name": "Mallory", "customer_id": "planted"})
    in_body["params"]["_meta"] = {"authorization": f"Bearer {token}", "access_token": token}
    assert post(platform, None, in_body).status_code == 401
    assert snapshot(platform, victim) == before
