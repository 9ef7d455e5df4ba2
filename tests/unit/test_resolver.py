from __future__ import annotations

from typing import Any

import pytest

from tenantry.dal.items import to_attrs
from tenantry.errors import CrossTenantAttemptError, TenantAccessError
from tenantry.tenancy.registry import TenantRecord, TenantRegistry
from tenantry.tenancy.resolver import TenantResolver


class FakeDynamo:
    """Just enough of the DynamoDB client for the registry, counting reads."""

    def __init__(self, records: list[TenantRecord]) -> None:
        self.items = {r.tenant_id: r for r in records}
        self.reads = 0
        self.consistent: list[bool] = []  # ConsistentRead of each read, in order

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        self.reads += 1
        self.consistent.append(ConsistentRead)
        record = self.items.get(Key["tenant_id"]["S"])
        if record is None:
            return {}
        return {"Item": to_attrs(record.to_item())}


RECORDS = [
    TenantRecord(tenant_id="acme-gym", slug="acme", display_name="Acme", plan="starter"),
    TenantRecord(tenant_id="zen-yoga", slug="zen", display_name="Zen", plan="free", status="suspended"),
    TenantRecord(tenant_id="old-box", slug="old", display_name="Old", plan="free", status="offboarded"),
]


@pytest.fixture
def resolver() -> TenantResolver:
    return TenantResolver(TenantRegistry(FakeDynamo(RECORDS), "t"), "tenant_id", base_domain="mcp.example.com")


def test_tenant_comes_from_the_claim(resolver: TenantResolver) -> None:
    tenant = resolver.resolve({"tenant_id": "acme-gym", "sub": "u1"}, {"host": "mcp.example.com"}, "req-1")
    assert (tenant.tenant_id, tenant.plan, tenant.principal, tenant.request_id) == (
        "acme-gym",
        "starter",
        "u1",
        "req-1",
    )


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({}, "no 'tenant_id' claim"),
        ({"tenant_id": ""}, "no 'tenant_id' claim"),
        ({"tenant_id": "ACME#x"}, "not valid"),
        ({"tenant_id": "nobody-here"}, "not registered"),
        ({"tenant_id": "zen-yoga"}, "suspended"),
        ({"tenant_id": "old-box"}, "not registered"),
    ],
)
def test_refusals_say_why(resolver: TenantResolver, claims: dict[str, str], message: str) -> None:
    with pytest.raises(TenantAccessError, match=message):
        resolver.resolve(claims, {}, "r")


def test_a_custom_claim_name_is_honoured() -> None:
    resolver = TenantResolver(TenantRegistry(FakeDynamo(RECORDS), "t"), "custom:org")
    assert resolver.resolve({"custom:org": "acme-gym"}, {}, "r").tenant_id == "acme-gym"
    with pytest.raises(TenantAccessError, match="no 'custom:org' claim"):
        resolver.resolve({"tenant_id": "acme-gym"}, {}, "r")


def test_header_and_subdomain_may_only_confirm(resolver: TenantResolver) -> None:
    claims = {"tenant_id": "acme-gym"}
    confirmed = resolver.resolve(claims, {"x-tenant-id": "acme-gym", "host": "acme.mcp.example.com:443"}, "r")
    assert confirmed.tenant_id == "acme-gym"
    with pytest.raises(CrossTenantAttemptError) as header:
        resolver.resolve(claims, {"x-tenant-id": "zen-yoga"}, "r")
    with pytest.raises(CrossTenantAttemptError) as host:
        resolver.resolve(claims, {"host": "zen.mcp.example.com"}, "r")
    for refusal in (header.value, host.value):
        assert "zen" not in str(refusal)  # never name the other tenant


def test_registry_is_cached_per_tenant_with_ttl() -> None:
    fake = FakeDynamo(RECORDS)
    now = [0.0]
    registry = TenantRegistry(fake, "t", ttl_seconds=300, clock=lambda: now[0])
    assert registry.get("acme-gym") is not None and registry.get("acme-gym") is not None
    assert fake.reads == 1
    assert registry.get("acme-gym").tenant_id == "acme-gym"  # type: ignore[union-attr]
    now[0] = 301
    registry.get("acme-gym")
    assert fake.reads == 2
    assert registry.get("nobody") is None and registry.get("nobody") is None
    assert fake.reads == 4  # misses are cached too: a flood of unknown ids costs two reads each per window


def test_tools_call_rereads_an_active_record_eventually_consistent_and_refuses_only_on_a_consistent_read() -> None:
    # The admission write catches a stale active record (its version against the usage item's stamp),
    # so the tools/call path (no max_age) reads at half a unit; a refusal must not rest on a stale read.
    fake = FakeDynamo(RECORDS)
    registry = TenantRegistry(fake, "t")
    registry.get("acme-gym")
    assert fake.consistent == [False]
    fake.consistent.clear()
    assert registry.get("zen-yoga") is not None  # suspended: read again, consistently
    assert fake.consistent == [False, True]
    fake.consistent.clear()
    assert registry.get("nobody") is None
    assert fake.consistent == [False, True]
    fake.consistent.clear()
    registry.get("acme-gym", max_age=0)  # the re-read after admission found the record stale
    registry.get("acme-gym", max_age=5)  # other methods' status window
    assert fake.consistent == [True]  # the first read was cached: the status window is 5 s


def test_premium_function_serves_only_its_plans() -> None:
    records = [*RECORDS, TenantRecord(tenant_id="big-corp", slug="big", display_name="Big", plan="business")]
    resolver = TenantResolver(TenantRegistry(FakeDynamo(records), "t"), serve_plans=frozenset({"business"}))
    assert resolver.resolve({"tenant_id": "big-corp"}, {}, "r").plan == "business"
    with pytest.raises(TenantAccessError, match="reserved for business plan tenants"):
        resolver.resolve({"tenant_id": "acme-gym"}, {}, "r")
