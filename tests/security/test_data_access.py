"""A verified tenant reaching for another tenant's items, keys and pages.

Layers under test: the tool argument schema (id pattern), the dal's single key
builder (partition == the context's tenant id, ids validated again), conditional
writes (no upserts), and tenant-bound opaque cursors.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tenantry.errors import InvalidInputError, NotFoundError
from tenantry.logic.customers import CustomerChanges, CustomerFields
from tenantry.tenancy.context import tenant_scope
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import assert_does_not_name, post, rpc, seed_customers, snapshot, tool_text


def _normalised(response: Any, customer_id: str) -> str:
    return json.dumps(response.json(), sort_keys=True).replace(customer_id, "<ID>")


def test_v19_another_tenants_customer_id_on_get_update_delete(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "vip", "cus_victim01")
    before_victim = snapshot(platform, victim)
    token = platform.token(attacker.tenant_id)
    for customer_id in ("vip", "cus_victim01"):
        for name, extra in (
            ("get_customer", {}),
            ("update_customer", {"name": "Hijacked", "notes": "pwned"}),
            ("update_customer", {"membership": "annual", "expected_version": 1}),
            ("delete_customer", {}),
        ):
            is_error, text, data = tool_text(post(platform, token, rpc(name, {"customer_id": customer_id, **extra})))
            assert is_error and data is None, (name, text)
            assert text == f"Error executing tool {name}: No customer with id '{customer_id}'."
            assert_does_not_name(text, victim, f"{name} foreign id")
    assert snapshot(platform, victim) == before_victim, "the victim's customers changed"
    assert snapshot(platform, attacker) == {}, "update upserted into the attacker's partition"


def test_v20_creating_the_victims_id_neither_overwrites_nor_reveals_it(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    # Ids are per tenant: "already exists" for a foreign id would be an existence oracle.
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "vip")
    before_victim = snapshot(platform, victim)
    token = platform.token(attacker.tenant_id)
    is_error, _, data = tool_text(post(platform, token, rpc("create_customer", {"name": "Mine", "customer_id": "vip"})))
    assert not is_error and data["name"] == "Mine" and data["version"] == 1
    assert snapshot(platform, victim) == before_victim
    assert snapshot(platform, attacker)["vip"]["name"] == "Mine"


def test_v21_same_answer_for_missing_and_someone_elses(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, victim, "victims-id")
    token = platform.token(attacker.tenant_id)
    calls = [
        ("get_customer", {}),
        ("update_customer", {"name": "X"}),
        ("update_customer", {"name": "X", "expected_version": 1}),
        ("update_customer", {"name": "X", "expected_version": 99}),
        ("delete_customer", {}),
    ]
    for name, extra in calls:
        foreign = post(platform, token, rpc(name, {"customer_id": "victims-id", **extra}))
        missing = post(platform, token, rpc(name, {"customer_id": "nobody-here", **extra}))
        # Byte for byte the same JSON-RPC answer (status, structure, text), once the id is normalised.
        assert foreign.status_code == missing.status_code == 200
        assert _normalised(foreign, "victims-id") == _normalised(missing, "nobody-here"), name
        assert_does_not_name(foreign.text, victim, f"{name} existence probe")
    # The service layer answers the same way too: same error class, same text.
    with tenant_scope(context_for(attacker)):
        service = platform.services.customers
        for probe in (
            lambda cid: service.get(cid),
            lambda cid: service.update(cid, CustomerChanges(name="X")),
            lambda cid: service.delete(cid),
        ):
            answers = []
            for customer_id in ("victims-id", "nobody-here"):
                with pytest.raises(NotFoundError) as raised:
                    probe(customer_id)
                answers.append(str(raised.value).replace(customer_id, "<ID>"))
            assert answers[0] == answers[1]


def _pages(platform: LocalPlatform, token: str, limit: int = 1) -> list[tuple[list[str], str | None]]:
    pages = []
    cursor = None
    while True:
        arguments: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        is_error, text, data = tool_text(post(platform, token, rpc("list_customers", arguments)))
        assert not is_error, text
        cursor = data.get("next_cursor")
        pages.append(([c["customer_id"] for c in data["customers"]], cursor))
        if not cursor:
            return pages


def _cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return decoded


def _tag(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:16]


def test_v22_cursor_edited_to_point_at_another_tenants_partition(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, attacker, "a1", "a2", "a3")
    seed_customers(platform, victim, "v1", "v2", "v3")
    token = platform.token(attacker.tenant_id)
    genuine = _pages(platform, token)[0][1]
    assert genuine is not None
    payload = _decode(genuine)
    edited = [
        # Retargeted at the victim: its tag (computable: it is a hash of a known id), extra partition fields.
        payload | {"t": _tag(victim.tenant_id)},
        payload | {"pk": victim.tenant_id, "p": victim.tenant_id, "partition": victim.tenant_id},
        payload | {"s": f"{victim.tenant_id}#CUSTOMER#v1"},
        payload | {"s": "CUSTOMER#v1#" + victim.tenant_id},
        payload | {"s": {"S": "CUSTOMER#v1"}},
        payload | {"s": "CUSTOMER#../../" + victim.tenant_id},
        {"pk": {"S": victim.tenant_id}, "sk": {"S": "CUSTOMER#v1"}},
        payload | {"v": 2},
    ]
    # The tenant tag is what turns a cursor retargeted at another tenant into a clear error
    # (the partition never comes from a cursor, so without the tag it would quietly page the caller's own data).
    retargeted = post(platform, token, rpc("list_customers", {"limit": 10, "cursor": _cursor(edited[0])}))
    is_error, text, _ = tool_text(retargeted)
    assert is_error and text.endswith("The cursor is not valid for this list. Start again without a cursor.")
    for forged in edited:
        response = post(platform, token, rpc("list_customers", {"limit": 10, "cursor": _cursor(forged)}))
        is_error, text, data = tool_text(response)
        if is_error:
            assert text.endswith("The cursor is not valid for this list. Start again without a cursor."), forged
            assert_does_not_name(text, victim, "edited cursor")
        else:  # accepted extra fields are ignored: the partition is never taken from a cursor
            ids = {c["customer_id"] for c in data["customers"]}
            assert ids <= {"a1", "a2", "a3"}, forged
    # Raw bytes that are not even our format.
    for garbage in ("%00", "eyJ2IjoxfQ", "A" * 600, "../../etc/passwd", "e30"):
        is_error, text, _ = tool_text(post(platform, token, rpc("list_customers", {"cursor": garbage})))
        assert is_error, garbage


def test_v23_cursor_replayed_by_another_tenant_is_refused(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, attacker, "a1", "a2")
    seed_customers(platform, victim, "v1", "v2", "v3")
    victim_token, attacker_token = platform.token(victim.tenant_id), platform.token(attacker.tenant_id)
    victim_cursors = [cursor for _, cursor in _pages(platform, victim_token) if cursor]
    assert len(victim_cursors) == 2
    for cursor in victim_cursors:  # e.g. leaked from a shared chat transcript
        assert victim.tenant_id not in cursor and victim.slug not in cursor
        is_error, text, data = tool_text(post(platform, attacker_token, rpc("list_customers", {"cursor": cursor})))
        assert is_error and data is None
        assert text.endswith("The cursor is not valid for this list. Start again without a cursor.")
        assert_does_not_name(text, victim, "replayed cursor")
    # ...and the other way round.
    attacker_cursor = _pages(platform, attacker_token)[0][1]
    is_error, _, _ = tool_text(post(platform, victim_token, rpc("list_customers", {"cursor": attacker_cursor})))
    assert is_error


def _injections(victim_id: str) -> dict[str, str]:
    return {
        "hash": "vip#x",
        "sort-key-prefix": "CUSTOMER#vip",
        "victim-partition": f"{victim_id}#CUSTOMER#vip",
        "slash": "a/vip",
        "traversal": "../vip",
        "percent-encoded-hash": "%23vip",
        "percent-nul": "vip%00",
        "nul": "vip\x00",
        "newline": "vip\n",
        "crlf": "vip\r\nx-tenant-id: evil",
        "tab": "vip\t",
        "del": "vip\x7f",
        "cyrillic-i": "v\u0456p",
        "fullwidth": "\uff56\uff49\uff50",
        "zero-width": "vi\u200bp",
        "rtl-override": "\u202epiv",
        "combining": "vip\u0301",
        "10kb": "v" * 10240,
        "65-chars": "v" * 65,
        "empty": "",
        "space": "vip ",
        "json": '{"S":"vip"}',
        "wildcard": "*",
    }


ID_TOOLS = {
    "get_customer": {},
    "update_customer": {"name": "Hijacked"},
    "delete_customer": {},
    "create_customer": {"name": "Planted"},
}


def test_v24_key_injection_in_ids_on_every_id_taking_tool(platform: LocalPlatform, new_tenant: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, attacker, "vip")  # a look-alike must never address this one
    seed_customers(platform, victim, "vip")
    before = snapshot(platform, attacker), snapshot(platform, victim)
    token = platform.token(attacker.tenant_id)
    for label, value in _injections(victim.tenant_id).items():
        for tool, extra in ID_TOOLS.items():
            response = post(platform, token, rpc(tool, {"customer_id": value, **extra}))
            is_error, text, data = tool_text(response)
            assert is_error and data is None, (tool, label, text)
            assert "customer_id" in text, (tool, label, text)
            assert len(response.content) < 2048, f"{tool} {label}: the answer reflects the whole input"
            assert_does_not_name(text, victim, f"{tool} {label}", sent=value)
    assert (snapshot(platform, attacker), snapshot(platform, victim)) == before


def test_v25_key_injection_is_refused_again_below_the_tool_schema(platform: LocalPlatform, new_tenant: Any) -> None:
    # Defence in depth: a future tool without the schema pattern still cannot build a bad key.
    attacker, victim = new_tenant(), new_tenant()
    seed_customers(platform, attacker, "vip")
    seed_customers(platform, victim, "vip")
    before = snapshot(platform, attacker), snapshot(platform, victim)
    service = platform.services.customers
    with tenant_scope(context_for(attacker)):
        for label, value in _injections(victim.tenant_id).items():
            if label == "empty":
                continue  # create() treats an empty id as "generate one"; the tool schema refuses it
            attempts = {
                "get": lambda v=value: service.get(v),
                "update": lambda v=value: service.update(v, CustomerChanges(name="Hijacked")),
                "delete": lambda v=value: service.delete(v),
                "create": lambda v=value: service.create(CustomerFields(name="Planted"), v),
            }
            for operation, attempt in attempts.items():
                with pytest.raises(InvalidInputError) as raised:
                    attempt()
                assert len(str(raised.value)) < 300, f"{operation} {label}: the error reflects the whole input"
    assert (snapshot(platform, attacker), snapshot(platform, victim)) == before
