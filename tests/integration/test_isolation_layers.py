"""Tenant-scoped credentials, the guard, KMS secrets and placement modes, against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import customer_key
from tenantry.errors import ConflictError, CrossTenantAccessError, NotFoundError
from tenantry.isolation.guard import install_guard
from tenantry.logic.notifications import WEBHOOK_SECRET
from tenantry.tenancy.placement import Placement, place_tenant
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for, mcp_client


def _guarded(platform: LocalPlatform, tenant_id: str, refusals: list[tuple[str, str, str]]) -> Any:
    client = platform.services.credentials.session_for(tenant_id).client(
        "dynamodb", config=Config(retries={"max_attempts": 1})
    )
    return install_guard(client, tenant_id, ["tenantry-data"], lambda *r: refusals.append(r))


def _key(tenant_id: str, sk: str = "CUSTOMER#c1") -> dict[str, Any]:
    return to_attrs({"pk": tenant_id, "sk": sk})


GUARDED_CALLS = {
    "get-other-partition": lambda c: c.get_item(TableName="tenantry-data", Key=_key("victim")),
    "put-other-partition": lambda c: c.put_item(TableName="tenantry-data", Item=_key("victim")),
    "update-other-partition": lambda c: c.update_item(
        TableName="tenantry-data",
        Key=_key("victim"),
        UpdateExpression="SET x = :x",
        ExpressionAttributeValues={":x": {"S": "1"}},
    ),
    "delete-other-partition": lambda c: c.delete_item(TableName="tenantry-data", Key=_key("victim")),
    "query-other-partition": lambda c: c.query(
        TableName="tenantry-data", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "victim"}}
    ),
    "query-own-partition-or-trick": lambda c: c.query(
        TableName="tenantry-data",
        KeyConditionExpression="pk = :p AND sk > :s",
        ExpressionAttributeValues={":p": {"S": "victim"}, ":s": {"S": "attacker"}},
    ),
    "query-start-key-elsewhere": lambda c: c.query(
        TableName="tenantry-data",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "attacker"}},
        ExclusiveStartKey=_key("victim"),
    ),
    "query-index": lambda c: c.query(
        TableName="tenantry-data",
        IndexName="by-email",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "attacker"}},
    ),
    "scan": lambda c: c.scan(TableName="tenantry-data"),
    "partiql": lambda c: c.execute_statement(Statement='SELECT * FROM "tenantry-data"'),
    "batch-get-mixed": lambda c: c.batch_get_item(
        RequestItems={"tenantry-data": {"Keys": [_key("attacker"), _key("victim")]}}
    ),
    "batch-write-other": lambda c: c.batch_write_item(
        RequestItems={"tenantry-data": [{"PutRequest": {"Item": _key("victim")}}]}
    ),
    "transact-write-other": lambda c: c.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "tenantry-data", "Item": _key("attacker")}},
            {"Delete": {"TableName": "tenantry-data", "Key": _key("victim")}},
        ]
    ),
    "transact-get-other": lambda c: c.transact_get_items(
        TransactItems=[{"Get": {"TableName": "tenantry-data", "Key": _key("victim")}}]
    ),
    "other-table": lambda c: c.get_item(TableName="tenantry-tenants", Key={"tenant_id": {"S": "victim"}}),
    "describe-table": lambda c: c.describe_table(TableName="tenantry-data"),
}


@pytest.mark.parametrize("name", sorted(GUARDED_CALLS))
def test_guard_refuses_before_the_request_leaves(platform: LocalPlatform, name: str) -> None:
    refusals: list[tuple[str, str, str]] = []
    client = _guarded(platform, "attacker", refusals)
    sent: list[str] = []
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(request.url))
    with pytest.raises(CrossTenantAccessError, match="outside your organisation"):
        GUARDED_CALLS[name](client)
    assert sent == [], "the request reached the network"
    assert len(refusals) == 1


def test_guard_allows_the_tenants_own_partition(platform: LocalPlatform) -> None:
    client = _guarded(platform, "attacker", [])
    client.put_item(TableName="tenantry-data", Item=to_attrs({"pk": "attacker", "sk": "CUSTOMER#g1", "name": "x"}))
    assert client.get_item(TableName="tenantry-data", Key=_key("attacker", "CUSTOMER#g1"))["Item"]["name"] == {"S": "x"}
    page = client.query(
        TableName="tenantry-data",
        KeyConditionExpression="#p = :p AND begins_with(sk, :s)",
        ExpressionAttributeNames={"#p": "pk"},
        ExpressionAttributeValues={":p": {"S": "attacker"}, ":s": {"S": "CUSTOMER#"}},
    )
    assert page["Count"] >= 1
    client.batch_write_item(
        RequestItems={"tenantry-data": [{"DeleteRequest": {"Key": _key("attacker", "CUSTOMER#g1")}}]}
    )


def test_guard_refusal_is_audited(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    client = platform.services.clients.dynamodb(context_for(tenant))
    with pytest.raises(CrossTenantAccessError):
        client.get_item(TableName="tenantry-data", Key=_key("ironworks-gym", "CUSTOMER#cus_0001"))
    events = platform.services.audit.recent(tenant.tenant_id)
    assert events and events[0].outcome == "denied" and events[0].action == "dynamodb:GetItem"
    assert "cross_tenant_guard" in events[0].reason


def test_tenant_credentials_are_assumed_once_and_cached(platform: LocalPlatform, new_tenant: Any) -> None:
    credentials = platform.services.credentials
    a, b = new_tenant(), new_tenant()
    before = credentials.assumed
    first = credentials.session_for(a.tenant_id)
    assert credentials.session_for(a.tenant_id) is first
    assert credentials.session_for(b.tenant_id) is not first
    assert credentials.assumed - before == 2
    identity = first.client("sts").get_caller_identity()
    assert f"tenant-{a.tenant_id}" in identity["Arn"]


def test_tenant_credentials_refresh_before_expiry_and_are_bounded() -> None:
    from datetime import UTC, datetime

    from tenantry.isolation.credentials import TenantCredentials

    now = [1_000_000.0]

    class FakeSts:
        calls: list[dict[str, Any]] = []

        def assume_role(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            expires = datetime.fromtimestamp(now[0] + 900, UTC)
            return {
                "Credentials": {"AccessKeyId": "a", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}
            }

    sts = FakeSts()
    creds = TenantCredentials(sts, "arn:role", refresh_margin_seconds=120, max_tenants=2, clock=lambda: now[0])
    creds.session_for("a")
    assert sts.calls[0]["Tags"] == [{"Key": "tenant_id", "Value": "a"}]
    now[0] += 700  # 200 s left: still beyond the margin
    creds.session_for("a")
    assert len(sts.calls) == 1
    now[0] += 100  # 100 s left: inside the margin, refresh
    creds.session_for("a")
    assert len(sts.calls) == 2
    creds.session_for("b")
    creds.session_for("c")  # evicts a, the least recently used
    creds.session_for("a")
    assert [c["Tags"][0]["Value"] for c in sts.calls] == ["a", "a", "b", "c", "a"]


# --- secrets ---------------------------------------------------------------------------


def test_secret_lifecycle_never_shows_the_value(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = context_for(new_tenant())
    store = platform.services.secret_store
    info = store.set(tenant, "crm_api_key", "sk_live_abcdef123456")
    assert info.version == 1 and info.fingerprint.startswith("sha256:")
    assert "sk_live" not in info.model_dump_json()
    with pytest.raises(ConflictError):
        store.set(tenant, "crm_api_key", "other")
    rotated = store.set(tenant, "crm_api_key", "sk_live_rotated", rotate=True)
    assert rotated.version == 2 and rotated.fingerprint != info.fingerprint
    assert store.reveal(tenant, "crm_api_key") == "sk_live_rotated"
    assert [s.name for s in store.list(tenant)] == ["crm_api_key"]
    store.delete(tenant, "crm_api_key")
    with pytest.raises(NotFoundError):
        store.reveal(tenant, "crm_api_key")
    with pytest.raises(NotFoundError):
        store.set(tenant, "never_set", "x", rotate=True)


def test_secret_stored_ciphertext_is_not_the_plaintext(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = context_for(new_tenant())
    platform.services.secret_store.set(tenant, "token", "plain-value-42")
    raw = platform.services.clients.dynamodb(tenant).get_item(
        TableName="tenantry-data", Key=to_attrs({"pk": tenant.tenant_id, "sk": "SECRET#token"})
    )["Item"]
    assert b"plain-value-42" not in raw["ciphertext"]["B"] and "plain-value-42" not in json.dumps(raw, default=str)


# --- webhook notifications --------------------------------------------------------------


async def test_booking_notification_uses_the_tenants_webhook_secret(
    platform: LocalPlatform, new_tenant: Any, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    base, received = receiver
    record = new_tenant()
    platform.services.secret_store.set(context_for(record), WEBHOOK_SECRET, f"{base}/hooks/booking?token=s3cr3t")
    async with mcp_client(platform, platform.token(record.tenant_id)) as client:
        await client.call_tool("create_customer", {"name": "Gus", "customer_id": "gus"})
        result = await client.call_tool(
            "send_booking_notification", {"customer_id": "gus", "class_name": "Spin", "starts_at": "2026-12-01T07:00"}
        )
        listed = await client.call_tool("list_integration_secrets", {})
    assert not result.is_error and result.structured_content == {
        "customer_id": "gus",
        "delivered": True,
        "webhook_status": 204,
    }
    assert [json.loads(r["body"]) for r in received] == [
        {
            "type": "booking.created",
            "studio": record.display_name,
            "customer": {"id": "gus", "name": "Gus", "email": None},
            "class": "Spin",
            "starts_at": "2026-12-01T07:00",
        }
    ]
    assert "s3cr3t" not in json.dumps(listed.structured_content) and WEBHOOK_SECRET in json.dumps(
        listed.structured_content
    )


async def test_booking_without_webhook_says_so(platform: LocalPlatform, new_tenant: Any) -> None:
    record = new_tenant()
    async with mcp_client(platform, platform.token(record.tenant_id)) as client:
        await client.call_tool("create_customer", {"name": "Hal", "customer_id": "hal"})
        result = await client.call_tool(
            "send_booking_notification", {"customer_id": "hal", "class_name": "Yoga", "starts_at": "tomorrow"}
        )
    assert result.is_error and "No secret named 'booking_webhook_url'" in result.content[0].text


# --- placement modes -----------------------------------------------------------------------


def test_placement_is_stable_and_spreads_over_cells() -> None:
    placements = [place_tenant(f"tenant-{i}", "starter", 4) for i in range(400)]
    assert placements == [place_tenant(f"tenant-{i}", "starter", 4) for i in range(400)]
    counts = [sum(1 for p in placements if p.cell == c) for c in range(4)]
    assert all(60 < n < 140 for n in counts), counts
    assert place_tenant("x", "business", 4, frozenset({"business"})) == Placement(mode="silo")
    assert place_tenant("x", "free", 1) == Placement(mode="pool", cell=0)


@pytest.mark.parametrize(
    ("tenant_id", "table"),
    [
        ("ironworks-gym", "tenantry-data"),
        ("lotus-yoga", "tenantry-data-cell-1"),
        ("summit-climbing", "tenantry-silo-summit-climbing"),
    ],
)
async def test_each_mode_works_end_to_end(platform: LocalPlatform, tenant_id: str, table: str) -> None:
    customer_id = f"mode-{table[-6:]}"
    async with mcp_client(platform, platform.token(tenant_id)) as client:
        created = await client.call_tool("create_customer", {"name": "Mo De", "customer_id": customer_id})
        assert not created.is_error, created.content
        fetched = await client.call_tool("get_customer", {"customer_id": customer_id})
        await client.call_tool("delete_customer", {"customer_id": customer_id})
    assert fetched.structured_content is not None and fetched.structured_content["name"] == "Mo De"
    record = platform.services.registry.get(tenant_id)
    assert record is not None and platform.services.resolver.table_of(record) == table


def test_silo_tenant_data_lives_only_in_its_table(platform: LocalPlatform) -> None:
    record = platform.services.registry.get("summit-climbing")
    assert record is not None
    tenant = context_for(record, platform)
    assert tenant.data_table == "tenantry-silo-summit-climbing"
    raw = platform.services.clients.dynamodb(tenant)
    assert "Item" in raw.get_item(TableName=tenant.data_table, Key=to_attrs(customer_key(tenant, "cus_0001")))
    # The pooled table has nothing under the silo tenant's partition (read with the function's own client).
    pooled = platform.services.dynamodb.query(
        TableName="tenantry-data",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "summit-climbing"}},
    )
    assert pooled["Count"] == 0


# --- branding assets in S3 ---------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_logo_lives_under_the_tenants_prefix_and_shows_in_the_profile(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    record = new_tenant()
    assets = platform.services.branding
    key = assets.put_logo(context_for(record), PNG, "image/png")
    assert key == f"tenants/{record.tenant_id}/logo.png"
    assert assets.logo(context_for(record)) == (PNG, "image/png")
    async with mcp_client(platform, platform.token(record.tenant_id)) as client:
        profile = (await client.call_tool("get_tenant_profile", {})).structured_content
    assert profile is not None and f"tenants/{record.tenant_id}/logo.png" in profile["branding"]["logo_url"]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda s3, attacker, victim: s3.get_object(Bucket="tenantry-branding", Key=f"tenants/{victim}/logo.png"),
            id="get",
        ),
        pytest.param(
            lambda s3, attacker, victim: s3.put_object(
                Bucket="tenantry-branding", Key=f"tenants/{victim}/x", Body=b"x"
            ),
            id="put",
        ),
        pytest.param(
            lambda s3, attacker, victim: s3.list_objects_v2(Bucket="tenantry-branding", Prefix="tenants/"),
            id="list-all",
        ),
        pytest.param(lambda s3, attacker, victim: s3.list_objects_v2(Bucket="tenantry-branding"), id="list-no-prefix"),
        pytest.param(
            lambda s3, attacker, victim: s3.get_object(
                Bucket="tenantry-branding", Key=f"tenants/{attacker}/../{victim}/logo.png"
            ),
            id="dot-dot",
        ),
        # The tenant's own key in another bucket: only the bucket check can refuse this one.
        pytest.param(
            lambda s3, attacker, victim: s3.get_object(Bucket="other-bucket", Key=f"tenants/{attacker}/logo.png"),
            id="bucket",
        ),
        pytest.param(
            lambda s3, attacker, victim: s3.put_object(Bucket="other-bucket", Key=f"tenants/{attacker}/x", Body=b"x"),
            id="bucket-put",
        ),
        # Inside the tenant's prefix by string, but an empty path segment right after it: S3 keys are
        # opaque, so `tenants/A//x` is not `tenants/A/x`, and a normalising proxy could make it anything.
        pytest.param(
            lambda s3, attacker, victim: s3.get_object(
                Bucket="tenantry-branding", Key=f"tenants/{attacker}//{victim}/logo.png"
            ),
            id="double-slash",
        ),
        pytest.param(
            lambda s3, attacker, victim: s3.list_objects_v2(Bucket="tenantry-branding", Prefix=f"tenants/{attacker}//"),
            id="double-slash-list",
        ),
        pytest.param(
            lambda s3, attacker, victim: s3.delete_objects(Bucket="tenantry-branding", Delete={"Objects": []}),
            id="bulk",
        ),
    ],
)
def test_s3_guard_refuses_other_tenants_objects(platform: LocalPlatform, new_tenant: Any, call: Any) -> None:
    attacker, victim = new_tenant(), new_tenant()
    platform.services.branding.put_logo(context_for(victim), PNG, "image/png")
    s3 = platform.services.clients.s3(context_for(attacker), "tenantry-branding")
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    with pytest.raises(CrossTenantAccessError):
        call(s3, attacker.tenant_id, victim.tenant_id)
    assert sent == []


def test_s3_guard_lets_the_tenants_own_key_through_in_its_own_bucket(platform: LocalPlatform, new_tenant: Any) -> None:
    # The control for the `bucket` and `double-slash` cases above: the same key, in the tenant's
    # bucket and without the empty segment, goes out, so those refusals come from the bucket and `//` checks.
    tenant = new_tenant()
    platform.services.branding.put_logo(context_for(tenant), PNG, "image/png")
    s3 = platform.services.clients.s3(context_for(tenant), "tenantry-branding")
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    assert s3.get_object(Bucket="tenantry-branding", Key=f"tenants/{tenant.tenant_id}/logo.png")["Body"].read() == PNG
    listed = s3.list_objects_v2(Bucket="tenantry-branding", Prefix=f"tenants/{tenant.tenant_id}/")
    assert [entry["Key"] for entry in listed["Contents"]] == [f"tenants/{tenant.tenant_id}/logo.png"]
    assert len(sent) == 2
