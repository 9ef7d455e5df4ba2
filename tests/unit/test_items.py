"""dal/items.py converts as boto3's TypeSerializer/TypeDeserializer do (the runtime keeps boto3 off its imports)."""

from __future__ import annotations

from decimal import Decimal, DecimalException
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.errors import InvalidInputError

_ser, _de = TypeSerializer(), TypeDeserializer()

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: abs(d.adjusted()) < 140),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20), st.binary(max_size=20))
sets = st.one_of(
    st.frozensets(st.integers(-(10**6), 10**6), max_size=4).map(set),
    st.frozensets(st.text(max_size=5), min_size=1, max_size=4).map(set),
    st.frozensets(st.binary(min_size=1, max_size=5), min_size=1, max_size=4).map(set),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12,
)
items = st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=5)


def _boto3_plain(value: Any) -> Any:
    """What the runtime wants back from boto3's deserializer: int/float, lists for sets, bytes."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, dict):
        return {k: _boto3_plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_boto3_plain(v) for v in value]
    return value


def _boto3_to_attrs(item: dict[str, Any]) -> dict[str, Any] | type[Exception]:
    try:
        return {k: _ser.serialize(v) for k, v in item.items() if v is not None}
    except DecimalException:
        return InvalidInputError
    except TypeError:
        return TypeError


def _sorted_sets(value: Any) -> Any:
    """Set members have no order on the wire: compare them sorted."""
    if isinstance(value, dict):
        return {k: sorted(v, key=repr) if k in ("SS", "NS", "BS") else _sorted_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sorted_sets(v) for v in value]
    return value


@settings(max_examples=400, deadline=None)
@given(items)
def test_serializes_as_boto3_does(item: dict[str, Any]) -> None:
    expected = _boto3_to_attrs(item)
    if isinstance(expected, type):
        with pytest.raises(expected):
            to_attrs(item)
        return
    ours = to_attrs(item)
    assert _sorted_sets(ours) == _sorted_sets(expected)
    # And back: what boto3 reads from the same attributes, in the runtime's plain types.
    back = from_attrs(ours)
    boto3_back = {k: _boto3_plain(_de.deserialize(v)) for k, v in expected.items()}
    assert _sorted_sets_plain(back) == _sorted_sets_plain(boto3_back)


def _sorted_sets_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_sets_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_sorted_sets_plain(v) for v in value), key=repr)
    return value


@pytest.mark.parametrize(
    "value",
    [10**38 + 1, Decimal("1e-170"), Decimal("1e127"), Decimal("0." + "1" * 40)],
    ids=["39 digits", "exponent too small", "exponent too large", "40 significant digits"],
)
def test_a_number_dynamodb_cannot_hold_is_invalid_input_as_with_boto3(value: Any) -> None:
    with pytest.raises(DecimalException):
        _ser.serialize(value)
    with pytest.raises(InvalidInputError, match="38 significant digits"):
        to_attrs({"n": value})


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), object(), {1, "a"}])
def test_what_boto3_refuses_we_refuse(value: Any) -> None:
    with pytest.raises((TypeError, DecimalException)):
        _ser.serialize(value)
    with pytest.raises((TypeError, InvalidInputError)):
        to_attrs({"v": value})


def test_numbers_come_back_as_int_or_float() -> None:
    assert from_attrs({"a": {"N": "42"}, "b": {"N": "2.5"}, "c": {"N": "1E+3"}}) == {"a": 42, "b": 2.5, "c": 1000}
