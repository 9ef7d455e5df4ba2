"""`tenants restore --replace` into an existing tenant, and `restore --from-table` out of a recovered table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantry_local.aws import TABLES, local_client
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error
from tests.cli.test_export_restore import _make, _tamper
from tests.cli.test_move import _admin, _call, _partition


def _customers(platform: LocalPlatform, tenant_id: str, ids: list[str]) -> list[str]:
    container = platform.emulator.containers[0]
    return [_call(container, tenant_id, "get_customer", customer_id=c)[1] for c in ids]


def _drift(platform: LocalPlatform, tenant_id: str) -> None:
    """What a bad day does to a tenant: one customer renamed, one deleted, one added."""
    container = platform.emulator.containers[0]
    assert _call(container, tenant_id, "update_customer", customer_id="cus_0001", name="Changed")[0]
    assert _call(container, tenant_id, "delete_customer", customer_id="cus_0002")[0]
    assert _call(container, tenant_id, "create_customer", name="Late", customer_id="cus_late")[0]


IDS = [f"cus_{i:04d}" for i in range(12)]


def test_restore_replace_puts_the_archive_back_over_an_existing_tenant(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, tmp_path: Path
) -> None:
    _make(platform, tenantry, tenant_id)
    before = _customers(platform, tenant_id, IDS)
    archive = tmp_path / "gym.tar"
    assert tenantry("tenants", "export", tenant_id, "--output", str(archive)).code == 0
    _drift(platform, tenant_id)
    drifted = _partition("tenantry-data", tenant_id)

    # Without --yes (and no terminal to ask on), and into a tenant that does not exist: nothing changes.
    assert "pass --yes" in one_line_error(tenantry("tenants", "restore", str(archive), "--replace"))
    missing = one_line_error(tenantry("tenants", "restore", str(archive), "--replace", "--as", "no-such-gym", "--yes"))
    assert "No tenant no-such-gym to replace" in missing
    assert _partition("tenantry-data", tenant_id) == drifted

    run = tenantry("tenants", "restore", str(archive), "--replace", "--yes")
    assert run.code == 0, run.err
    assert f"Replaced the data of {tenant_id}" in run.out and "14 item(s) written, 1 removed" in run.out
    assert _customers(platform, tenant_id, IDS) == before  # renamed back, deleted one back
    # The item the archive does not have is gone.
    assert not _call(platform.emulator.containers[0], tenant_id, "get_customer", customer_id="cus_late")[0]
    admin = _admin(platform)
    secret = platform.services.secret_store.reveal(admin.context_for(admin.get(tenant_id)), "booking_webhook_url")
    assert secret == "https://hooks.example/x"
    audit = tenantry("tenants", "audit", tenant_id, "--json").json()
    assert any(e["action"] == "admin:restore" and "replaced from gym.tar" in e["reason"] for e in audit)


def test_restore_replace_with_a_broken_archive_changes_nothing(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, tmp_path: Path
) -> None:
    _make(platform, tenantry, tenant_id)
    archive, bad = tmp_path / "gym.tar", tmp_path / "bad.tar"
    assert tenantry("tenants", "export", tenant_id, "--output", str(archive)).code == 0
    _tamper(archive, bad, lambda n, d: d.replace(b"Member 3", b"Member X") if n == "items.jsonl" else d)
    _drift(platform, tenant_id)
    drifted = _partition("tenantry-data", tenant_id)
    line = one_line_error(tenantry("tenants", "restore", str(bad), "--replace", "--yes"))
    assert "SHA-256" in line and "nothing was restored" in line
    assert _partition("tenantry-data", tenant_id) == drifted


@pytest.fixture
def recovered(platform: LocalPlatform) -> Iterator[str]:
    """A table as `aws dynamodb restore-table-to-point-in-time` leaves it: a copy of the whole data table."""
    name = "tenantry-silo-pitr-test-restored"  # named like a silo table, but no tenant's
    ddb = local_client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES["data"])
    yield name
    ddb.delete_table(TableName=name)


def _copy_partition(tenant_id: str, table: str) -> None:
    ddb = local_client("dynamodb")
    for item in _partition("tenantry-data", tenant_id).values():
        ddb.put_item(TableName=table, Item=item)


def test_restore_from_a_recovered_table_takes_only_the_named_tenant(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, recovered: str
) -> None:
    other = tenant_id + "-o"
    _make(platform, tenantry, tenant_id)
    _make(platform, tenantry, other)  # the same customer ids, in another partition of the same table
    container = platform.emulator.containers[0]
    assert _call(container, other, "update_customer", customer_id="cus_0001", name="Other gym's member")[0]
    assert _call(container, other, "create_customer", name="Only other", customer_id="cus_other")[0]
    before = _customers(platform, tenant_id, IDS)
    _copy_partition(tenant_id, recovered)
    _copy_partition(other, recovered)
    _drift(platform, tenant_id)
    other_live = _partition("tenantry-data", other)

    run = tenantry("tenants", "restore", "--from-table", recovered, "--tenant", tenant_id, "--replace", "--yes")
    assert run.code == 0, run.err
    assert f"Replaced the data of {tenant_id}" in run.out and f"table {recovered}" in run.out
    assert _customers(platform, tenant_id, IDS) == before
    assert not _call(container, tenant_id, "get_customer", customer_id="cus_late")[0]
    assert not _call(container, tenant_id, "get_customer", customer_id="cus_other")[0]  # never the other's
    assert _partition("tenantry-data", other) == other_live

    # Under a new id: exactly the named tenant's items, keys rebuilt, secrets re-encrypted for it.
    new_id = tenant_id + "-r"
    run = tenantry("tenants", "restore", "--from-table", recovered, "--tenant", tenant_id, "--as", new_id, "--yes")
    assert run.code == 0, run.err
    assert "1 secret(s) re-encrypted" in run.out
    admin = _admin(platform)
    restored = _partition(admin.table_of(admin.get(new_id)), new_id)
    assert set(restored) == {f"CUSTOMER#{c}" for c in IDS} | {"SECRET#booking_webhook_url", "COUNTER#customers"}
    assert _customers(platform, new_id, IDS) == before
    secret = platform.services.secret_store.reveal(admin.context_for(admin.get(new_id)), "booking_webhook_url")
    assert secret == "https://hooks.example/x"


def test_restore_from_table_refuses_what_it_cannot_use_with_nothing_written(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, recovered: str
) -> None:
    _make(platform, tenantry, tenant_id)
    live = _partition("tenantry-data", tenant_id)
    cases = [
        (("--from-table", "no-such-table", "--tenant", tenant_id, "--replace"), "No table no-such-table"),
        (("--from-table", recovered, "--tenant", tenant_id, "--replace"), "holds no items of tenant"),
        (("--from-table", "tenantry-data", "--tenant", tenant_id, "--replace"), "a table the stack serves from"),
        (("--from-table", "tenantry-silo-summit-climbing", "--tenant", tenant_id, "--replace"), "serves from"),
        (("--from-table", recovered, "--tenant", tenant_id), "pass --replace"),
        (("--from-table", recovered), "takes --tenant ID"),
    ]
    for argv, says in cases:
        assert says in one_line_error(tenantry("tenants", "restore", *argv, "--yes")), argv
    assert _partition("tenantry-data", tenant_id) == live


def test_a_restore_keeps_the_targets_status_and_never_the_archives_marks(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, tmp_path: Path
) -> None:
    """An archive's usage items carry its source's live state; only their counters are restored."""
    _make(platform, tenantry, tenant_id)
    for step in ("suspend", "resume", "suspend"):  # the archive's mark version is now above a new tenant's
        assert tenantry("tenants", step, tenant_id).code == 0
    archive = tmp_path / "gym.tar"
    assert tenantry("tenants", "export", tenant_id, "--output", str(archive)).code == 0
    admin = _admin(platform)

    # Under a new id: active, with the source's counters, and its own suspension still works at once.
    new_id = tenant_id + "-r"
    assert tenantry("tenants", "restore", str(archive), "--as", new_id, "--yes").code == 0
    assert admin.meter.blocked(new_id) is None
    assert _call(platform.emulator.containers[0], new_id, "get_customer", customer_id="cus_0001")[0]
    run = tenantry("tenants", "suspend", new_id)
    assert run.code == 0, run.err
    assert admin.meter.blocked(new_id) == "suspended"

    # Replacing a suspended tenant's data (the documented way: suspend, replace, resume) keeps it suspended.
    run = tenantry("tenants", "restore", str(archive), "--replace", "--as", new_id, "--yes")
    assert run.code == 0, run.err
    assert admin.meter.blocked(new_id) == "suspended"
    assert tenantry("tenants", "resume", new_id).code == 0
    assert admin.meter.blocked(new_id) is None
    assert _call(platform.emulator.containers[0], new_id, "get_customer", customer_id="cus_0001")[0]
