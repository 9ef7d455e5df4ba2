"""Tenant secrets: a stolen ciphertext is useless elsewhere, and plaintext never shows.

Layers under test: KMS encryption context {tenant_id, secret_name} (moto's KMS does
enforce the context), the guard (the copy can only land in the copier's own
partition), and the secret store / tools never returning or logging plaintext.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

# A plain import: a moved module must fail the suite, not skip the KMS encryption-context vectors.
from tenantry.dal import secrets as secrets_module
from tenantry.dal.items import to_attrs
from tenantry.errors import ConflictError
from tenantry.logic.notifications import WEBHOOK_SECRET
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import assert_does_not_name, post, rpc, seed_customers, tool_text, unique

SecretUnavailableError = secrets_module.SecretUnavailableError


def _copy_secret(platform: LocalPlatform, source: Any, target: Any, name: str, as_name: str) -> None:
    """What an attacker with write access to its own partition can do with a leaked item."""
    source_ctx, target_ctx = context_for(source, platform), context_for(target, platform)
    item = platform.services.clients.dynamodb(source_ctx).get_item(
        TableName=source_ctx.data_table, Key=to_attrs({"pk": source.tenant_id, "sk": f"SECRET#{name}"})
    )["Item"]
    copied = item | {"pk": {"S": target.tenant_id}, "sk": {"S": f"SECRET#{as_name}"}, "name": {"S": as_name}}
    platform.services.clients.dynamodb(target_ctx).put_item(TableName=target_ctx.data_table, Item=copied)


def test_v39_secret_ciphertext_copied_to_another_tenant_does_not_decrypt(
    platform: LocalPlatform, new_tenant: Any, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    owner, thief = new_tenant(), new_tenant()
    token = unique("tok")
    webhook = f"{url}/hooks/{owner.tenant_id}?token={token}"
    store = platform.services.secret_store
    store.set(context_for(owner, platform), WEBHOOK_SECRET, webhook)
    _copy_secret(platform, owner, thief, WEBHOOK_SECRET, WEBHOOK_SECRET)

    # The store refuses it...
    with pytest.raises(SecretUnavailableError) as refused:
        store.reveal(context_for(thief, platform), WEBHOOK_SECRET)
    assert token not in str(refused.value) and owner.tenant_id not in str(refused.value)
    # ...and so does KMS itself, with the thief's credentials and the thief's context.
    blob = platform.services.clients.dynamodb(context_for(owner, platform)).get_item(
        TableName="tenantry-data", Key=to_attrs({"pk": owner.tenant_id, "sk": f"SECRET#{WEBHOOK_SECRET}"})
    )["Item"]["ciphertext"]["B"]
    kms = platform.services.clients.kms(context_for(thief, platform))
    for context in (
        {"tenant_id": thief.tenant_id, "secret_name": WEBHOOK_SECRET},
        {"tenant_id": thief.tenant_id},
        {},
    ):
        with pytest.raises(ClientError) as denied:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert denied.value.response["Error"]["Code"] == "InvalidCiphertextException"

    # ...and so does the tool that would use it: no webhook call, no URL in the answer.
    seed_customers(platform, thief, "mark")
    response = post(
        platform,
        platform.token(thief.tenant_id),
        rpc("send_booking_notification", {"customer_id": "mark", "class_name": "Spin", "starts_at": "2026-12-01"}),
    )
    is_error, text, _ = tool_text(response)
    assert is_error and "cannot be decrypted" in text
    assert token not in response.text and url not in response.text
    assert_does_not_name(text, owner, "copied secret")
    assert received == []
    # The owner's secret still works for the owner.
    assert store.reveal(context_for(owner, platform), WEBHOOK_SECRET) == webhook


def test_v40_secret_ciphertext_moved_to_another_name_does_not_decrypt(platform: LocalPlatform, new_tenant: Any) -> None:
    # Within one tenant too: the name is in the context, so a low-value slot cannot unwrap a high-value secret.
    tenant = new_tenant()
    ctx = context_for(tenant, platform)
    store = platform.services.secret_store
    store.set(ctx, "payments_api_key", "sk_live_" + unique("v"))
    _copy_secret(platform, tenant, tenant, "payments_api_key", WEBHOOK_SECRET)
    with pytest.raises(SecretUnavailableError):
        store.reveal(ctx, WEBHOOK_SECRET)


def test_v41_other_tenants_secrets_are_not_listed(platform: LocalPlatform, new_tenant: Any) -> None:
    owner, other = new_tenant(), new_tenant()
    name = "crm_" + unique("k").replace("-", "_")
    info = platform.services.secret_store.set(context_for(owner, platform), name, "value-" + unique("v"))
    response = post(platform, platform.token(other.tenant_id), rpc("list_integration_secrets", {}))
    is_error, _, data = tool_text(response)
    assert not is_error and data == {"secrets": []}
    assert name not in response.text and info.fingerprint not in response.text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_v42_secret_plaintext_never_reaches_logs_or_answers(
    platform: LocalPlatform,
    new_tenant: Any,
    receiver: tuple[str, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tenantry_logs: Any,
) -> None:
    url, received = receiver
    owner, thief = new_tenant(), new_tenant()
    secret_token = unique("s3cr3t")
    values = {
        "ok": f"{url}/hooks/ok?token={secret_token}-ok",
        "unreachable": f"http://127.0.0.1:{_closed_port()}/hooks?token={secret_token}-down",
        "not-https": f"http://hooks.example.com/x?token={secret_token}-http",
    }
    caplog.set_level(logging.DEBUG, logger="tenantry")
    caplog.set_level(logging.INFO)
    store = platform.services.secret_store
    answers: list[str] = []
    owner_ctx = context_for(owner, platform)
    seed_customers(platform, owner, "gus")
    seed_customers(platform, thief, "mark")
    token = platform.token(owner.tenant_id)
    booking = rpc("send_booking_notification", {"customer_id": "gus", "class_name": "Spin", "starts_at": "2026-12-01"})
    for i, value in enumerate(values.values()):
        store.set(owner_ctx, WEBHOOK_SECRET, value, rotate=i > 0)
        answers.append(post(platform, token, booking).text)
        answers.append(post(platform, token, rpc("list_integration_secrets", {})).text)
        answers.append(json.dumps([s.model_dump() for s in store.list(owner_ctx)]))
    # A thief's failed decrypt of a copied ciphertext, and the errors on its side.
    _copy_secret(platform, owner, thief, WEBHOOK_SECRET, WEBHOOK_SECRET)
    answers.append(post(platform, platform.token(thief.tenant_id), booking | {"id": 9}).text)
    # Rotating over an existing one and deleting: their errors must not echo values either.
    with pytest.raises(ConflictError) as conflict:
        store.set(owner_ctx, WEBHOOK_SECRET, values["ok"])
    answers.append(str(conflict.value))

    assert len(received) == 1, "the working webhook was called once"
    captured = capsys.readouterr()
    haystacks = {
        "caplog": caplog.text,
        "tenantry logger": json.dumps(tenantry_logs.lines),
        "stdout": captured.out,
        "stderr": captured.err,
        "answers": "\n".join(answers),
    }
    for where, text in haystacks.items():
        assert secret_token not in text, f"a secret value appeared in {where}"
