"""`tenantry tenants offboard`: data and secrets gone, audit and usage kept, safe to re-run after an interruption."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tenantry.errors import NotFoundError, TenantAccessError
from tenantry_admin.offboarding import Offboarder
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error

CUSTOMERS = 300


class Interrupted(Exception):
    pass


def _partition(platform: LocalPlatform, table: str, tenant_id: str) -> int:
    response = local_client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": tenant_id}},
        Select="COUNT",
    )
    return int(response["Count"])


def _admin(platform: LocalPlatform) -> TenantAdmin:
    s = platform.services
    return TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "ops-test")


def test_offboarding_a_large_tenant_survives_an_interruption(
    tenantry: Any, tenant_id: str, platform: LocalPlatform
) -> None:
    assert (
        tenantry(
            "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Big", "--plan", "professional"
        ).code
        == 0
    )
    admin = _admin(platform)
    tenant = admin.context_for(admin.get(tenant_id))
    services = platform.services
    for i in range(CUSTOMERS):  # one at a time: moto's transactions are not thread-safe
        services.customer_store.create(tenant, f"cus_{i:04d}", {"name": f"Member {i}"})
    for name in ("crm_api_key", "booking_webhook_secret"):
        assert tenantry("secrets", "set", "--tenant", tenant_id, name, stdin="s3cret-value\n").code == 0
    services.branding.put_logo(tenant, b"\x89PNG logo", "image/png")
    # Replaced once: the versioned bucket keeps the first logo as a noncurrent version.
    services.branding.put_logo(tenant, b"\x89PNG logo v2", "image/png")
    services.usage.admit(tenant, "list_customers")
    table = tenant.data_table
    assert _partition(platform, table, tenant_id) == CUSTOMERS + 1 + 2  # customers, the counter, secrets

    # An operator's first run dies after 120 deletes (a crash, a lost laptop lid).
    def crash_after_120(done: int, total: int) -> None:
        if done >= 120:
            raise Interrupted

    with pytest.raises(Interrupted):
        Offboarder(admin, services.clients, workers=1, drain_seconds=0).run(tenant_id, crash_after_120)
    left = _partition(platform, table, tenant_id)
    assert 0 < left <= CUSTOMERS + 1 - 120
    assert tenantry("tenants", "show", tenant_id, "--json").json()["status"] == "offboarding"
    services.registry.invalidate(tenant_id)
    with pytest.raises(TenantAccessError, match="not registered"):  # the gateway refuses it already
        services.resolver.resolve({"tenant_id": tenant_id}, {}, "req")

    # The second run continues from what is left, with a progress bar on stderr.
    run = tenantry("tenants", "offboard", tenant_id, "--yes")
    assert run.code == 0, run.err
    assert f"Offboarded {tenant_id}: deleted {left} item(s) from {table}" in run.out
    assert f"offboarding {tenant_id} [" in run.err and f"{left}/{left}" in run.err
    assert "Traceback" not in run.err
    assert _partition(platform, table, tenant_id) == 0
    assert tenantry("tenants", "show", tenant_id, "--json").json()["status"] == "offboarded"

    # Secrets: ciphertexts gone, nothing left to decrypt.
    with pytest.raises(NotFoundError):
        services.secret_store.reveal(tenant, "crm_api_key")
    assert tenantry("secrets", "list", "--tenant", tenant_id, "--json").json() == []
    # Branding files gone, every version of them (a plain delete would only stack a delete marker);
    # the slug can be taken by a new tenant; audit trail and usage kept.
    with pytest.raises(NotFoundError):
        services.branding.logo(tenant)
    left_in_bucket = local_client("s3").list_object_versions(
        Bucket=platform.settings.branding_bucket, Prefix=f"tenants/{tenant_id}/"
    )
    assert left_in_bucket.get("Versions", []) == [] and left_in_bucket.get("DeleteMarkers", []) == []
    assert "1 branding file(s) deleted" in run.out
    reuse = tenantry(
        "tenants", "create", "--id", tenant_id + "-2", "--slug", tenant_id, "--name", "Next", "--plan", "free"
    )
    assert reuse.code == 0, reuse.err
    actions = [(e["action"], e["reason"][:9]) for e in tenantry("tenants", "audit", tenant_id, "--json").json()]
    assert ("admin:offboard", "completed") in actions and ("admin:offboard", "started (") in actions
    assert ("admin:secrets.delete", "offboardi") in actions and ("admin:create", "plan=prof") in actions
    usage = tenantry("tenants", "usage", tenant_id, "--json").json()
    assert usage["calls"] == 1 and usage["customers"] == 0

    # Offboarding twice: an idempotent success that says so.
    again = tenantry("tenants", "offboard", tenant_id, "--yes")
    assert again.code == 0 and "was already offboarded; nothing was left to remove." in again.out
    # ... and it sweeps anything a cached container wrote meanwhile.
    services.customer_store.create(tenant, "cus_late", {"name": "Late"})
    swept = tenantry("tenants", "offboard", tenant_id, "--yes")
    assert "was already offboarded; removed 2 leftover item(s)." in swept.out  # the customer and its counter
    # An offboarded tenant can no longer be changed.
    assert "offboarded; it can no longer be changed" in one_line_error(tenantry("tenants", "resume", tenant_id))


def test_offboarding_a_silo_tenant_drops_its_table(tenantry: Any, tenant_id: str, platform: LocalPlatform) -> None:
    assert (
        tenantry(
            "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Silo", "--plan", "business"
        ).code
        == 0
    )
    admin = _admin(platform)
    tenant = admin.context_for(admin.get(tenant_id))
    platform.services.customer_store.create(tenant, "cus_1", {"name": "Only"})
    assert tenantry("secrets", "set", "--tenant", tenant_id, "api_key", stdin="v").code == 0

    run = tenantry("tenants", "offboard", tenant_id, "--yes")
    assert run.code == 0, run.err
    assert f"dropped table tenantry-silo-{tenant_id}, 1 secret(s) made undecryptable" in run.out
    assert "tool calls are refused from now on" in run.err  # it was active: calls are drained first
    with pytest.raises(ClientError, match="ResourceNotFound"):
        local_client("dynamodb").describe_table(TableName=f"tenantry-silo-{tenant_id}")
    assert "already offboarded" in tenantry("tenants", "offboard", tenant_id, "--yes").out


def test_offboard_needs_confirmation(tenantry: Any, tenant_id: str) -> None:
    tenantry("tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Keep", "--plan", "free")
    assert "pass --yes" in one_line_error(tenantry("tenants", "offboard", tenant_id))
    assert tenantry("tenants", "show", tenant_id, "--json").json()["status"] == "active"
