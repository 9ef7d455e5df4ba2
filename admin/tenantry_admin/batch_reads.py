"""BatchGetItem for operator commands: 100 keys a request, what DynamoDB left unprocessed asked again."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tenantry.dal.items import from_attrs, to_attrs

if TYPE_CHECKING:  # boto3-stubs: types for mypy only
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["batch_get"]

_KEYS_PER_REQUEST = 100  # DynamoDB's limit for one BatchGetItem
_ATTEMPTS = 10


def batch_get(client: DynamoDBClient, table: str, keys: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The items of `keys` that exist (consistent reads), in no particular order."""
    for start in range(0, len(keys), _KEYS_PER_REQUEST):
        request: dict[str, Any] = {
            table: {"Keys": [to_attrs(k) for k in keys[start : start + _KEYS_PER_REQUEST]], "ConsistentRead": True}
        }
        for attempt in range(_ATTEMPTS):
            response = client.batch_get_item(RequestItems=request)
            yield from (from_attrs(item) for item in response.get("Responses", {}).get(table, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
            time.sleep(0.05 * 2**attempt)  # throttled: back off, then ask again for the rest
        else:
            raise RuntimeError(f"DynamoDB kept keys of {table} unprocessed after {_ATTEMPTS} attempts")
