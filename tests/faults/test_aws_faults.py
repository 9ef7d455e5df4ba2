"""What a tenant sees when DynamoDB, STS, KMS or S3 fail: a clear error that says whether to retry.

For every fault: the answer is a tool error with a body (never a bare 500 or the SDK's crash
text), nothing is half-written, the call is not metered as a success, a metric is emitted,
and the same container serves the next request normally. docs/reliability.md has the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantry.logic.notifications import WEBHOOK_SECRET
from tenantry.observability import add_metric_listener
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.faults.conftest import (
    Answer,
    FaultPlan,
    delivered_then_lost,
    json_error,
    query_error,
    read_timeout,
    xml_error,
)
from tests.security.conftest import lambda_event, post, rpc, tool_text

DDB = "com.amazonaws.dynamodb.v20120810#"
RETRY = "Retry in a few seconds"
NO_RETRY = "retrying will not help"

# id: (service, operation, answer, table, tool, arguments, what the message must say)
CASES: dict[str, tuple[str, str, Answer, str | None, str, dict[str, Any], str]] = {
    "dynamodb-throttling": (
        "dynamodb", "TransactWriteItems", json_error("ThrottlingException", prefix=DDB), None,
        "create_customer", {"name": "New", "customer_id": "new"}, RETRY,
    ),
    "dynamodb-provisioned-throughput": (
        "dynamodb", "Query", json_error("ProvisionedThroughputExceededException", prefix=DDB), None,
        "list_customers", {}, RETRY,
    ),
    "dynamodb-transaction-canceled": (
        "dynamodb", "TransactWriteItems",
        json_error(
            "TransactionCanceledException", prefix=DDB,
            CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
        ),
        None, "create_customer", {"name": "New", "customer_id": "new"}, RETRY,
    ),
    "dynamodb-internal-server-error": (
        "dynamodb", "UpdateItem", json_error("InternalServerError", status=500, prefix=DDB), "data",
        "update_customer", {"customer_id": "old", "name": "Changed"}, RETRY,
    ),
    "dynamodb-timeout": ("dynamodb", "GetItem", read_timeout, "data", "get_customer", {"customer_id": "old"}, RETRY),
    "sts-access-denied": (
        "sts", "AssumeRole", query_error("AccessDenied", 403), None, "list_customers", {}, NO_RETRY,
    ),
    "sts-throttling": ("sts", "AssumeRole", query_error("Throttling", 400), None, "list_customers", {}, RETRY),
    "kms-disabled-key": (
        "kms", "Decrypt", json_error("DisabledException"), None,
        "send_booking_notification", {"customer_id": "old", "class_name": "Yoga", "starts_at": "2030-01-01T10:00"},
        NO_RETRY,
    ),
    "kms-throttling": (
        "kms", "Decrypt", json_error("ThrottlingException"), None,
        "send_booking_notification", {"customer_id": "old", "class_name": "Yoga", "starts_at": "2030-01-01T10:00"},
        RETRY,
    ),
    "kms-access-denied": (
        "kms", "Decrypt", json_error("AccessDeniedException"), None,
        "send_booking_notification", {"customer_id": "old", "class_name": "Yoga", "starts_at": "2030-01-01T10:00"},
        "cannot be decrypted",
    ),
    "s3-slow-down": ("s3", "ListObjectsV2", xml_error("SlowDown", 503), None, "get_tenant_profile", {}, RETRY),
}  # fmt: skip


@pytest.fixture
def metrics() -> Iterator[list[str]]:
    seen: list[str] = []
    remove = add_metric_listener(lambda name, _: seen.append(name))
    yield seen
    remove()


def _call(container: Container, tenant_id: str, tool: str, arguments: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = lambda_event(tenant_id, rpc(tool, arguments))
    result = container.executor.submit(container.invoke, event).result(timeout=60)
    return int(result["statusCode"]), json.loads(result["body"])


def _usage(container: Container, tenant_id: str) -> Any:
    services = container.app.services
    services.usage.flush()
    return services.usage.month(tenant_id, datetime.now(UTC).strftime("%Y-%m"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_aws_fault_is_a_clear_tool_error_and_the_container_carries_on(
    platform: LocalPlatform,
    faulty: tuple[Container, FaultPlan],
    plan: FaultPlan,
    new_tenant: Any,
    receiver: tuple[str, list[dict[str, Any]]],
    metrics: list[str],
    case: str,
) -> None:
    service, operation, answer, table, tool, arguments, says = CASES[case]
    container = faulty[0]
    tenant = new_tenant(plan="business")
    context = context_for(tenant, platform)
    store = platform.services.customer_store
    store.create(context, "old", {"name": "Old"})
    platform.services.secret_store.set(context, WEBHOOK_SECRET, receiver[0] + "/hook")
    before = [(c.customer_id, c.name, c.version) for c in store.list(context, 100, None).records]

    fault = plan.arm(service, operation, answer, context.data_table if table == "data" else None)
    status, body = _call(container, tenant.tenant_id, tool, arguments)
    assert fault.hits >= 1
    assert status == 200, body
    result = body["result"]
    text = result["content"][0]["text"]
    assert result["isError"] and says in text, text
    assert "injected" not in text and "Traceback" not in text  # our words, not AWS's raw text
    # Nothing half-written: the tenant's customers are exactly as before.
    assert [(c.customer_id, c.name, c.version) for c in store.list(context, 100, None).records] == before
    # A KMS AccessDenied on decrypt is the tenant's secret not decrypting in its context (the same
    # answer as a copied ciphertext), not AWS failing: a tool error, and no DependencyErrors alarm.
    dependency = [] if case == "kms-access-denied" else ["DependencyErrors"]
    assert sorted(metrics) == sorted([*dependency, "ToolCalls", "ToolErrors"]), metrics
    assert receiver[1] == []  # no webhook went out
    # Counted as a call, recorded as an error: not metered as a success.
    usage = _usage(container, tenant.tenant_id)
    assert usage.calls == 1 and usage.tools[tool].errors == 1

    plan.clear()
    status, body = _call(container, tenant.tenant_id, tool, arguments)
    assert status == 200 and not body["result"].get("isError"), body


def test_a_throttled_admission_is_not_counted_and_says_retry(
    platform: LocalPlatform, faulty: tuple[Container, FaultPlan], plan: FaultPlan, new_tenant: Any, metrics: list[str]
) -> None:
    container = faulty[0]
    tenant = new_tenant()
    plan.arm("dynamodb", "UpdateItem", json_error("ThrottlingException", prefix=DDB), platform.settings.usage_table)
    status, body = _call(container, tenant.tenant_id, "list_customers", {})
    assert status == 200 and body["result"]["isError"]
    assert RETRY in body["result"]["content"][0]["text"]
    assert "DependencyErrors" in metrics
    plan.clear()
    assert _usage(container, tenant.tenant_id).calls == 0
    status, body = _call(container, tenant.tenant_id, "list_customers", {})
    assert not body["result"].get("isError")
    assert _usage(container, tenant.tenant_id).calls == 1


def test_retries_are_botocores_within_a_budget(faulty: tuple[Container, FaultPlan], plan: FaultPlan) -> None:
    from tenantry.mcp_server.services import AWS_RETRY_ATTEMPTS

    config = faulty[0].app.services.dynamodb.meta.config
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == AWS_RETRY_ATTEMPTS
    # Worst case per call stays well inside the 28 s function timeout.
    worst = AWS_RETRY_ATTEMPTS * (config.connect_timeout + config.read_timeout) + 3
    assert worst < 28


def test_a_fault_through_the_emulated_api_gateway_is_a_tool_error_with_a_body(
    platform: LocalPlatform, new_tenant: Any
) -> None:
    tenant = new_tenant()
    throttled = json_error("ThrottlingException", prefix=DDB)
    table = context_for(tenant, platform).data_table

    def before_send(request: Any, **_: Any) -> Any:
        return throttled(request) if f'"TableName": "{table}"' in request.body.decode() else None

    clients = [c.app.services.clients.dynamodb(context_for(tenant, platform)) for c in platform.emulator.containers]
    for client in clients:
        client.meta.events.register("before-send.dynamodb.Query", before_send)
    try:
        response = post(platform, platform.token(tenant.tenant_id), rpc("list_customers", {}))
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.dynamodb.Query", before_send)
    is_error, text, _ = tool_text(response)
    assert is_error and RETRY in text
    is_error, _, _ = tool_text(post(platform, platform.token(tenant.tenant_id), rpc("list_customers", {})))
    assert not is_error


def test_a_lost_admission_response_in_a_container_counts_the_call_once(
    platform: LocalPlatform, faulty: tuple[Container, FaultPlan], plan: FaultPlan, new_tenant: Any
) -> None:
    # The container's own admission client has botocore's retries off: the meter resends, same token.
    container = faulty[0]
    tenant = new_tenant()
    lost = plan.arm("dynamodb", "UpdateItem", delivered_then_lost, platform.settings.usage_table, times=1)
    status, body = _call(container, tenant.tenant_id, "list_customers", {})
    assert lost.hits == 1
    assert status == 200 and not body["result"].get("isError"), body
    assert _usage(container, tenant.tenant_id).calls == 1


def test_admission_contention_is_a_retry_error_not_a_rate_limit(
    platform: LocalPlatform, faulty: tuple[Container, FaultPlan], plan: FaultPlan, new_tenant: Any, metrics: list[str]
) -> None:
    container = faulty[0]
    tenant = new_tenant()
    later = [0]

    def another_writer_moves_the_minute_on(request: Any) -> None:
        # Another container, its clock a minute further each time, starts a newer minute first.
        later[0] += 1
        platform.services.dynamodb.update_item(
            TableName=platform.settings.usage_table,
            Key={"pk": {"S": tenant.tenant_id}, "sk": {"S": f"MONTH#{datetime.now(UTC).strftime('%Y-%m')}"}},
            UpdateExpression="SET #m = :m, #c = :one",
            ExpressionAttributeNames={"#m": "minute", "#c": "minute_calls"},
            ExpressionAttributeValues={":m": {"S": f"2999-01-01T00:{later[0]:02d}"}, ":one": {"N": "1"}},
        )

    plan.arm("dynamodb", "UpdateItem", another_writer_moves_the_minute_on, platform.settings.usage_table)
    status, body = _call(container, tenant.tenant_id, "list_customers", {})
    plan.clear()
    assert status == 200 and body["result"]["isError"], body
    text = body["result"]["content"][0]["text"]
    assert "Usage metering is busy" in text and RETRY in text and "Rate limit" not in text, text
    assert "AdmissionContention" in metrics and "Refused" not in metrics
    assert _usage(container, tenant.tenant_id).rate_denied == 0
