"""SnapStart: init builds everything, the hooks keep tenants out of the snapshot, a restore starts clean.

Lambda's `snapshot_restore_py` is not installed off Lambda; a stand-in records the hooks the
handler module registers at import, and the tests run them as the runtime would: before-snapshot
hooks in reverse order of registration, after-restore hooks in order.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tenantry.snapstart import RUNTIME_HOOKS_MODULE
from tenantry_local.apigw import build_event, parse_response
from tenantry_local.emulator import _FakeLambdaContext
from tenantry_local.platform import LocalPlatform

HANDLER_MODULE = "tenantry.mcp_server.handler"
Hook = Callable[[], None]


class RuntimeStandIn:
    """What the Lambda runtime does with registered hooks, in process."""

    def __init__(self) -> None:
        self.before: list[Hook] = []
        self.after: list[Hook] = []
        self.module = types.ModuleType(RUNTIME_HOOKS_MODULE)
        self.module.register_before_snapshot = self.before.append  # type: ignore[attr-defined]
        self.module.register_after_restore = self.after.append  # type: ignore[attr-defined]

    def snapshot(self) -> None:
        for hook in reversed(self.before):
            hook()

    def restore(self) -> None:
        for hook in self.after:
            hook()


@pytest.fixture
def runtime(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeStandIn]:
    stand_in = RuntimeStandIn()
    for name, value in platform.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(sys.modules, RUNTIME_HOOKS_MODULE, stand_in.module)
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    yield stand_in
    sys.modules.pop(HANDLER_MODULE, None)


def _call(handler: Any, tenant_id: str, tool: str, rpc_id: int) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    event = build_event(
        method="POST",
        path="/mcp",
        query="",
        headers=[("content-type", "application/json"), ("accept", "application/json, text/event-stream")],
        body=json.dumps(message).encode(),
        source_ip="127.0.0.1",
        route_key="POST /mcp",
        claims={"tenant_id": tenant_id, "sub": "snapstart-test"},
    )
    response = parse_response(handler(event, _FakeLambdaContext(f"r{rpc_id}")))
    assert response.status == 200, response.body
    payload: dict[str, Any] = json.loads(response.body)
    assert "error" not in payload, payload
    return payload["result"]["structuredContent"]


def test_import_builds_the_app_and_registers_both_hooks(runtime: RuntimeStandIn) -> None:
    module = importlib.import_module(HANDLER_MODULE)
    assert module.app.before_snapshot in runtime.before
    assert module.app.after_restore in runtime.after
    # Init made no AWS call for any tenant: nothing assumed, so nothing tenant-bound can be in a snapshot.
    assert module.app.services.credentials.assumed == 0


def test_restored_container_serves_two_tenants_with_fresh_credentials(runtime: RuntimeStandIn) -> None:
    module = importlib.import_module(HANDLER_MODULE)
    services = module.app.services
    # As if something had served a request during init: the before-snapshot hook must drop it.
    before = _call(module.handler, "ironworks-gym", "get_tenant_profile", 1)
    assert before["tenant_id"] == "ironworks-gym"
    snapshot_keys = services.credentials.session_for("ironworks-gym").credentials["AccessKeyId"]
    assumed_before = services.credentials.assumed

    runtime.snapshot()
    runtime.restore()

    served = {
        t: _call(module.handler, t, "get_tenant_profile", i + 2) for i, t in enumerate(("ironworks-gym", "lotus-yoga"))
    }
    assert {t: r["tenant_id"] for t, r in served.items()} == {
        "ironworks-gym": "ironworks-gym",
        "lotus-yoga": "lotus-yoga",
    }
    # One AssumeRole per tenant after the restore: nothing assumed before the snapshot was reused.
    assert services.credentials.assumed == assumed_before + 2
    restored_keys = services.credentials.session_for("ironworks-gym").credentials["AccessKeyId"]
    assert restored_keys != snapshot_keys
    customers = _call(module.handler, "lotus-yoga", "list_customers", 9)["customers"]
    assert sorted(c["name"] for c in customers) == ["Dev Asana", "Eli Breath"]


def test_restore_forgets_registry_entries_from_before_the_snapshot(
    runtime: RuntimeStandIn, platform: LocalPlatform, new_tenant: Any
) -> None:
    module = importlib.import_module(HANDLER_MODULE)
    tenant = new_tenant()
    assert _call(module.handler, tenant.tenant_id, "get_tenant_profile", 1)["display_name"] == tenant.display_name
    # Renamed behind the container's back: its registry cache (minutes) would keep serving the old name.
    platform.services.registry.put(tenant.model_copy(update={"display_name": "Renamed after the snapshot"}))
    runtime.snapshot()
    runtime.restore()
    profile = _call(module.handler, tenant.tenant_id, "get_tenant_profile", 2)
    assert profile["display_name"] == "Renamed after the snapshot"


def test_each_restore_reseeds_random(runtime: RuntimeStandIn) -> None:
    importlib.import_module(HANDLER_MODULE)
    runtime.snapshot()
    snapshot_state = random.getstate()
    draws = []
    for _ in range(2):  # two containers resumed from the same snapshot
        random.setstate(snapshot_state)
        runtime.restore()
        draws.append(random.random())
    assert draws[0] != draws[1]
