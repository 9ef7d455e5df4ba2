"""Signing-key rotation as the signer sees it: the first key id signs, the others are only published.

The stack goes through three lists of key ids (infra/constructs/auth.py, docs/deploy.md):
[N] -> [N, N+1] (N+1 staged) -> [N+1, N]. The keys are KMS keys in the embedded moto.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import jwt
import pytest

from tenantry.oauth.signing import KmsSigner
from tenantry_local.aws import create_signing_key, local_client
from tenantry_local.platform import LocalPlatform


@pytest.fixture
def kms(platform: LocalPlatform) -> Any:  # the platform starts the embedded moto the keys live in
    return local_client("kms")


def _new_key() -> str:
    return create_signing_key(f"alias/tenantry-rotation-{uuid.uuid4().hex[:8]}")


def _kids(signer: KmsSigner) -> list[str]:
    return [key["kid"] for key in signer.jwks()["keys"]]


def _verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id == kid]
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
    return claims


def test_the_first_id_signs_and_every_id_is_published_in_order(kms: Any) -> None:
    first, second, third = _new_key(), _new_key(), _new_key()
    signer = KmsSigner(kms, [first, second, third])
    assert signer.signing_key_id == first and signer.verification_key_ids == [second, third]
    kids = _kids(signer)
    assert len(set(kids)) == 3
    token = signer.sign({"sub": "someone"})
    assert jwt.get_unverified_header(token)["kid"] == kids[0] == signer.kid()
    assert _verify(token, signer.jwks())["sub"] == "someone"


def test_a_staged_key_is_published_before_it_signs_and_the_old_key_after(kms: Any) -> None:
    current, upcoming = _new_key(), _new_key()
    staged = KmsSigner(kms, [current, upcoming])  # signing_key_next=true
    before = staged.sign({"sub": "before"})
    staged_jwks = staged.jwks()

    raised = KmsSigner(kms, [upcoming, current])  # signing_key_generation raised by one
    after = raised.sign({"sub": "after"})
    # What a verifier cached from the staged deploy already verifies the new key's tokens...
    assert _verify(after, staged_jwks)["sub"] == "after"
    # ...and the raised deploy still verifies what the old key signed until then.
    assert _verify(before, raised.jwks())["sub"] == "before"
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]


def test_an_unreadable_verification_key_is_left_out_not_the_whole_set(
    kms: Any, caplog: pytest.LogCaptureFixture
) -> None:
    signing, previous = _new_key(), _new_key()
    # A key KMS will not hand out (moto answers NotFound; a disabled or deletion-pending key answers
    # DisabledException or KMSInvalidStateException on AWS, which take the same path).
    signer = KmsSigner(kms, [signing, "alias/tenantry-no-such-key", previous])
    with caplog.at_level(logging.ERROR, logger="tenantry.oauth.signing"):
        jwks = signer.jwks()
    # The signing key and the readable previous key are still published: current tokens keep verifying.
    assert [key["kid"] for key in jwks["keys"]] == [signer.kid(), KmsSigner(kms, [previous]).kid()]
    assert "alias/tenantry-no-such-key" in caplog.text and "NotFoundException" in caplog.text


def test_an_unreadable_signing_key_fails_loudly(kms: Any) -> None:
    signer = KmsSigner(kms, ["alias/tenantry-no-such-key", _new_key()])
    with pytest.raises(kms.exceptions.NotFoundException):
        signer.jwks()
