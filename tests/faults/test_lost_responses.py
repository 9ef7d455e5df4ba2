"""Admission under lost responses and racing writers: each call counted exactly once, minutes only forward.

The faults let the write reach DynamoDB (moto) and then lose its response (a read timeout, or a
500 after the write was applied); interleavings are forced from `before-send` hooks, never by
sleeping. docs/reliability.md ("Lost responses and races") lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.config import Config

from tenantry.errors import (
    AdmissionContentionError,
    LimitExceededError,
    QuotaExceededError,
    RateLimitedError,
    TenantryError,
)
from tenantry.metering.meter import UsageMeter
from tenantry.tenancy.plans import QuotaOverrides
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.faults.conftest import FaultPlan, delivered_then, delivered_then_lost, json_error

DDB = "com.amazonaws.dynamodb.v20120810#"
LOST = {
    "read-timeout": delivered_then_lost,
    "500-after-apply": delivered_then(json_error("InternalServerError", status=500, prefix=DDB)),
}


class Clock:
    def __init__(self, at: str) -> None:
        self.now = datetime.fromisoformat(at).timestamp()

    def __call__(self) -> float:
        return self.now


def _tenant(**quotas: int) -> Any:
    record = TenantRecord(
        tenant_id=f"lr-{uuid.uuid4().hex[:8]}",
        slug="lr",
        display_name="Lost responses",
        plan="starter",
        quota_overrides=QuotaOverrides(**quotas),
    )
    return record.context("test", "test", "tenantry-data")


def _meter(platform: LocalPlatform, at: str, resend: str = "meter") -> tuple[UsageMeter, Clock, FaultPlan]:
    """A meter whose admission writes go through a fault plan.

    resend="meter": botocore's retries off (as deployed, tenantry/stores.py), the meter resends;
    resend="botocore": botocore's own retry resends the same request.
    """
    plan = FaultPlan()
    client = local_client("dynamodb")
    admission = _no_retry_client() if resend == "meter" else client
    admission.meta.events.register("before-send", plan.before_send)
    clock = Clock(at)
    meter = UsageMeter(
        client, platform.settings.usage_table, clock=clock, admission_client=admission, sleep=lambda _: None
    )
    return meter, clock, plan


def _no_retry_client() -> Any:
    import boto3

    from tenantry_local.aws import LOCAL_ENV

    return boto3.Session(
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_ENV["AWS_SESSION_TOKEN"],
        region_name=LOCAL_ENV["AWS_REGION"],
    ).client("dynamodb", config=Config(retries={"total_max_attempts": 1}))


def _usage(meter: UsageMeter, tenant: Any, month: str) -> Any:
    meter.flush()
    return meter.month(tenant.tenant_id, month)


@pytest.mark.parametrize("resend", ["meter", "botocore"])
@pytest.mark.parametrize("fault", sorted(LOST))
def test_an_admission_whose_response_is_lost_counts_once(platform: LocalPlatform, fault: str, resend: str) -> None:
    meter, _, plan = _meter(platform, "2030-08-01T09:00:10+00:00", resend)
    tenant = _tenant(calls_per_minute=100)
    lost = plan.arm("dynamodb", "UpdateItem", LOST[fault], times=1)
    meter.admit(tenant, "list_customers")  # the first of a minute: the "new minute" form
    assert lost.hits == 1
    lost = plan.arm("dynamodb", "UpdateItem", LOST[fault], times=1)
    meter.admit(tenant, "list_customers")  # the "same minute" form
    assert lost.hits == 1
    usage = _usage(meter, tenant, "2030-08")
    assert usage.calls == 2 and usage.tools["list_customers"].calls == 2
    item = local_client("dynamodb").get_item(  # the minute counter is not in MonthUsage
        TableName=platform.settings.usage_table,
        Key={"pk": {"S": tenant.tenant_id}, "sk": {"S": "MONTH#2030-08"}},
        ConsistentRead=True,
    )["Item"]
    assert item["minute_calls"] == {"N": "2"}


def test_a_lost_response_at_the_quota_edge_admits_the_call_it_counted(platform: LocalPlatform) -> None:
    meter, _, plan = _meter(platform, "2030-08-02T09:00:00+00:00")
    tenant = _tenant(monthly_tool_calls=1, calls_per_minute=100)
    plan.arm("dynamodb", "UpdateItem", delivered_then_lost, times=1)
    meter.admit(tenant, "get_usage")  # counted and admitted, not counted and then refused
    with pytest.raises(QuotaExceededError):
        meter.admit(tenant, "get_usage")
    usage = _usage(meter, tenant, "2030-08")
    assert usage.calls == 1 and usage.quota_denied == 1


def test_outcomes_riding_on_a_lost_admission_are_added_once(platform: LocalPlatform) -> None:
    meter, _, plan = _meter(platform, "2030-08-03T09:00:00+00:00")
    tenant = _tenant(calls_per_minute=100)
    meter.admit(tenant, "get_customer")
    meter.record(tenant.tenant_id, "get_customer", 40.0, True)
    plan.arm("dynamodb", "UpdateItem", delivered_then_lost, times=1)
    meter.admit(tenant, "get_customer")
    usage = _usage(meter, tenant, "2030-08")
    assert usage.calls == 2
    assert usage.tools["get_customer"].errors == 1 and usage.tools["get_customer"].total_ms == 40
    assert sum(usage.latency_histogram_ms.values()) == 1


def _before_first_send(plan: FaultPlan, action: Callable[[], None]) -> None:
    """Run `action` just before the meter's first admission write leaves, then let that write go."""

    def run_then_pass(request: Any) -> Any:
        action()
        return None

    plan.arm("dynamodb", "UpdateItem", run_then_pass, times=1)


def test_a_late_write_from_the_previous_minute_counts_against_the_newer_one(platform: LocalPlatform) -> None:
    late, _, plan = _meter(platform, "2030-08-04T10:00:59.950+00:00")
    other, _, _ = _meter(platform, "2030-08-04T10:01:10+00:00")
    tenant = _tenant(calls_per_minute=3)
    # Stamped 10:00, the write lands after another container's three admissions in 10:01.
    _before_first_send(plan, lambda: [other.admit(tenant, "list_customers") for _ in range(3)])
    with pytest.raises(RateLimitedError):
        late.admit(tenant, "list_customers")
    with pytest.raises(RateLimitedError):
        other.admit(tenant, "list_customers")
    usage = _usage(late, tenant, "2030-08")
    assert usage.calls == 3  # never more than 3 in 10:01


def test_a_counter_that_keeps_moving_is_contention_not_a_rate_limit(platform: LocalPlatform) -> None:
    busy, _, plan = _meter(platform, "2030-08-05T10:00:30+00:00")
    other, clock, _ = _meter(platform, "2030-08-05T10:01:00+00:00")
    tenant = _tenant(calls_per_minute=100)

    def another_minute_begins(request: Any) -> Any:
        other.admit(tenant, "list_customers")
        clock.now += 60
        return None

    plan.arm("dynamodb", "UpdateItem", another_minute_begins)
    with pytest.raises(TenantryError) as refused:
        busy.admit(tenant, "list_customers")
    assert isinstance(refused.value, AdmissionContentionError), type(refused.value)
    assert not isinstance(refused.value, LimitExceededError)
    plan.clear()
    usage = _usage(busy, tenant, "2030-08")
    assert usage.calls == 4 and usage.rate_denied == 0  # other's four; the busy call neither counted nor refused
