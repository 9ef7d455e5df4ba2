from __future__ import annotations

import base64
import json

import pytest

from tenantry.dal.keys import customer_key, customer_prefix, decode_cursor, encode_cursor
from tenantry.errors import InvalidInputError
from tenantry.tenancy.context import TenantContext


def _tenant(tenant_id: str) -> TenantContext:
    return TenantContext(tenant_id=tenant_id, slug="s", display_name="S", plan="free", principal="p", request_id="r")


A, B = _tenant("studio-a"), _tenant("studio-b")


def test_partition_key_is_exactly_the_tenant_id() -> None:
    # IAM LeadingKeys compares the whole partition key with the tenant_id principal tag.
    assert customer_key(A, "cus_1") == {"pk": "studio-a", "sk": "CUSTOMER#cus_1"}
    assert customer_key(B, "cus_1")["pk"] == "studio-b"
    assert customer_prefix(A) == ("studio-a", "CUSTOMER#")


@pytest.mark.parametrize(
    "bad_id",
    [
        "a#b",
        "a/b",
        "a%23b",
        "a\x00b",
        "a\nb",
        "\u0441us_1",  # Cyrillic es
        "cus_\uff11",  # full-width digit
        "x" * 65,
        "x" * 10_000,
        "",
        "studio-b#CUSTOMER#cus_1",
    ],
)
def test_ids_that_could_bend_a_key_are_refused(bad_id: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        customer_key(A, bad_id)
    assert len(str(refused.value)) < 200  # a 10 KB id is not echoed back


def test_cursor_round_trip_is_opaque_and_tenant_bound() -> None:
    cursor = encode_cursor(A, {"pk": "studio-a", "sk": "CUSTOMER#cus_9"})
    assert "studio-a" not in cursor
    assert decode_cursor(A, cursor, "CUSTOMER#") == {"pk": "studio-a", "sk": "CUSTOMER#cus_9"}
    with pytest.raises(InvalidInputError, match="cursor is not valid"):
        decode_cursor(B, cursor, "CUSTOMER#")


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "x" * 600,
        _forge([1, 2]),
        _forge({"v": 2}),
        _forge({"v": 1, "t": "0" * 16, "s": "CUSTOMER#cus_1"}),
    ],
)
def test_malformed_or_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_cursor(A, cursor, "CUSTOMER#")


def test_edited_cursor_cannot_leave_the_prefix_or_partition() -> None:
    good = json.loads(base64.urlsafe_b64decode(encode_cursor(A, {"sk": "CUSTOMER#c"}) + "=="))
    for sort_key in ("SECRET#x", "CUSTOMER#a#b", "CUSTOMER#"):
        with pytest.raises(InvalidInputError):
            decode_cursor(A, _forge({**good, "s": sort_key}), "CUSTOMER#")
    # Whatever a cursor says, the partition comes from the tenant context.
    assert decode_cursor(A, _forge({**good, "pk": "studio-b"}), "CUSTOMER#")["pk"] == "studio-a"
