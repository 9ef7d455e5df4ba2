"""A bug (or an injected code path) that builds a request for another tenant's data.

Layer under test: the in-process botocore guard on tenant-scoped DynamoDB clients
(isolation/guard.py), on the production path (TenantClients, with audit), with real
victim items in moto. tests/integration/test_isolation_layers.py covers the basic
operations with made-up ids; these vectors aim at real tenants, placement tables,
expression tricks, and every operation of the DynamoDB API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tenantry.dal.items import to_attrs

# A plain import: a moved module must fail the suite, not skip its vectors.
from tenantry.isolation import guard
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import make_tenant, snapshot

CrossTenantAccessError = guard.CrossTenantAccessError
POOL = "tenantry-data"


def _attacker_client(platform: LocalPlatform, attacker: Any) -> tuple[Any, list[str]]:
    """The attacker's own production client (assumed credentials, guard, audit), watched at the wire."""
    client = platform.services.clients.dynamodb(context_for(attacker, platform))
    sent: list[str] = []
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(request.url))
    return client, sent


def _key(tenant_id: str, customer_id: str = "vip") -> dict[str, Any]:
    return to_attrs({"pk": tenant_id, "sk": f"CUSTOMER#{customer_id}"})


def _hand_built(victim: str, attacker: str) -> dict[str, Callable[[Any], Any]]:
    own = {"S": attacker}
    return {
        "GetItem": lambda c: c.get_item(TableName=POOL, Key=_key(victim)),
        "PutItem": lambda c: c.put_item(TableName=POOL, Item=_key(victim) | {"name": {"S": "pwned"}}),
        "UpdateItem": lambda c: c.update_item(
            TableName=POOL,
            Key=_key(victim),
            UpdateExpression="SET #n = :n",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":n": {"S": "pwned"}},
        ),
        "DeleteItem": lambda c: c.delete_item(TableName=POOL, Key=_key(victim)),
        "Query": lambda c: c.query(
            TableName=POOL, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": victim}}
        ),
        "Query-paginator": lambda c: list(
            c.get_paginator("query").paginate(
                TableName=POOL, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": victim}}
            )
        ),
        "BatchGetItem": lambda c: c.batch_get_item(
            RequestItems={POOL: {"Keys": [_key(attacker, "mine"), _key(victim)]}}
        ),
        "BatchWriteItem": lambda c: c.batch_write_item(
            RequestItems={
                POOL: [{"PutRequest": {"Item": _key(attacker, "mine")}}, {"DeleteRequest": {"Key": _key(victim)}}]
            }
        ),
        # One WriteRequest with two members: the own Put must not carry the victim's Delete through.
        "BatchWriteItem-put-and-delete-in-one-request": lambda c: c.batch_write_item(
            RequestItems={
                POOL: [{"PutRequest": {"Item": _key(attacker, "mine")}, "DeleteRequest": {"Key": _key(victim)}}]
            }
        ),
        "BatchWriteItem-delete-and-put-in-one-request": lambda c: c.batch_write_item(
            RequestItems={
                POOL: [{"DeleteRequest": {"Key": _key(victim)}, "PutRequest": {"Item": _key(attacker, "mine")}}]
            }
        ),
        "BatchWriteItem-empty-request": lambda c: c.batch_write_item(RequestItems={POOL: [{}]}),
        "TransactGetItems": lambda c: c.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": POOL, "Key": _key(attacker, "mine")}},
                {"Get": {"TableName": POOL, "Key": _key(victim)}},
            ]
        ),
        "TransactWriteItems-update": lambda c: c.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": POOL,
                        "Key": _key(victim),
                        "UpdateExpression": "SET #n = :n",
                        "ExpressionAttributeNames": {"#n": "name"},
                        "ExpressionAttributeValues": {":n": {"S": "pwned"}},
                    }
                }
            ]
        ),
        "TransactWriteItems-conditioncheck": lambda c: c.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": POOL, "Item": _key(attacker, "mine")}},
                {
                    "ConditionCheck": {
                        "TableName": POOL,
                        "Key": _key(victim),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        ),
        "Scan": lambda c: c.scan(TableName=POOL),
        "Scan-filtered-to-own": lambda c: c.scan(
            TableName=POOL, FilterExpression="pk = :p", ExpressionAttributeValues={":p": own}
        ),
        "ExecuteStatement": lambda c: c.execute_statement(
            Statement=f'SELECT * FROM "{POOL}" WHERE pk = ?', Parameters=[{"S": victim}]
        ),
        "BatchExecuteStatement": lambda c: c.batch_execute_statement(
            Statements=[
                {
                    "Statement": f'DELETE FROM "{POOL}" WHERE pk = ? AND sk = ?',
                    "Parameters": [{"S": victim}, {"S": "CUSTOMER#vip"}],
                }
            ]
        ),
        "ExecuteTransaction": lambda c: c.execute_transaction(
            TransactStatements=[
                {
                    "Statement": f"UPDATE \"{POOL}\" SET name = 'pwned' WHERE pk = ? AND sk = ?",
                    "Parameters": [{"S": victim}, {"S": "CUSTOMER#vip"}],
                }
            ]
        ),
    }


OPERATIONS = sorted(_hand_built("v", "a"))


