"""No answer to a cross-tenant attempt names the other tenant.

Runs last (file name): it checks every error text the suite's attacks collected
(tests/security/conftest.py: assert_does_not_name), after a battery of its own so
that it is meaningful when run alone too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tenantry_local.platform import LocalPlatform
from tests.security.conftest import ERROR_TEXTS, assert_does_not_name, post, rpc, victim_markers


def _cursor_for(tenant_id: str) -> str:
    payload = {"v": 1, "t": hashlib.sha256(tenant_id.encode()).hexdigest()[:16], "s": "CUSTOMER#vip"}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_v44_error_messages_never_name_another_tenant(
    platform: LocalPlatform, new_tenant: Any, victim: Any, tenantry_logs: Any
) -> None:
    attacker = new_tenant()
    token = platform.token(attacker.tenant_id)
    attempts: list[tuple[str, Any, dict[str, str]]] = [
        ("get foreign", rpc("get_customer", {"customer_id": "vip"}), {}),
        ("update foreign", rpc("update_customer", {"customer_id": "vip", "name": "X", "expected_version": 1}), {}),
        ("delete foreign", rpc("delete_customer", {"customer_id": "cus_victim01"}), {}),
        ("victim's cursor", rpc("list_customers", {"cursor": _cursor_for(victim.tenant_id)}), {}),
        ("spoofed header", rpc("list_customers", {}), {"x-tenant-id": victim.tenant_id}),
        (
            "booking foreign customer",
            rpc("send_booking_notification", {"customer_id": "vip", "class_name": "Spin", "starts_at": "now"}),
            {},
        ),
        ("profile with spoof", rpc("get_tenant_profile", {}), {"x-tenant-id": victim.slug}),
    ]
    for where, message, headers in attempts:
        response = post(platform, token, message, **headers)
        body = response.json()
        text = body["error"]["message"] if "error" in body else body["result"]["content"][0]["text"]
        assert "error" in body or body["result"]["isError"], where
        assert_does_not_name(text, victim, where, sent=message)
        assert_does_not_name(response.text, victim, where + " (whole answer)", sent=message)

    # Everything collected across the suite: no victim marker the attacker did not send itself.
    leaks = [
        (where, marker)
        for where, text, record, echoed in ERROR_TEXTS
        for marker in victim_markers(record)
        if marker in text and marker not in echoed
    ]
    assert leaks == []
    assert len(ERROR_TEXTS) >= len(attempts) * 2
    # And the logs of these refusals do not carry the victim either (they name the token's tenant).
    for line in tenantry_logs.lines:
        for marker in victim_markers(victim):
            assert marker not in json.dumps(line), line
