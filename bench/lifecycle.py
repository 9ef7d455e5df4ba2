"""Tenant lifecycle: a 10,000-customer tenant moved pool -> silo -> cell with a writer running, then exported
and restored.

The writer creates customers through a warm container (the runtime path: admission, the move marks)
for the whole run. Measured per move: total seconds, items copied per second, the write pause the
mover reports (first refused write to flip) and the longest gap the writer saw between two
acknowledged writes; then every acknowledged customer is looked up in the final home (lost must be 0).
Export: archive bytes, seconds, growth of the process's peak RSS while exporting (the parts stream
through temporary files); restore: seconds, under a new id.
"""

from __future__ import annotations

import json
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.core import Options, Row
from bench.events import ToolCall, event_for
from bench.resources import Resources
from bench.tenants import new_tenant
from tenantry.dal.items import to_attrs
from tenantry.dal.keys import counter_key, customer_key
from tenantry.tenancy.placement import Placement
from tenantry_admin.lifecycle.mover import Mover
from tenantry_admin.lifecycle.portability import Portability
from tenantry_admin.lifecycle.restoring import Restorer
from tenantry_admin.tenants import TenantAdmin
from tenantry_admin.wiring import OperatorServices
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform

__all__ = ["run_lifecycle"]

CUSTOMERS = 10_000
_DRAIN_SECONDS = 2.0  # what `./dev local` waits for calls admitted before a mark


def _seed(platform: LocalPlatform, admin: TenantAdmin, tenant_id: str) -> None:
    tenant = admin.context_for(admin.get(tenant_id))
    now = "2026-01-01T00:00:00.000+00:00"
    client = platform.services.clients.dynamodb(tenant)
    batch: list[Any] = []
    for i in range(CUSTOMERS):
        item = {
            **customer_key(tenant, f"cus_{i:05d}"),
            "customer_id": f"cus_{i:05d}",
            "name": f"Member {i}",
            "membership": "monthly",
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        batch.append({"PutRequest": {"Item": to_attrs(item)}})
        if len(batch) == 25:
            client.batch_write_item(RequestItems={tenant.data_table: batch})
            batch = []
    client.put_item(TableName=tenant.data_table, Item=to_attrs({**counter_key(tenant, "customers"), "n": CUSTOMERS}))


class _Writer(threading.Thread):
    def __init__(self, platform: LocalPlatform, tenant_id: str) -> None:
        super().__init__(daemon=True)
        self.container = platform.emulator.containers[0]
        self.tenant_id = tenant_id
        self.acknowledged: list[str] = []
        self.refused = 0
        self.gaps: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        last = time.perf_counter()
        n = 0
        while not self.stop.is_set():
            n += 1
            customer = f"w_{n:05d}"
            call = ToolCall("create_customer", {"name": "Writer", "customer_id": customer})
            # On the container's own thread, as the emulator runs it (its event loop lives there).
            result = self.container.executor.submit(self.container.invoke, event_for(call, n, self.tenant_id)).result(
                60
            )
            content = json.loads(result["body"]).get("result", {})
            now = time.perf_counter()
            if content.get("isError"):
                self.refused += 1
                time.sleep(0.05)  # the tool error says to retry later; a client would back off
                continue
            self.gaps.append(now - last)
            last = now
            self.acknowledged.append(customer)


def run_lifecycle(resources: Resources, options: Options) -> list[Row]:
    platform = resources.aws().platform
    # The operator's clients (longer read timeout, more retries), as `tenantry tenants move` uses.
    s = OperatorServices.create(platform.settings, platform.services.session)
    admin = TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "bench")
    record = new_tenant(platform, plan="professional", max_customers=1_000_000, calls_per_minute=1_000_000)
    tenant_id = record.tenant_id
    _seed(platform, admin, tenant_id)
    rows: list[Row] = []
    writer = _Writer(platform, tenant_id)
    writer.start()
    time.sleep(1.0)
    mover = Mover(admin, s.clients, s.placement, drain_seconds=_DRAIN_SECONDS)
    for label, target in (("pool -> silo", Placement(mode="silo")), ("silo -> cell 1", Placement(mode="cell", cell=1))):
        gaps_before = len(writer.gaps)
        started = time.perf_counter()
        report = mover.run(tenant_id, target)
        seconds = time.perf_counter() - started
        time.sleep(0.5)
        gaps = writer.gaps[gaps_before:]
        rows += [
            Row("lifecycle", f"move {label}: total", round(seconds, 2), "s", note=f"{report.copied:,} items"),
            Row(
                "lifecycle",
                f"move {label}: items copied per second",
                round(report.copied / seconds),
                "items/s",
                note=f"incl. {2 * _DRAIN_SECONDS:.0f} s of drains",
            ),
            Row(
                "lifecycle",
                f"move {label}: write pause (mover)",
                report.pause_seconds,
                "s",
                note=f"{report.caught_up} key(s) re-copied after writes",
            ),
            Row(
                "lifecycle",
                f"move {label}: longest gap between acknowledged writes",
                round(max(gaps or [0]), 2),
                "s",
                note=f"{len(gaps)} writes acknowledged during the move",
            ),
        ]
    writer.stop.set()
    writer.join(30)
    final = admin.context_for(admin.get(tenant_id))
    lost = [
        c
        for c in writer.acknowledged
        if "Item"
        not in local_client("dynamodb").get_item(
            TableName=final.data_table, Key=to_attrs(customer_key(final, c)), ConsistentRead=True
        )
    ]
    rows.append(
        Row(
            "lifecycle",
            "acknowledged writes lost",
            len(lost),
            "writes",
            note=f"of {len(writer.acknowledged):,} acknowledged, {writer.refused} refused in pauses",
        )
    )

    portability = Portability(admin, s.clients, None, s.session.create_client("kms"))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tenant.tar"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        portability.export(tenant_id, path, "bench")
        seconds = time.perf_counter() - started
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        rows += [
            Row("lifecycle", "export: archive size", round(path.stat().st_size / 1e6, 2), "MB"),
            Row("lifecycle", "export: seconds", round(seconds, 2), "s"),
            Row(
                "lifecycle",
                "export: peak RSS growth",
                round(growth / 1024, 1),
                "MB",
                note="ru_maxrss after minus before; the process already holds moto's tables",
            ),
        ]
        started = time.perf_counter()
        Restorer(admin, s.clients, None, s.session.create_client("kms")).restore(path, tenant_id + "-r", "pool")
        rows.append(Row("lifecycle", "restore: seconds (verify + write)", round(time.perf_counter() - started, 2), "s"))
    return rows
