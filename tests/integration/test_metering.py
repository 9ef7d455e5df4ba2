"""The meter under a controlled clock: exact counts, writes per refusal window, no outcome dropped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tenantry.audit import AuditEvent, AuditTally
from tenantry.errors import QuotaExceededError, RateLimitedError, RegistryChangedError
from tenantry.metering.meter import UsageMeter
from tenantry.tenancy.plans import QuotaOverrides
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform


class Clock:
    def __init__(self, at: str) -> None:
        self.now = datetime.fromisoformat(at).timestamp()

    def __call__(self) -> float:
        return self.now


class Writes:
    """Counts UpdateItem calls made by one client; can fail the next N with an AWS error."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self.fail_next = 0
        client.meta.events.register("before-call.dynamodb.UpdateItem", self._before)

    def _before(self, **kwargs: Any) -> None:
        self.count += 1
        if self.fail_next:
            self.fail_next -= 1
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "injected"}, "ResponseMetadata": {}},
                "UpdateItem",
            )


def _tenant(**quotas: int) -> Any:
    record = TenantRecord(
        tenant_id=f"m-{uuid.uuid4().hex[:8]}",
        slug="m",
        display_name="Metered",
        plan="starter",
        quota_overrides=QuotaOverrides(**quotas),
    )
    return record.context("test", "test", "tenantry-data")


def _meter(platform: LocalPlatform, at: str) -> tuple[UsageMeter, Clock, Writes]:
    client = local_client("dynamodb")
    clock = Clock(at)
    meter = UsageMeter(client, platform.settings.usage_table, clock=clock, sleep=lambda _: None)
    return meter, clock, Writes(client)


def test_a_rate_limited_tenant_costs_one_write_per_container_per_minute(platform: LocalPlatform) -> None:
    meter, clock, writes = _meter(platform, "2030-01-15T10:00:05+00:00")
    tenant = _tenant(calls_per_minute=2)
    meter.admit(tenant, "list_customers")
    meter.admit(tenant, "list_customers")
    assert writes.count == 2
    for _ in range(10):
        with pytest.raises(RateLimitedError, match="Retry in"):
            meter.admit(tenant, "list_customers")
        clock.now += 1
    assert writes.count == 3  # the one failed conditional write that opened the window
    clock.now = datetime.fromisoformat("2030-01-15T10:01:00+00:00").timestamp()
    meter.admit(tenant, "list_customers")  # a new minute: admitted, and the 10 refusals ride along
    assert writes.count == 4
    usage = meter.month(tenant.tenant_id, "2030-01")
    assert usage.calls == 3 and usage.rate_denied == 10


def test_a_quota_refusal_is_remembered_five_minutes_then_meets_a_registry_change(platform: LocalPlatform) -> None:
    # Containers cache registry records for an hour; a raised quota is stamped on the usage item, and
    # a container that remembers a quota refusal writes again after five minutes to meet it.
    meter, clock, writes = _meter(platform, "2030-04-10T08:00:00+00:00")
    tenant = _tenant(monthly_tool_calls=2, calls_per_minute=1000).model_copy(update={"registry_version": 1})
    for _ in range(2):
        meter.admit(tenant, "get_usage")
    with pytest.raises(QuotaExceededError):
        meter.admit(tenant, "get_usage")
    assert writes.count == 3
    clock.now += 299
    with pytest.raises(QuotaExceededError):
        meter.admit(tenant, "get_usage")
    assert writes.count == 3  # within the window: refused without a write
    meter.stamp(tenant.tenant_id, 2)  # an operator raised the quota: registry version 2
    stamped = writes.count
    clock.now += 2
    with pytest.raises(RegistryChangedError):  # the container re-reads the record (server.py)
        meter.admit(tenant, "get_usage")
    assert writes.count == stamped + 1
    meter.flush()
    usage = meter.month(tenant.tenant_id, "2030-04")
    assert usage.calls == 2 and usage.quota_denied == 2


