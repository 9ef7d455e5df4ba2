"""The embedded moto keeps two DynamoDB guarantees the code relies on (local/tenantry_local/aws.py)."""

from __future__ import annotations

import uuid

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
