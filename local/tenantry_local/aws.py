"""Embedded local AWS: a moto server in this process, and the tables the stack creates."""

from __future__ import annotations

import copy
import functools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from moto.server import ThreadedMotoServer

__all__ = [
    "LOCAL_ENV",
    "TABLES",
    "create_bucket",
    "create_secrets_key",
    "create_signing_key",
    "create_tables",
    "embedded_aws",
    "environment",
    "local_client",
]

# Fake credentials and a fixed region: boto3 must never find real ones locally.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

_TENANT_PARTITIONED: dict[str, Any] = {
    # pk is exactly the tenant id (IAM dynamodb:LeadingKeys); sk is entity type + id.
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
}

# Key schemas mirror infra/ (tests/infra checks they agree).
TABLES: dict[str, dict[str, Any]] = {
    "registry": {
        "KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"}],
    },
    "data": _TENANT_PARTITIONED,
    # usage and audit age out through the TTL attribute `expires_at`.
    "usage": _TENANT_PARTITIONED,
    "audit": _TENANT_PARTITIONED,
    # The authorization server's clients, codes, refresh tokens, grants and sessions (TTL `expires_at`).
    "oauth": _TENANT_PARTITIONED,
    "members": {
        "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "tenant_id", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "user", "AttributeType": "S"},
            {"AttributeName": "tenant_id", "AttributeType": "S"},
        ],
    },
}


_WRITE_LOCK = threading.RLock()
_SERIALIZED_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


# DynamoDB treats a TransactWriteItems with a ClientRequestToken it saw in the last 10 minutes as
# already done (botocore fills the token in once per call, so its retries reuse it); moto applies
# every replay again. On a loaded machine a read timeout then retried a transaction that had
# succeeded and reported "already exists". The local platform keeps DynamoDB's idempotency.
_IDEMPOTENCY_SECONDS = 600.0
_done_transactions: dict[str, tuple[float, Any]] = {}


