"""`tenantry tenants move`: a writer loses nothing, a killed move resumes, a second move is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tenantry.tenancy.placement import Placement
from tenantry_admin.lifecycle.journal import STEPS, Step
from tenantry_admin.lifecycle.mover import Mover
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.aws import local_client
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error
from tests.security.conftest import lambda_event, rpc

ROOT = Path(__file__).resolve().parents[2]


def _admin(platform: LocalPlatform) -> TenantAdmin:
    s = platform.services
    return TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "ops-test")


def _partition(table: str, tenant_id: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :t",
        "ExpressionAttributeValues": {":t": {"S": tenant_id}},
        "ConsistentRead": True,
    }
    while True:
        page = local_client("dynamodb").query(**request)
        items.update({item["sk"]["S"]: item for item in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _call(container: Container, tenant_id: str, tool: str, **arguments: Any) -> tuple[bool, str]:
    """(ok, text): the tool's result or its error text."""
    result = container.executor.submit(container.invoke, lambda_event(tenant_id, rpc(tool, arguments))).result(30)
    body = json.loads(result["body"])
    assert result["statusCode"] == 200, body
    content = body["result"]
    return not content.get("isError"), content["content"][0]["text"]


def _create(platform: LocalPlatform, tenant_id: str, count: int) -> None:
    admin = _admin(platform)
    tenant = admin.context_for(admin.get(tenant_id))
    for i in range(count):
        platform.services.customer_store.create(tenant, f"cus_{i:04d}", {"name": f"Member {i}"})


class Writer:
    """Creates, updates and deletes customers through the emulated containers, as ChatGPT would."""

    def __init__(self, platform: LocalPlatform, tenant_id: str) -> None:
        self.containers = platform.emulator.containers
        self.tenant_id = tenant_id
        self.acknowledged: dict[str, str] = {}  # customer id -> name, as acknowledged
        self.deleted: set[str] = set()
        self.paused: list[str] = []
        self.n = 0

    def write(self, label: str) -> None:
        for container in self.containers:  # every warm container writes
            self.n += 1
            customer = f"w_{self.n:04d}"
            ok, text = _call(container, self.tenant_id, "create_customer", name=f"Writer {label}", customer_id=customer)
            if not ok:
                self.paused.append(text)
                continue
            self.acknowledged[customer] = f"Writer {label}"
            ok, text = _call(container, self.tenant_id, "update_customer", customer_id=customer, name=f"Upd {label}")
            assert ok, text
            self.acknowledged[customer] = f"Upd {label}"
        victim = f"cus_{self.n:04d}"
        ok, _ = _call(self.containers[0], self.tenant_id, "delete_customer", customer_id=victim)
        if ok:
            self.deleted.add(victim)


def test_a_writer_loses_nothing_while_a_tenant_moves_pool_to_silo_and_back_to_a_cell(
    platform: LocalPlatform, tenantry: Any, tenant_id: str
) -> None:
    assert (
        tenantry(
            "tenants",
            "create",
            "--id",
            tenant_id,
            "--slug",
            tenant_id,
            "--name",
            "Gym",
            "--plan",
            "professional",
            "--placement",
            "pool",
        ).code
        == 0
    )
    _create(platform, tenant_id, 120)
    writer = Writer(platform, tenant_id)
    writer.write("before")  # every container has the tenant cached in the pool
    admin = _admin(platform)
    services = platform.services
    steps: list[Step] = []

    def after(step: Step) -> None:
        steps.append(step)
        writer.write(step)

    def mid_copy(done: int, total: int) -> None:
        if done in (25, 75):  # writes against pages copied and pages not yet copied
            writer.write(f"copy-{done}")

    mover = Mover(admin, services.clients, services.placement, drain_seconds=0, after_step=after)
    report = mover.run(tenant_id, Placement(mode="silo"), progress=mid_copy)
    assert steps == list(STEPS)
    silo = platform.settings.silo_table_prefix + tenant_id
    assert report.target_table == silo and report.caught_up > 0
    assert {k["kind"] for k in report.kinds} >= {"CUSTOMER", "COUNTER"}
    # The write that arrived in the pause was refused, retryable, with nothing written.
    assert writer.paused and all("being moved" in text and "Retry in" in text for text in writer.paused)

    def check(table: str) -> None:
        items = _partition(table, tenant_id)
        assert not [sk for sk in items if sk.startswith("~MOVE#")]
        customers = {sk.removeprefix("CUSTOMER#"): item for sk, item in items.items() if sk.startswith("CUSTOMER#")}
        for customer, name in writer.acknowledged.items():
            assert customers[customer]["name"]["S"] == name  # every acknowledged write, once
        assert not writer.deleted & customers.keys()  # no deleted customer came back
        expected = (set(f"cus_{i:04d}" for i in range(120)) - writer.deleted) | writer.acknowledged.keys()
        assert customers.keys() == expected
        assert int(items["COUNTER#customers"]["n"]["N"]) == len(expected)

    check(silo)
    assert _partition(platform.settings.cells()[0], tenant_id) == {}  # the source is gone
    assert admin.get(tenant_id).placement.mode == "silo" and admin.get(tenant_id).move is None

    # And on to cell 1 (the silo table is dropped after the move out), writer still running.
    report = mover.run(tenant_id, Placement(mode="cell", cell=1))
    check(platform.settings.cells()[1])
    with pytest.raises(Exception, match="ResourceNotFound"):
        local_client("dynamodb").describe_table(TableName=silo)
    ok, text = _call(writer.containers[1], tenant_id, "get_customer", customer_id="cus_0100")
    assert ok, text


