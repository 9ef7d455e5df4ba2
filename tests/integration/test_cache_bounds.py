"""A warm container that has served more tenants than its caps holds at most the cap of each per-tenant cache.

Every per-tenant cache of the function has a cap and an eviction: the registry (TTL + LRU),
tenant credentials (LRU, tests/integration/test_isolation_layers.py), tenant clients (LRU),
the meter's limit memory (LRU) and its pending outcomes (written out past the cap), and the
audit tallies (stored early past the cap). Each test drives one past a small cap.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config

from tenantry.audit import AuditEvent, AuditTally
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry.metering.meter import UsageMeter
from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRecord, TenantRegistry
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform


def _ids(count: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"cb-{run}-{n}" for n in range(count)]


def test_the_registry_cache_keeps_the_most_recent_tenants(platform: LocalPlatform) -> None:
    client = local_client("dynamodb")
    registry = TenantRegistry(client, platform.settings.registry_table, ttl_seconds=300, max_entries=3)
    ids = _ids(5)
    for tenant_id in ids:
        registry.put(TenantRecord(tenant_id=tenant_id, slug=tenant_id, display_name="C", plan="free"))
    reads = []
    client.meta.events.register("before-call.dynamodb.GetItem", lambda **kw: reads.append(1))
    try:
        for tenant_id in ids:
            registry.get(tenant_id)
        assert registry.cached() == 3
        before = len(reads)
        registry.get(ids[-1])  # still cached
        assert len(reads) == before
        registry.get(ids[0])  # evicted: read again
        assert len(reads) == before + 1
    finally:
        client.meta.events.unregister("before-call.dynamodb.GetItem")


def test_the_default_caps_cover_ten_thousand_tenants() -> None:
    # The sizes a 10,000-tenant fleet needs in one warm container (docs/benchmarks.md measures its RSS).
    assert Settings.model_fields["registry_cache_max"].default == 10_000
    meter = UsageMeter(local_client("dynamodb"), "t")
    assert meter._max_tenants == 10_000 and meter._windows.maxsize == 10_000


class _FakeSts:
    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        expires = datetime(2099, 1, 1, tzinfo=UTC)
        return {"Credentials": {"AccessKeyId": "a", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}}


def test_tenant_clients_keep_the_most_recent(platform: LocalPlatform) -> None:
    credentials = TenantCredentials(_FakeSts(), "arn:aws:iam::1:role/r", max_tenants=10)  # type: ignore[arg-type]
    clients = TenantClients(credentials, Config(region_name="us-east-1"), None, max_clients=3)
    contexts = [
        TenantRecord(tenant_id=t, slug=t, display_name="C", plan="free").context("p", "r", "tenantry-data")
        for t in _ids(5)
    ]
    made = [clients.kms(c) for c in contexts]
    assert len(clients._cache) == 3
    assert clients.kms(contexts[-1]) is made[-1]  # kept
    assert clients.kms(contexts[0]) is not made[0]  # evicted, built again


def test_evicted_and_replaced_tenant_clients_are_closed(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An evicted client's connection pool is closed at once, not left to the garbage collector.
    from botocore.client import BaseClient

    closed: list[Any] = []
    real_close = BaseClient.close

    def recording_close(self: Any) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(BaseClient, "close", recording_close)
    credentials = TenantCredentials(_FakeSts(), "arn:aws:iam::1:role/r", max_tenants=10)  # type: ignore[arg-type]
    clients = TenantClients(credentials, Config(region_name="us-east-1"), None, max_clients=3)
    contexts = [
        TenantRecord(tenant_id=t, slug=t, display_name="C", plan="free").context("p", "r", "tenantry-data")
        for t in _ids(5)
    ]
    made = [clients.kms(c) for c in contexts]
    assert closed == made[:2]  # the two least recently used, in order
    assert all(client not in closed for client in made[2:])
    credentials.forget(contexts[-1].tenant_id)  # new credentials: the tenant's client is rebuilt
    rebuilt = clients.kms(contexts[-1])
    assert rebuilt is not made[-1] and closed[-1] is made[-1]


def test_a_tenants_clients_leave_with_its_credentials(platform: LocalPlatform) -> None:
    # Past the credentials' cap a tenant's clients are dead weight (the next call rebuilds them on
    # new credentials): they are dropped and closed with the credentials, not kept to the clients' cap.
    credentials = TenantCredentials(_FakeSts(), "arn:aws:iam::1:role/r", max_tenants=2)  # type: ignore[arg-type]
    clients = TenantClients(credentials, Config(region_name="us-east-1"), None, max_clients=100)
    contexts = [
        TenantRecord(tenant_id=t, slug=t, display_name="C", plan="free").context("p", "r", "tenantry-data")
        for t in _ids(4)
    ]
    for context in contexts:
        clients.kms(context)
        clients.dynamodb(context)
    assert sorted({key[0] for key in clients._cache}) == sorted(c.tenant_id for c in contexts[-2:])
    assert len(clients._cache) == 4


def test_pending_outcomes_past_the_cap_are_written_not_dropped(platform: LocalPlatform) -> None:
    meter = UsageMeter(local_client("dynamodb"), platform.settings.usage_table, max_tenants=3)
    month = datetime.now(UTC).strftime("%Y-%m")
    ids = _ids(5)
    for tenant_id in ids:
        meter.record(tenant_id, "get_usage", 7.0, error=False, month=month)
    assert len(meter._pending) == 3
    # The two oldest were written out when the cap was passed; the rest wait for a flush.
    assert [meter.month(t, month).tools.get("get_usage") is not None for t in ids] == [True, True, False, False, False]
    meter.flush()
    assert all(meter.month(t, month).tools["get_usage"].total_ms == 7 for t in ids)


def test_audit_tallies_past_the_cap_are_stored_early(platform: LocalPlatform) -> None:
    audit = platform.services.audit
    tally = AuditTally(audit, clock=lambda: 1_900_000_000.0, max_open=2)
    ids = _ids(3)
    for tenant_id in ids:
        for _ in range(4):
            tally.add(AuditEvent(tenant_id=tenant_id, principal="p", action="x", resource="rate", outcome="denied"))
    assert len(tally._open) == 2
    assert [e.count for e in audit.recent(ids[0])] == [4]  # stored when the third tenant arrived
    assert audit.recent(ids[2]) == []
    tally.flush()
    assert [e.count for e in audit.recent(ids[2])] == [4]
