"""`tenantry tenants create|show|list|update|suspend|resume|audit` against the local state."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.errors import TenantAccessError
from tenantry_local.aws import TABLES, local_client
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error


def _create(tenantry: Any, tenant_id: str, plan: str = "starter", *extra: str) -> Any:
    run = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Op Studio", "--plan", plan, *extra
    )
    assert run.code == 0, run.err
    return run


def test_create_then_show_and_list(tenantry: Any, tenant_id: str) -> None:
    created = _create(tenantry, tenant_id, "professional")
    assert f"Created tenant {tenant_id} (Op Studio) on the professional plan" in created.out

    shown = tenantry("tenants", "show", tenant_id)
    assert shown.code == 0
    assert "plan       professional" in shown.out and "status     active" in shown.out

    record = tenantry("tenants", "show", tenant_id, "--json").json()
    assert record["slug"] == tenant_id and record["version"] == 1
    assert "export" in record["effective"]["features"] and "analytics" not in record["effective"]["features"]

    listed = tenantry("tenants", "list", "--json").json()
    assert tenant_id in [r["tenant_id"] for r in listed]
    assert tenant_id not in [
        r["tenant_id"] for r in tenantry("tenants", "list", "--status", "suspended", "--json").json()
    ]
    assert tenant_id in tenantry("tenants", "list").out


def test_placements(tenantry: Any, platform: LocalPlatform) -> None:
    import uuid

    ids = {p: f"pl-{p}-{uuid.uuid4().hex[:6]}" for p in ("pool", "cell", "silo")}
    for placement, tenant_id in ids.items():
        _create(tenantry, tenant_id, "starter", "--placement", placement)
    tables = {p: tenantry("tenants", "show", t, "--json").json()["data_table"] for p, t in ids.items()}
    assert tables["pool"] == "tenantry-data"
    assert tables["cell"] in platform.settings.cells()
    assert tables["silo"] == f"tenantry-silo-{ids['silo']}"


def test_business_goes_to_its_own_table_with_the_data_key_schema(tenantry: Any, tenant_id: str) -> None:
    created = _create(tenantry, tenant_id, "business")
    table = f"tenantry-silo-{tenant_id}"
    assert f"data in {table}" in created.out
    description = local_client("dynamodb").describe_table(TableName=table)["Table"]
    assert description["KeySchema"] == TABLES["data"]["KeySchema"]
    assert description["TableStatus"] == "ACTIVE"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--id", "{id}", "--slug", "{id}", "--name", "X", "--plan", "gold"], "Unknown plan 'gold'"),
        (["--id", "{id}", "--slug", "Not_A_Label", "--name", "X", "--plan", "free"], "not a valid slug"),
        (["--id", "{id}", "--slug=-edge", "--name", "X", "--plan", "free"], "not a valid slug"),
        (["--id", "{id}", "--slug", "a" * 64, "--name", "X", "--plan", "free"], "not a valid slug"),
        (["--id", "Bad Id", "--slug", "ok", "--name", "X", "--plan", "free"], "not a valid tenant id"),
        (["--id", "{id}", "--slug", "{id}", "--name", " ", "--plan", "free"], "tenant name"),
        (
            ["--id", "{id}", "--slug", "{id}", "--name", "X", "--plan", "free", "--placement", "moon"],
            "Unknown placement",
        ),
        (
            ["--id", "ironworks-gym", "--slug", "{id}", "--name", "X", "--plan", "free"],
            "tenant id 'ironworks-gym' is already taken",
        ),
        (
            ["--id", "{id}", "--slug", "taken-slug", "--name", "X", "--plan", "free"],
            "slug 'taken-slug' is already taken",
        ),
    ],
)
def test_create_refuses_bad_input_in_one_line(
    tenantry: Any, tenant_id: str, platform: LocalPlatform, argv: list[str], says: str
) -> None:
    if "taken-slug" in argv:
        tenantry("tenants", "create", "--id", "slug-owner", "--slug", "taken-slug", "--name", "X", "--plan", "free")
    line = one_line_error(tenantry("tenants", "create", *[a.replace("{id}", tenant_id) for a in argv]))
    assert says in line
    assert platform.services.registry.load(tenant_id) is None  # nothing half-written


def test_update_plan_features_quotas_and_branding(tenantry: Any, tenant_id: str) -> None:
    _create(tenantry, tenant_id, "starter")
    run = tenantry(
        "tenants", "update", tenant_id,
        "--plan", "professional", "--name", "Op Studio Two",
        "--feature", "analytics=on", "--feature", "integrations=off",
        "--quota", "max_customers=5000", "--quota", "calls_per_minute=60",
        "--brand-color", "#1A73E8", "--brand-logo-url", "https://cdn.example.com/logo.png",
        "--brand-company", "Op Co", "--custom-domain", "mcp.op.example",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "version 2" in run.out
    record = tenantry("tenants", "show", tenant_id, "--json").json()
    assert record["plan"] == "professional" and record["display_name"] == "Op Studio Two"
    assert set(record["effective"]["features"]) >= {"analytics", "export"}
    assert "integrations" not in record["effective"]["features"]
    assert record["effective"]["max_customers"] == 5000 and record["effective"]["calls_per_minute"] == 60
    assert record["branding"] == {
        "company_name": "Op Co",
        "primary_color": "#1A73E8",
        "logo_url": "https://cdn.example.com/logo.png",
        "custom_domain": "mcp.op.example",
    }
    # Back to the plan's defaults.
    assert (
        tenantry(
            "tenants", "update", tenant_id, "--quota", "max_customers=default", "--feature", "integrations=default"
        ).code
        == 0
    )
    record = tenantry("tenants", "show", tenant_id, "--json").json()
    assert record["effective"]["max_customers"] == 25_000 and "integrations" in record["effective"]["features"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--quota", "max_customers=-1"], "out of range: use 0 to 100,000,000"),
        (["--quota", "monthly_tool_calls=1000000000"], "out of range"),
        (["--quota", "calls_per_minute=0"], "out of range: use 1 to"),
        (["--quota", "max_customers=lots"], "whole number"),
        (["--quota", "storage_gb=5"], "Unknown quota 'storage_gb'"),
        (["--feature", "teleport=on"], "Unknown feature 'teleport'"),
        (["--feature", "export=maybe"], "use on, off or default"),
        (["--feature", "export"], "NAME=VALUE"),
        (["--plan", "gold"], "Unknown plan 'gold'"),
        (["--brand-color", "red"], "#RRGGBB"),
        (["--brand-logo-url", "ftp://x/logo.png"], "http(s)"),
        (["--custom-domain", "Not A Host"], "host name"),
        ([], "Nothing to update"),
    ],
)
def test_update_refuses_bad_input_and_writes_nothing(tenantry: Any, tenant_id: str, argv: list[str], says: str) -> None:
    _create(tenantry, tenant_id)
    assert says in one_line_error(tenantry("tenants", "update", tenant_id, *argv))
    assert tenantry("tenants", "show", tenant_id, "--json").json()["version"] == 1


def test_unknown_tenant_is_one_line_everywhere(tenantry: Any) -> None:
    for argv in (
        ["tenants", "show", "no-such-tenant"],
        ["tenants", "update", "no-such-tenant", "--plan", "free"],
        ["tenants", "suspend", "no-such-tenant"],
        ["tenants", "resume", "no-such-tenant"],
        ["tenants", "offboard", "no-such-tenant", "--yes"],
        ["tenants", "usage", "no-such-tenant"],
        ["tenants", "health", "no-such-tenant"],
        ["tenants", "audit", "no-such-tenant"],
        ["secrets", "list", "--tenant", "no-such-tenant"],
    ):
        assert "No tenant 'no-such-tenant'" in one_line_error(tenantry(*argv))


def test_two_operators_updating_at_once_the_second_gets_a_conflict(tenantry: Any, tenant_id: str) -> None:
    _create(tenantry, tenant_id)
    # Both operators looked at version 1.
    seen = tenantry("tenants", "show", tenant_id, "--json").json()["version"]
    first = tenantry("tenants", "update", tenant_id, "--plan", "professional", "--expected-version", str(seen))
    assert first.code == 0
    second = one_line_error(
        tenantry("tenants", "update", tenant_id, "--quota", "max_customers=10", "--expected-version", str(seen))
    )
    assert "changed by someone else since version 1; nothing was written" in second
    record = tenantry("tenants", "show", tenant_id, "--json").json()
    assert record["plan"] == "professional" and record["version"] == 2  # the first change kept
    assert record["quota_overrides"]["max_customers"] is None  # the second not half-applied
    audit = tenantry("tenants", "audit", tenant_id, "--json").json()
    assert [(e["action"], e["outcome"]) for e in audit[:2]] == [("admin:update", "denied"), ("admin:update", "allowed")]


def test_concurrent_updates_lose_nothing(tenantry: Any, tenant_id: str, platform: LocalPlatform) -> None:
    """Real threads, one version read: exactly one save wins, the other is refused, nothing merges silently."""
    import threading

    from tenantry.errors import ConflictError
    from tenantry_admin.tenants import TenantAdmin, TenantChanges

    _create(tenantry, tenant_id)
    services = platform.services
    admins = [
        TenantAdmin(
            services.registry, services.audit, services.secret_store, services.dynamodb, platform.settings, f"op{i}"
        )
        for i in range(2)
    ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def change(admin: TenantAdmin, plan: str) -> None:
        barrier.wait()
        try:
            admin.update(tenant_id, TenantChanges(plan=plan, expected_version=1))
            outcomes.append(plan)
        except ConflictError:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=change, args=(a, p)) for a, p in zip(admins, ["professional", "business"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("conflict") == 1
    winner = next(o for o in outcomes if o != "conflict")
    assert tenantry("tenants", "show", tenant_id, "--json").json()["plan"] == winner


def test_suspend_and_resume_are_idempotent_and_take_effect(
    tenantry: Any, tenant_id: str, platform: LocalPlatform
) -> None:
    _create(tenantry, tenant_id)
    first = tenantry("tenants", "suspend", tenant_id)
    assert first.code == 0 and f"Tenant {tenant_id} is now suspended" in first.out
    again = tenantry("tenants", "suspend", tenant_id)
    assert again.code == 0 and f"Tenant {tenant_id} is already suspended." in again.out
    platform.services.registry.invalidate(tenant_id)  # what the cache TTL does in a running container
    with pytest.raises(TenantAccessError, match="suspended"):
        platform.services.resolver.resolve({"tenant_id": tenant_id}, {}, "req")

    assert "is now active" in tenantry("tenants", "resume", tenant_id).out
    assert "is already active" in tenantry("tenants", "resume", tenant_id).out
    platform.services.registry.invalidate(tenant_id)
    assert platform.services.resolver.resolve({"tenant_id": tenant_id}, {}, "req").tenant_id == tenant_id
    assert tenantry("tenants", "show", tenant_id, "--json").json()["version"] == 3  # no-ops wrote nothing


def test_every_admin_action_is_audited_with_the_operator(tenantry: Any, tenant_id: str) -> None:
    _create(tenantry, tenant_id)
    tenantry("tenants", "update", tenant_id, "--plan", "professional")
    tenantry("tenants", "suspend", tenant_id)
    events = tenantry("tenants", "audit", tenant_id, "--json").json()
    # Suspending also revokes the tenant's sign-ins, audited as its own event.
    # (the two may share a millisecond, so their order is not asserted).
    actions = [e["action"] for e in events]
    assert sorted(actions[:2]) == ["admin:suspend", "oauth:revoke"] and actions[2:] == ["admin:update", "admin:create"]
    assert {e["principal"] for e in events} == {"ops-alice"}
    assert events[2]["reason"] == "plan starter->professional"
    table = tenantry("tenants", "audit", tenant_id, "--limit", "1")
    assert ("admin:suspend" in table.out or "oauth:revoke" in table.out) and "admin:update" not in table.out
    assert "1 to 1000" in one_line_error(tenantry("tenants", "audit", tenant_id, "--limit", "0"))


def test_list_refuses_an_unknown_status(tenantry: Any) -> None:
    assert "Unknown status 'gone'" in one_line_error(tenantry("tenants", "list", "--status", "active,gone"))
