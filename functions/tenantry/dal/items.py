"""DynamoDB attribute-value conversion with boto3's own (de)serializers."""

from __future__ import annotations

from decimal import Decimal, DecimalException
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tenantry.errors import InvalidInputError

__all__ = ["from_attrs", "to_attrs"]

_ser = TypeSerializer()
_de = TypeDeserializer()


def to_attrs(values: dict[str, Any]) -> dict[str, Any]:
    try:
        return {k: _ser.serialize(v) for k, v in values.items() if v is not None}
    except DecimalException:
        # boto3 raises decimal.Rounded/Overflow for numbers DynamoDB cannot hold (38 digits); tools bound
        # their numbers, this is the backstop that keeps one from becoming a crash.
        raise InvalidInputError("A number is too large to store: use at most 38 significant digits.") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def from_attrs(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}