def _run_cli(state_dir: Path, *argv: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USER": "ops-alice"}
    if kill_at:
        env["TENANTRY_TEST_KILL_MOVE_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "tenantry_admin.cli", "--state-dir", str(state_dir), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("step", STEPS)
def test_a_move_killed_at_each_step_finishes_when_run_again(
    step: str, platform: LocalPlatform, tenantry: Any, tenant_id: str, state_dir: Path
) -> None:
    assert (
        tenantry(
            "tenants",
            "create",
            "--id",
            tenant_id,
            "--slug",
            tenant_id,
            "--name",
            "Gym",
            "--plan",
            "starter",
            "--placement",
            "pool",
        ).code
        == 0
    )
    _create(platform, tenant_id, 40)
    before = _partition(platform.settings.cells()[0], tenant_id)
    killed = _run_cli(state_dir, "tenants", "move", tenant_id, "--to", "cell:1", "--yes", kill_at=step)
    assert killed.returncode == -9, killed.stderr
    assert tenantry("tenants", "show", tenant_id, "--json").json()["move"]["step"] == step

    run = tenantry("tenants", "move", tenant_id, "--to", "cell:1", "--yes")
    assert run.code == 0, run.err
    assert "Resume move mv-" in run.err and f"at step {step}" in run.err
    after = _partition(platform.settings.cells()[1], tenant_id)
    assert after.keys() == before.keys()
    assert all(after[k] == before[k] for k in before)
    assert _partition(platform.settings.cells()[0], tenant_id) == {}
    shown = tenantry("tenants", "show", tenant_id, "--json").json()
    assert shown["placement"] == {"mode": "cell", "cell": 1} and shown.get("move") is None


def test_a_second_move_is_refused_naming_the_running_one(
    platform: LocalPlatform, tenantry: Any, tenant_id: str
) -> None:
    assert (
        tenantry(
            "tenants",
            "create",
            "--id",
            tenant_id,
            "--slug",
            tenant_id,
            "--name",
            "Gym",
            "--plan",
            "starter",
            "--placement",
            "pool",
        ).code
        == 0
    )
    admin = _admin(platform)
    record = admin.get(tenant_id)
    running = {
        "id": "mv-running01",
        "source": {"mode": "pool", "cell": 0},
        "target": {"mode": "silo", "cell": 0},
        "source_table": "tenantry-data",
        "target_table": "tenantry-silo-" + tenant_id,
        "step": "copy",
        "owner": f"{os.uname().nodename}:{os.getppid()}",  # a live process on this host
        "started_by": "ops-bob",
    }
    admin.registry.save(record.model_copy(update={"move": running}), record.version)
    for target in ("cell:1", "silo"):
        line = one_line_error(tenantry("tenants", "move", tenant_id, "--to", target, "--yes"))
        assert "already being moved: mv-running01 to silo" in line and "ops-bob" in line
    assert admin.get(tenant_id).placement.mode == "pool"


def test_move_refuses_bad_targets_with_nothing_written(platform: LocalPlatform, tenantry: Any, tenant_id: str) -> None:
    assert (
        tenantry(
            "tenants",
            "create",
            "--id",
            tenant_id,
            "--slug",
            tenant_id,
            "--name",
            "Gym",
            "--plan",
            "starter",
            "--placement",
            "pool",
        ).code
        == 0
    )
    version = _admin(platform).get(tenant_id).version
    assert "no cell 7" in one_line_error(tenantry("tenants", "move", tenant_id, "--to", "cell:7", "--yes"))
    assert "Unknown placement" in one_line_error(tenantry("tenants", "move", tenant_id, "--to", "mars", "--yes"))
    assert "pass --yes" in one_line_error(tenantry("tenants", "move", tenant_id, "--to", "silo"))
    assert _admin(platform).get(tenant_id).version == version
    run = tenantry("tenants", "move", tenant_id, "--to", "pool", "--yes")
    assert run.code == 0 and "already lives in" in run.out