def test_the_quota_stays_exact_and_a_raised_quota_ends_the_window(platform: LocalPlatform) -> None:
    meter, _, writes = _meter(platform, "2030-02-10T08:00:00+00:00")
    tenant = _tenant(monthly_tool_calls=3, calls_per_minute=1000)
    for _ in range(3):
        meter.admit(tenant, "get_usage")
    for _ in range(5):
        with pytest.raises(QuotaExceededError):
            meter.admit(tenant, "get_usage")
    assert writes.count == 4
    raised = tenant.model_copy(update={"config": tenant.config.model_copy(update={"monthly_tool_calls": 4})})
    meter.admit(raised, "get_usage")
    with pytest.raises(QuotaExceededError):
        meter.admit(raised, "get_usage")
    meter.flush()
    usage = meter.month(tenant.tenant_id, "2030-02")
    assert usage.calls == 4 and usage.quota_denied == 6


def test_outcomes_are_carried_to_their_own_month_at_rollover(platform: LocalPlatform) -> None:
    meter, clock, _ = _meter(platform, "2030-03-31T23:59:58+00:00")
    tenant = _tenant()
    month = meter.admit(tenant, "export_customers")
    clock.now += 5  # the call finishes in April
    meter.record(tenant.tenant_id, "export_customers", 4200.0, True, month)
    meter.admit(tenant, "list_customers")
    march = meter.month(tenant.tenant_id, "2030-03")
    april = meter.month(tenant.tenant_id, "2030-04")
    assert march.tools["export_customers"].errors == 1 and march.tools["export_customers"].total_ms == 4200
    assert april.calls == 1 and "export_customers" not in april.tools


def test_outcomes_survive_an_admission_that_failed_on_an_aws_error(platform: LocalPlatform) -> None:
    meter, _, writes = _meter(platform, "2030-05-05T05:05:05+00:00")
    tenant = _tenant()
    meter.admit(tenant, "get_customer")
    meter.record(tenant.tenant_id, "get_customer", 12.0, True)
    writes.fail_next = 3  # every send the meter makes of this admission (it resends a 500 itself)
    with pytest.raises(ClientError):
        meter.admit(tenant, "get_customer")
    meter.admit(tenant, "get_customer")
    usage = meter.month(tenant.tenant_id, "2030-05")
    assert usage.calls == 2 and usage.tools["get_customer"].errors == 1


def test_a_failed_flush_keeps_what_it_could_not_write(platform: LocalPlatform) -> None:
    meter, _, writes = _meter(platform, "2030-06-01T00:00:00+00:00")
    tenant = _tenant()
    meter.record(tenant.tenant_id, "get_usage", 30.0, False)
    writes.fail_next = 1
    with pytest.raises(ClientError):
        meter.flush()
    meter.flush()
    assert meter.month(tenant.tenant_id, "2030-06").tools["get_usage"].total_ms == 30


def test_refusal_audits_are_one_record_per_tenant_and_minute(platform: LocalPlatform) -> None:
    audit = platform.services.audit
    clock = Clock("2030-07-01T12:00:10+00:00")
    tally = AuditTally(audit, clock=clock)
    tenant_id = f"a-{uuid.uuid4().hex[:8]}"
    puts = Writes.__new__(Writes)
    puts.count, puts.fail_next = 0, 0
    audit._client.meta.events.register("before-call.dynamodb.PutItem", puts._before)
    try:
        event = AuditEvent(tenant_id=tenant_id, principal="p", action="tools/call:x", resource="rate", outcome="denied")
        for _ in range(50):
            tally.add(event)
        assert puts.count == 0
        clock.now += 60
        tally.add(event)  # a new minute: the first minute's record is written, with its count
        assert puts.count == 1
        tally.flush()
        assert puts.count == 2
    finally:
        audit._client.meta.events.unregister("before-call.dynamodb.PutItem", puts._before)
    counts = sorted(e.count for e in audit.recent(tenant_id))
    assert counts == [1, 50]


def test_a_month_item_first_written_by_a_flush_still_expires(platform: LocalPlatform) -> None:
    meter, clock, _ = _meter(platform, "2030-08-31T23:59:59+00:00")
    tenant = _tenant()
    meter.record(tenant.tenant_id, "get_usage", 5.0, False, "2030-07")  # a month with no admission stored
    meter.flush()
    item = local_client("dynamodb").get_item(
        TableName=platform.settings.usage_table,
        Key={"pk": {"S": tenant.tenant_id}, "sk": {"S": "MONTH#2030-07"}},
        ConsistentRead=True,
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(clock.now) + 400 * 86400
