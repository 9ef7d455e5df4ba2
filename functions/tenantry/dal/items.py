"""DynamoDB attribute values to and from plain Python values.

boto3's TypeSerializer/TypeDeserializer do this too, but importing them imports boto3 (and,
through it, s3transfer): about a tenth of a second of every cold start, for two small
functions. These follow boto3's rules exactly (tests/unit/test_items.py checks them against
boto3's on the same values): numbers go through the same decimal context (38 significant
digits, exponent -128..126, nothing rounded silently), floats are refused, `None` inside a
map or list is NULL, sets become SS/NS/BS. Reading differs from boto3 on purpose: numbers
come back as int (when integral) or float, sets as lists and binary as bytes, which is what
every caller wants.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, DecimalException, Inexact, Overflow, Rounded, Underflow
from typing import Any

from tenantry.errors import InvalidInputError

__all__ = ["from_attrs", "to_attrs"]

# DynamoDB's number type: 38 significant digits, exponent range as documented; trap anything inexact.
_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def to_attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values of an item; top-level `None` values are left out (the attribute is absent)."""
    try:
        return {k: _serialize(v) for k, v in values.items() if v is not None}
    except DecimalException:
        # A number DynamoDB cannot hold (more than 38 digits, out of range). Tools bound their
        # numbers; this is the backstop that keeps one from becoming a crash.
        raise InvalidInputError("A number is too large to store: use at most 38 significant digits.") from None


def from_attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserialize(v) for k, v in item.items()}


def _serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _serialize_set(value)
    if isinstance(value, Mapping):
        return {"M": {str(k): _serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_serialize(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value)!r} for value {value!r}")


def _number(value: int | Decimal) -> str:
    number = str(_NUMBERS.create_decimal(value))
    if number in ("Infinity", "-Infinity", "NaN", "sNaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _serialize_set(values: Set[Any]) -> dict[str, Any]:
    # As boto3 decides: a set of numbers (the empty set included) is NS, then SS, then BS.
    if all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in values):
        return {"NS": [_number(v) for v in values]}
    if all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if all(isinstance(v, bytes | bytearray) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise TypeError(f"Unsupported set {values!r}: members must all be numbers, strings or binary")


def _plain_number(text: str) -> int | float:
    number = _NUMBERS.create_decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _deserialize(attribute: Mapping[str, Any]) -> Any:
    if len(attribute) != 1:
        raise TypeError(f"An attribute value has exactly one type: {attribute!r}")
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return _plain_number(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(value)
    if kind == "M":
        return {k: _deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [_deserialize(v) for v in value]
    if kind == "SS":
        return list(value)
    if kind == "NS":
        return [_plain_number(v) for v in value]
    if kind == "BS":
        return [bytes(v) for v in value]
    raise TypeError(f"Unknown DynamoDB attribute type {kind!r}")
