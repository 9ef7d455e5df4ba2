"""Status changes under lost responses and racing operators: the registry and the mark never disagree.

Each operator is a TenantAdmin on a DynamoDB client of its own. Interleavings are forced from a
`before-send` hook on one operator's client (the other's whole command runs inside it), lost
responses by letting the write reach moto and then raising a read timeout; nothing sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tenantry.errors import ConflictError
from tenantry.metering.meter import UsageMeter
from tenantry.tenancy.registry import TenantRegistry
from tenantry_admin.offboarding import Offboarder
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.faults.conftest import delivered_then_lost
from tests.security.conftest import lambda_event, rpc

WRITES = ("PutItem", "UpdateItem", "TransactWriteItems")


def _operator(platform: LocalPlatform) -> TenantAdmin:
    """An operator in a process of its own: its own client, registry and meter."""
    s = platform.services
    client = local_client("dynamodb")
    stamp = UsageMeter(client, platform.settings.usage_table).stamp
    registry = TenantRegistry(client, platform.settings.registry_table, ttl_seconds=0, on_change=stamp)
    return TenantAdmin(registry, s.audit, s.secret_store, client, platform.settings, "ops-race")


def _once_before_write(admin: TenantAdmin, table: str, action: Callable[[Any], Any]) -> list[int]:
    """Run `action(request)` on the operator's first write that names `table`; its answer replaces the send."""
    hits: list[int] = []

    def before_send(request: Any, event_name: str = "", **_: Any) -> Any:
        if hits or event_name.rsplit(".", 1)[-1] not in WRITES or f'"{table}"' not in request.body.decode():
            return None
        hits.append(1)
        return action(request)

    admin.dynamodb.meta.events.register("before-send.dynamodb", before_send)
    return hits


def _first(other: Callable[[], object]) -> Callable[[Any], None]:
    """A hook action: the other operator's whole command, then this request goes on to DynamoDB."""

    def run(_: Any) -> None:
        other()

    return run


def _call(platform: LocalPlatform, tenant_id: str, tool: str = "list_customers", **arguments: Any) -> str:
    container = platform.emulator.containers[0]
    event = lambda_event(tenant_id, rpc(tool, arguments))
    result = container.executor.submit(container.invoke, event).result(timeout=30)
    body = json.loads(result["body"]) if result.get("body") else {}
    if result["statusCode"] == 403 or body.get("error", {}).get("code") == -32001:
        return "refused"
    return "error" if body["result"].get("isError") else "served"


def _agree(platform: LocalPlatform, tenant_id: str) -> str:
    """The stored status, after checking the mark says the same (suspended or gone: marked; active: not)."""
    record = platform.services.registry.load(tenant_id)
    assert record is not None
    mark = platform.services.usage.blocked(tenant_id)
    assert mark == (None if record.status == "active" else record.status), (record.status, mark)
    return record.status


def test_a_suspend_whose_response_is_lost_is_done_and_says_so(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    assert _call(platform, tenant.tenant_id) == "served"
    admin = _operator(platform)
    lost = _once_before_write(admin, platform.settings.registry_table, delivered_then_lost)
    result = admin.suspend(tenant.tenant_id)  # botocore resends the write that was applied
    assert lost and result.changed and "is now suspended" in result.message
    assert _agree(platform, tenant.tenant_id) == "suspended"
    assert _call(platform, tenant.tenant_id) == "refused"


def test_a_resume_racing_a_suspend_leaves_status_and_mark_in_agreement(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant()
    first, second = _operator(platform), _operator(platform)
    first.suspend(tenant.tenant_id)
    # The resume has read the record; the suspend runs whole before the resume's mark write leaves.
    raced = _once_before_write(first, platform.settings.usage_table, _first(lambda: second.suspend(tenant.tenant_id)))
    first.resume(tenant.tenant_id)
    assert raced
    status = _agree(platform, tenant.tenant_id)
    assert _call(platform, tenant.tenant_id) == ("refused" if status == "suspended" else "served")


def test_a_resume_racing_an_offboard_is_refused_and_the_mark_stays(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    operator, offboarder = _operator(platform), _operator(platform)
    operator.suspend(tenant.tenant_id)
    offboard = Offboarder(offboarder, platform.services.clients, workers=1, drain_seconds=0)
    raced = _once_before_write(operator, platform.settings.usage_table, _first(lambda: offboard.run(tenant.tenant_id)))
    with pytest.raises(ConflictError, match="it is now offboarded") as refused:
        operator.resume(tenant.tenant_id)
    assert raced and "wrote nothing" in str(refused.value)
    assert _agree(platform, tenant.tenant_id) == "offboarded"
    assert _call(platform, tenant.tenant_id, "create_customer", name="Late", customer_id="late") == "refused"
    assert platform.services.customer_store.list(context_for(tenant), 100, None).records == []


def test_an_older_status_change_cannot_remove_a_newer_ones_mark(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    meter, client = platform.services.usage, local_client("dynamodb")
    client.transact_write_items(TransactItems=meter.mark_updates(tenant.tenant_id, "suspended", 5))
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=meter.mark_updates(tenant.tenant_id, "active", 4))
    assert meter.blocked(tenant.tenant_id) == "suspended"


class Interrupted(Exception):
    pass


def test_a_rerun_of_an_interrupted_offboard_waits_out_the_rest_of_the_drain(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant()
    admin = _operator(platform)
    now = [0.0]
    waits: list[float] = []

    def interrupted_sleep(seconds: float) -> None:
        raise Interrupted

    first = Offboarder(admin, platform.services.clients, drain_seconds=30, sleep=interrupted_sleep)
    with pytest.raises(Interrupted):
        first.run(tenant.tenant_id)  # marked, then killed while draining
    assert admin.get(tenant.tenant_id).status == "offboarding"
    now[0] = time.time() + 12  # re-run 12 s after the mark
    again = Offboarder(admin, platform.services.clients, drain_seconds=30, sleep=waits.append, clock=lambda: now[0])
    again.run(tenant.tenant_id)
    assert waits == [pytest.approx(18, abs=2)]  # what is left of the drain (give or take this test's own time)
    assert _agree(platform, tenant.tenant_id) == "offboarded"
