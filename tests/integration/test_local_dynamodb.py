"""The embedded moto keeps two DynamoDB guarantees the code relies on (local/tenantry_local/aws.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform


def test_a_replayed_transaction_with_the_same_client_request_token_is_not_applied_twice(
    platform: LocalPlatform,
) -> None:
    """DynamoDB treats a TransactWriteItems token seen in the last 10 minutes as done; botocore's retries of a
    timed-out call reuse the token. Without this, a retry after a slow success reported 'already exists'."""
    client = local_client("dynamodb")
    key = {"pk": {"S": f"idem-{uuid.uuid4().hex[:8]}"}, "sk": {"S": "X"}}
    request = {
        "TransactItems": [
            {
                "Put": {
                    "TableName": platform.settings.data_table,
                    "Item": {**key, "n": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ],
        "ClientRequestToken": uuid.uuid4().hex,
    }
    client.transact_write_items(**request)
    client.transact_write_items(**request)  # the replay: answered as done, condition not re-checked
    item = client.get_item(TableName=platform.settings.data_table, Key=key)["Item"]
    assert item["n"] == {"N": "1"}

    # A new token is a new transaction: the condition applies again.
    again = {**request, "ClientRequestToken": uuid.uuid4().hex}
    try:
        client.transact_write_items(**again)
    except client.exceptions.TransactionCanceledException:
        pass
    else:
        raise AssertionError("a second transaction with a new token must meet the condition")


def _key(name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"undo-{uuid.uuid4().hex[:8]}"}, "sk": {"S": name}}


def _put(table: str, key: dict[str, Any], n: int, condition: str | None = None) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": table, "Item": {**key, "n": {"N": str(n)}}}
    return {"Put": put | ({"ConditionExpression": condition} if condition else {})}


def _add(table: str, key: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    return {"Update": update | ({"ConditionExpression": condition} if condition else {})}


def test_a_cancelled_transaction_leaves_every_item_it_touched_as_it_was(platform: LocalPlatform) -> None:
    """The local platform undoes a cancelled transaction item by item (not by moto's copy of the whole table)."""
    client, table = local_client("dynamodb"), platform.settings.data_table
    existing, counter, new = _key("existing"), _key("counter"), _key("new")
    client.put_item(TableName=table, Item={**existing, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={**counter, "n": {"N": "5"}})

    # Applied in order until the last action's condition fails: the add and the put must come undone.
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                _add(table, counter),
                _put(table, new, 1),
                _put(table, existing, 2, condition="attribute_not_exists(pk)"),
            ]
        )
    assert client.get_item(TableName=table, Key=counter, ConsistentRead=True)["Item"]["n"] == {"N": "5"}
    assert "Item" not in client.get_item(TableName=table, Key=new, ConsistentRead=True)
    assert client.get_item(TableName=table, Key=existing, ConsistentRead=True)["Item"]["n"] == {"N": "1"}

    # Refused outright (two actions on one item) after the first was applied: undone as well.
    with pytest.raises(ClientError, match="multiple operations on one item"):
        client.transact_write_items(TransactItems=[_put(table, new, 1), _add(table, new)])
    assert "Item" not in client.get_item(TableName=table, Key=new, ConsistentRead=True)

    # And a transaction that meets its conditions is applied whole.
    client.transact_write_items(TransactItems=[_add(table, counter), _put(table, new, 7, "attribute_not_exists(pk)")])
    assert client.get_item(TableName=table, Key=counter, ConsistentRead=True)["Item"]["n"] == {"N": "6"}
    assert client.get_item(TableName=table, Key=new, ConsistentRead=True)["Item"]["n"] == {"N": "7"}