def _idempotent_transactions() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    if getattr(original, "_tenantry_idempotent", False):
        return

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        with _WRITE_LOCK:  # a replay waits for the first attempt to finish, then sees it done
            now = time.monotonic()
            for old in [t for t, (at, _) in _done_transactions.items() if now - at > _IDEMPOTENCY_SECONDS]:
                del _done_transactions[old]
            if token and token in _done_transactions:
                return _done_transactions[token][1]
            result = original(self)
            if token:
                _done_transactions[token] = (now, result)
            return result

    transact_write_items._tenantry_idempotent = True  # type: ignore[attr-defined]
    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _serialize_dynamodb_writes() -> None:
    """Give moto DynamoDB's per-item atomicity for conditional writes.

    moto 5.2's threaded server runs requests in parallel and its update_item checks
    the condition and applies the update without a lock, so under concurrency a
    conditional ADD can overshoot its limit (seen: 51-53 admitted against 50, about
    one trial in ten). Real DynamoDB serializes writes to an item; so do we, here.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _SERIALIZED_WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_tenantry_serialized", False):
            continue

        def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _WRITE_LOCK:
                return __original(self, *args, **kwargs)

        serialized._tenantry_serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialized)


# A transaction's undo record: (table, hash key, range key, the item before or None if it was absent).
_Undo = list[tuple[Any, Any, Any, Any]]


@functools.cache  # once per process: the lock added later wraps this, so a flag on the method cannot tell
def _journaled_transactions() -> None:
    """Undo a cancelled transaction by the items it touched instead of by copies of whole tables.

    moto 5.2 deep-copies every table a TransactWriteItems names before it starts (once per action:
    twice for a customer's put plus its counter) and puts the copies back if the transaction is
    cancelled, so each transaction costs time in proportion to all the items in the table. The test
    session's shared tables grow to thousands of items and that copy made TransactWriteItems 25-50 ms.
    Writes already run one at a time under _WRITE_LOCK, so remembering each touched item (a transaction
    writes nothing else) is a complete undo record. Whatever moto would refuse before reading a key
    (unknown table, a key attribute missing) keeps moto's own whole-table rollback.
    """
    from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def undo_record(backend: Any, transact_items: list[dict[str, Any]]) -> _Undo | None:
        undo: _Undo = []
        for action in transact_items:
            for kind, operation in action.items():
                try:
                    table = backend.get_table(operation["TableName"])
                    if kind == "Put":
                        attributes = [table.hash_key_attr] + ([table.range_key_attr] if table.has_range_key else [])
                        key = {name: operation["Item"][name] for name in attributes}
                    else:
                        key = operation["Key"]
                    hash_key, range_key = backend.get_keys_value(table, key)
                except (KeyError, TypeError, MockValidationException, ResourceNotFoundException):
                    return None
                before = table.get_item(hash_key, range_key)
                undo.append((table, hash_key, range_key, copy.deepcopy(before)))
        return undo

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        with _WRITE_LOCK:
            undo = undo_record(self, transact_items)
            if undo is None:
                return original(self, transact_items)
            tables = {id(table): table for table, _, _, _ in undo}.values()
            for table in tables:
                # copy.deepcopy asks the instance for __deepcopy__: moto's backup becomes the table itself,
                # and putting it "back" on a cancel changes nothing; the undo record below does the restoring.
                table.__deepcopy__ = lambda memo, same=table: same
            applied = False
            try:
                result = original(self, transact_items)
                applied = True
                return result
            finally:
                for table in tables:
                    del table.__deepcopy__
                if not applied:  # cancelled or refused: every touched item as it was, in reverse order
                    for table, hash_key, range_key, before in reversed(undo):
                        _put_back(table, hash_key, range_key, before)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _put_back(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    """Store `before` (an Item, or None for absent) at the key, where moto's Table.put_item stores items."""
    if before is None:
        table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = before
    else:
        table.items[hash_key] = before


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block and restore what was there before."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def embedded_aws() -> Iterator[str]:
    """Start moto on a free loopback port; point boto3 at it through the environment."""
    _journaled_transactions()  # before the lock wraps it: the journal relies on writes being serialized
    _serialize_dynamodb_writes()
    _idempotent_transactions()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with environment({**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint}):
            yield endpoint
    finally:
        server.stop()


@functools.cache
def _model_loader() -> Any:
    """botocore's loader of service models and endpoint data, shared by every local client in the process.

    A new Session builds its own loader and parses those JSON files again: ~150 ms a client, against
    ~40 ms with this one (its cache only ever holds the installed botocore's data files).
    """
    return botocore.loaders.create_loader()


def local_client(service: str, endpoint: str | None = None) -> Any:
    """A client of the embedded moto (at `endpoint`, default AWS_ENDPOINT_URL) with the fake credentials."""
    core = botocore.session.Session()
    core.register_component("data_loader", _model_loader())
    session = boto3.Session(
        botocore_session=core,
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_ENV["AWS_SESSION_TOKEN"],
        region_name=LOCAL_ENV["AWS_REGION"],
    )
    url = endpoint or os.environ["AWS_ENDPOINT_URL"]
    return session.client(service, endpoint_url=url)  # type: ignore[call-overload]


def create_tables(tables: list[tuple[str, str]]) -> None:
    """Create each (role, table name) unless it exists; role picks the key schema in TABLES."""
    client = local_client("dynamodb")
    existing = set(client.list_tables()["TableNames"])
    for role, table_name in tables:
        if table_name in existing:
            continue
        # As deployed (infra/constructs/data.py): encrypted with the AWS managed key, deletion
        # protection and point-in-time recovery on. A silo table copies these settings from here.
        client.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True, "SSEType": "KMS"},
            DeletionProtectionEnabled=True,
            **TABLES[role],
        )
        client.update_continuous_backups(
            TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        existing.add(table_name)


def create_bucket(name: str) -> None:
    s3 = local_client("s3")
    if name not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=name)
        # Versioned like the deployed bucket (infra/constructs/branding.py), so a delete leaves a marker here too.
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def create_secrets_key(alias: str) -> str:
    """A symmetric KMS key for tenant secrets; returns its ARN (the alias is reused if present)."""
    kms = local_client("kms")
    for entry in kms.list_aliases()["Aliases"]:
        if entry["AliasName"] == alias and "TargetKeyId" in entry:
            return str(kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(Description="tenantry tenant secrets (local)")["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def create_signing_key(alias: str) -> str:
    """The authorization server's token signing key (RSA_2048, SIGN_VERIFY, as deployed); returns its ARN."""
    kms = local_client("kms")
    for entry in kms.list_aliases()["Aliases"]:
        if entry["AliasName"] == alias and "TargetKeyId" in entry:
            return str(kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(
        Description="tenantry OAuth token signing (local)", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])
