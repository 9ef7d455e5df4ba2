"""A change of a tenant's record reaches every warm container on its next tools/call, whatever the cache TTL.

Containers cache registry records for an hour (registry_cache_seconds). Each change the operator
makes is stamped on the tenant's usage items (UsageMeter.stamp), and the admission write of a
container holding an older record is refused uncounted: the container re-reads the record and
decides the call on it. The operator here runs in a registry of its own, like the `tenantry` CLI
in another process: nothing invalidates the containers' caches from outside.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRecord, TenantRegistry
from tenantry_admin.tenants import TenantAdmin, TenantChanges
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.security.conftest import lambda_event, new_container, rpc


def _admin(platform: LocalPlatform) -> TenantAdmin:
    s = platform.services
    registry = TenantRegistry(s.dynamodb, platform.settings.registry_table, ttl_seconds=0, on_change=s.usage.stamp)
    return TenantAdmin(registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "ops-test")


def _call(container: Container, tenant_id: str, tool: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """('served', structured content) or ('refused', {'text': the tool error})."""
    result = container.executor.submit(container.invoke, lambda_event(tenant_id, rpc(tool, arguments))).result(30)
    body = json.loads(result["body"])
    assert result["statusCode"] == 200, body
    answer = body["result"]
    if answer.get("isError"):
        return "refused", {"text": answer["content"][0]["text"]}
    return "served", answer.get("structuredContent") or {}


def _calls(platform: LocalPlatform, tenant_id: str) -> int:
    return platform.services.usage.month(tenant_id, datetime.now(UTC).strftime("%Y-%m")).calls


def test_the_containers_cache_records_for_longer_than_any_wait_here(platform: LocalPlatform) -> None:
    # What the tests below rely on: without the stamp, a warm container would serve the old record.
    assert platform.settings.registry_cache_seconds == 3600


def test_a_feature_turned_off_reaches_every_warm_container_on_the_next_call(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant("professional")
    containers = platform.emulator.containers
    assert len(containers) >= 2
    for container in containers:  # warm: each caches the record with export on
        assert _call(container, tenant.tenant_id, "export_customers")[0] == "served"
    before = _calls(platform, tenant.tenant_id)

    _admin(platform).update(tenant.tenant_id, TenantChanges(features={"export": False}))
    for container in containers:
        outcome, answer = _call(container, tenant.tenant_id, "export_customers")
        assert outcome == "refused"
        assert "not available on your professional plan" in answer["text"]
        # Tools the tenant still has run on the new record too.
        assert _call(container, tenant.tenant_id, "list_customers")[0] == "served"
    # The stale admissions were refused uncounted: only the list_customers calls count.
    assert _calls(platform, tenant.tenant_id) == before + len(containers)


def test_a_lowered_quota_refuses_the_next_call_in_every_warm_container(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant("starter")
    containers = platform.emulator.containers
    for container in containers:
        assert _call(container, tenant.tenant_id, "list_customers")[0] == "served"
    used = _calls(platform, tenant.tenant_id)

    _admin(platform).update(tenant.tenant_id, TenantChanges(quotas={"monthly_tool_calls": used}))
    for container in containers:
        outcome, answer = _call(container, tenant.tenant_id, "list_customers")
        assert outcome == "refused"
        assert f"Monthly limit reached: {used:,} tool calls" in answer["text"]
    assert _calls(platform, tenant.tenant_id) == used


def test_a_branding_change_shows_in_the_next_profile_in_every_warm_container(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant("starter")
    containers = platform.emulator.containers
    for container in containers:
        outcome, profile = _call(container, tenant.tenant_id, "get_tenant_profile")
        assert outcome == "served"
        assert json.dumps(profile).count("Renamed Studio") == 0

    _admin(platform).update(tenant.tenant_id, TenantChanges(branding={"company_name": "Renamed Studio"}))
    for container in containers:
        outcome, profile = _call(container, tenant.tenant_id, "get_tenant_profile")
        assert outcome == "served"
        assert "Renamed Studio" in json.dumps(profile)


def test_a_plan_upgrade_reaches_a_container_that_refused_the_tool(platform: LocalPlatform, new_tenant: Any) -> None:
    # A refused tool makes no admission write to meet the stamp: it re-reads a record older than the
    # status window instead (0 here, so the very next call re-reads it).
    tenant = new_tenant("starter")
    settings = Settings.model_validate({**platform.settings.model_dump(), "status_cache_seconds": 0})
    warm = new_container(settings)
    try:
        assert _call(warm.container, tenant.tenant_id, "list_customers")[0] == "served"
        assert _call(warm.container, tenant.tenant_id, "export_customers")[0] == "refused"
        _admin(platform).update(tenant.tenant_id, TenantChanges(plan="professional"))
        assert _call(warm.container, tenant.tenant_id, "export_customers")[0] == "served"
    finally:
        warm.container.executor.shutdown(wait=False)


def test_a_stamp_newer_than_any_record_does_not_stop_a_tenant(platform: LocalPlatform, new_tenant: Any) -> None:
    # E.g. a stamp left by another lineage of the tenant: the record just read is the newest there
    # is, so the second admission does not check the stamp (no loop, one count).
    tenant = new_tenant("starter")
    container = platform.emulator.containers[0]
    assert _call(container, tenant.tenant_id, "list_customers")[0] == "served"
    before = _calls(platform, tenant.tenant_id)
    platform.services.usage.stamp(tenant.tenant_id, tenant.version + 50)
    assert _call(container, tenant.tenant_id, "list_customers")[0] == "served"
    assert _call(container, tenant.tenant_id, "list_customers")[0] == "served"
    assert _calls(platform, tenant.tenant_id) == before + 2


def test_a_registry_that_writes_must_stamp(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant: TenantRecord = new_tenant("starter")
    unwired = TenantRegistry(platform.services.dynamodb, platform.settings.registry_table, ttl_seconds=0)
    with pytest.raises(RuntimeError, match="without on_change"):
        unwired.save(tenant.model_copy(update={"plan": "free"}), tenant.version)
    stored = unwired.load(tenant.tenant_id)
    assert stored is not None and stored.plan == "starter"  # refused before anything was written