@pytest.fixture(scope="module")
def attacker(platform: LocalPlatform) -> Any:
    return make_tenant(platform)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_v35_guard_refuses_hand_built_requests_for_a_real_victims_items(
    platform: LocalPlatform, attacker: Any, victim: Any, operation: str
) -> None:
    before = snapshot(platform, victim)
    client, sent = _attacker_client(platform, attacker)
    with pytest.raises(CrossTenantAccessError) as refused:
        _hand_built(victim.tenant_id, attacker.tenant_id)[operation](client)
    assert sent == [], "the request left the process"
    assert victim.tenant_id not in str(refused.value)
    assert snapshot(platform, victim) == before
    # Audited under the attacker's tenant (whose code misbehaved), never in the victim's trail.
    trail = platform.services.audit.recent(attacker.tenant_id)
    assert trail and trail[0].outcome == "denied" and "cross_tenant_guard" in trail[0].reason
    assert platform.services.audit.recent(victim.tenant_id) == []


def test_v36_guard_refuses_other_cells_and_silo_tables(platform: LocalPlatform, attacker: Any) -> None:
    # The attacker is pooled in cell 0; the demo tenants live in cell 1 and in a silo table.
    client, sent = _attacker_client(platform, attacker)
    targets = [
        ("tenantry-data-cell-1", "lotus-yoga"),
        ("tenantry-data-cell-1", attacker.tenant_id),  # own partition id, someone else's table
        ("tenantry-silo-summit-climbing", "summit-climbing"),
        ("tenantry-silo-summit-climbing", attacker.tenant_id),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/tenantry-data", attacker.tenant_id),
        ("tenantry-tenants", attacker.tenant_id),
        ("tenantry-audit", attacker.tenant_id),
    ]
    for table, partition in targets:
        for call in (
            lambda t=table, p=partition: client.get_item(TableName=t, Key=_key(p, "cus_0001")),
            lambda t=table, p=partition: client.query(
                TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": p}}
            ),
        ):
            with pytest.raises(CrossTenantAccessError):
                call()
    assert sent == []


def test_v37_guard_sees_through_key_condition_tricks(platform: LocalPlatform, attacker: Any, victim: Any) -> None:
    client, sent = _attacker_client(platform, attacker)
    own, other = {"S": attacker.tenant_id}, {"S": victim.tenant_id}
    tricks: list[dict[str, Any]] = [
        # Reversed operands, aliases that hide which attribute is compared, look-alike names.
        {"KeyConditionExpression": ":p = pk", "ExpressionAttributeValues": {":p": own}},
        {
            "KeyConditionExpression": "#a = :p",
            "ExpressionAttributeNames": {"#a": "sk"},
            "ExpressionAttributeValues": {":p": own},
        },
        {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": own}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": attacker.tenant_id + " "}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"B": attacker.tenant_id.encode()}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"SS": [attacker.tenant_id]}}},
        {"KeyConditionExpression": "pk = :p OR pk = :q", "ExpressionAttributeValues": {":p": own, ":q": other}},
        {"KeyConditionExpression": "begins_with(pk, :p)", "ExpressionAttributeValues": {":p": {"S": "t-"}}},
        {"KeyConditionExpression": "pk BETWEEN :p AND :q", "ExpressionAttributeValues": {":p": own, ":q": other}},
        # The legacy parameter next to a harmless-looking expression.
        {"KeyConditions": {"pk": {"AttributeValueList": [other], "ComparisonOperator": "EQ"}}},
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": own},
            "KeyConditions": {"pk": {"AttributeValueList": [other], "ComparisonOperator": "EQ"}},
        },
        # Own partition, but resuming inside the victim's.
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": own},
            "ExclusiveStartKey": _key(victim.tenant_id),
        },
    ]
    for trick in tricks:
        with pytest.raises(CrossTenantAccessError):
            client.query(TableName=POOL, **trick)
    # A key whose partition is a look-alike of the attacker's own id is not the attacker's.
    for partition in (attacker.tenant_id.upper(), attacker.tenant_id + "\u200b", {"N": "1"}):
        key = {"pk": partition if isinstance(partition, dict) else {"S": partition}, "sk": {"S": "CUSTOMER#x"}}
        with pytest.raises(CrossTenantAccessError):
            client.get_item(TableName=POOL, Key=key)
    assert sent == []


# Data-plane operations the guard knows how to check; everything else must be refused unseen.
CHECKED = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}


def test_v38_guard_fails_closed_for_every_other_dynamodb_operation(platform: LocalPlatform, attacker: Any) -> None:
    client, sent = _attacker_client(platform, attacker)
    model = client.meta.service_model
    unchecked = sorted(set(model.operation_names) - CHECKED)
    assert {"Scan", "ExecuteStatement", "DeleteTable", "UpdateTable", "PutResourcePolicy"} <= set(unchecked)
    for operation in unchecked:
        method = getattr(client, _snake(client, operation))
        shape = model.operation_model(operation).input_shape
        # Minimal parameters: were the guard to let it pass, botocore's validation would raise instead.
        arguments = {"TableName": POOL} if shape is not None and "TableName" in shape.members else {}
        with pytest.raises(CrossTenantAccessError):
            method(**arguments)
    assert sent == []


def _snake(client: Any, operation: str) -> str:
    return next(name for name, api in client.meta.method_to_api_mapping.items() if api == operation)
