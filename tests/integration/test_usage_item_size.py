"""Admission costs one write unit: the month's usage item stays under 1 KB for a tenant that used everything.

DynamoDB bills an UpdateItem by the larger of the item's size before and after it, in 1 KB units,
and admission rewrites the tenant's month item on every call. A busy month (every tool called,
with errors, from four containers at once, every latency bucket, both refusal counters, a status
change's version) must still be one unit, or every call costs two (the cost model counts one).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tenantry.metering.meter import LATENCY_BUCKETS_MS, UsageMeter
from tenantry.metering.tool_codes import TOOL_CODES
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.integration.test_chatgpt_app import platform_server

CONTAINERS = 4
ONE_WRITE_UNIT = 1024


def _size(value: Any) -> int:
    """A value's size by DynamoDB's published rules (item sizes and formats), type descriptor form."""
    ((kind, body),) = value.items()
    if kind == "S":
        return len(body.encode())
    if kind == "N":
        digits = str(abs(Decimal(body))).replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(v) + 1 for k, v in body.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in body)
    raise AssertionError(f"no size rule for {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def test_every_tool_of_the_server_has_its_code() -> None:
    served = {tool.name for tool in platform_server()._tool_manager.list_tools()}
    assert served == set(TOOL_CODES)


def test_a_month_that_used_every_tool_stays_one_write_unit(platform: LocalPlatform) -> None:
    record = TenantRecord(tenant_id=f"size-{uuid.uuid4().hex[:8]}", slug="size", display_name="Size", plan="business")
    tenant = record.context("test", "test", "tenantry-data")
    meters = [UsageMeter(local_client("dynamodb"), platform.settings.usage_table) for _ in range(CONTAINERS)]
    durations = [*(bound - 1 for bound in LATENCY_BUCKETS_MS), 99_999.0]  # every bucket, "inf" included
    for meter in meters:
        for i, tool in enumerate(sorted(TOOL_CODES)):
            month = meter.admit(tenant, tool)
            meter.record(tenant.tenant_id, tool, 1_000_000.0 + durations[i % len(durations)], True, month)
            meter.record(tenant.tenant_id, tool, durations[(i + 1) % len(durations)], False, month)
        meter.admit(tenant, "get_usage")  # the outcomes ride along with this one
    for meter in meters:
        meter.flush()
    client = local_client("dynamodb")
    key = {"pk": {"S": tenant.tenant_id}, "sk": {"S": f"MONTH#{month}"}}
    client.update_item(  # the rest a month can carry: refusals, a status change undone, a registry stamp
        TableName=platform.settings.usage_table,
        Key=key,
        UpdateExpression="ADD quota_denied :n, rate_denied :n SET blocked_version = :v, rv = :v",
        ExpressionAttributeValues={":n": {"N": "123456"}, ":v": {"N": "1733500000123"}},
    )
    item = client.get_item(TableName=platform.settings.usage_table, Key=key, ConsistentRead=True)["Item"]
    usage = meters[0].month(tenant.tenant_id, month)
    assert set(usage.tools) == set(TOOL_CODES) and all(t.errors == CONTAINERS for t in usage.tools.values())
    assert len([a for a in item if a.startswith("lat#")]) == len(LATENCY_BUCKETS_MS) + 1
    assert item_size(item) < ONE_WRITE_UNIT, f"{item_size(item)} B: {sorted(item)}"
