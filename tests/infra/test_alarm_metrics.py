"""Each alarm watches a metric the code path it is about really emits: same namespace, name and dimensions.

The template's alarm metric is compared with what the runtime writes when that path runs: the
EMF document the MCP function flushes at the end of an invocation (namespace, dimension set,
metric names), the status the function answers (what API Gateway's 5xx counts), and the log
line the authorization server writes when its app raises (what the metric filter matches). A
renamed metric, a dimension added on one side only, or a Mangum upgrade that rewords its log
line makes these fail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from infra.constructs.observability import AUTH_CRASH_PATTERN
from tenantry.oauth.app import OAuthLambdaApp
from tenantry.observability import get_metrics
from tenantry.routes import AS_METADATA_PATH
from tenantry_local.apigw import build_event
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform
from tests.faults.conftest import FaultPlan, faulty, json_error, plan  # noqa: F401 - fixtures used below
from tests.infra.conftest import Synth
from tests.security.conftest import lambda_event, rpc

DDB = "com.amazonaws.dynamodb.v20120810#"


@pytest.fixture
def flushed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The EMF documents the function flushes, as CloudWatch would receive them from its log."""
    documents: list[dict[str, Any]] = []
    metrics = get_metrics()
    original = metrics.flush_metrics

    def capture(*args: Any, **kwargs: Any) -> None:
        if metrics.metric_set:
            documents.append(metrics.serialize_metric_set())
        original(*args, **kwargs)

    monkeypatch.setattr(metrics, "flush_metrics", capture)
    yield documents


def emitted(documents: list[dict[str, Any]], name: str) -> list[tuple[str, str, list[dict[str, str]]]]:
    """(namespace, metric, dimensions) for each time `name` was emitted, in CloudFormation's spelling."""
    found = []
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if name not in {m["Name"] for m in directive["Metrics"]}:
                continue
            (dimension_set,) = directive["Dimensions"]
            dimensions = [{"Name": key, "Value": document[key]} for key in dimension_set]
            found.append((directive["Namespace"], name, dimensions))
    return found


def alarm_metric(synth: Synth, construct: str) -> tuple[str, str, list[dict[str, str]]]:
    props = synth.raw["Resources"][synth.logical_id(f"Observability/{construct}")]["Properties"]
    return props["Namespace"], props["MetricName"], props.get("Dimensions", [])


def _invoke(container: Container, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = container.executor.submit(container.invoke, event).result(timeout=60)
    return result


def test_internal_errors_alarm_reads_what_an_escaped_exception_emits_and_the_api_counts_a_5xx(
    synth: Synth,
    faulty: tuple[Container, FaultPlan],  # noqa: F811
    flushed: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = faulty[0]

    async def crash(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    # The gateway's outermost boundary: anything the MCP app lets escape.
    monkeypatch.setattr(container.app.gateway, "_mcp", crash)
    result = _invoke(container, lambda_event("ironworks-gym", rpc("list_customers", {})))
    # API Gateway's 5xx metric counts the integration's status: the ApiServerErrorRate alarm sees this.
    assert result["statusCode"] == 500
    assert alarm_metric(synth, "InternalErrors") in emitted(flushed, "InternalErrors")


def test_dependency_errors_alarm_reads_what_a_failing_aws_call_emits(
    synth: Synth,
    platform: LocalPlatform,
    faulty: tuple[Container, FaultPlan],  # noqa: F811
    plan: FaultPlan,  # noqa: F811
    flushed: list[dict[str, Any]],
    new_tenant: Any,
) -> None:
    tenant = new_tenant()
    plan.arm("dynamodb", "Query", json_error("ProvisionedThroughputExceededException", prefix=DDB))
    result = _invoke(faulty[0], lambda_event(tenant.tenant_id, rpc("list_customers", {})))
    body = json.loads(result["body"])
    assert result["statusCode"] == 200 and body["result"]["isError"]
    assert alarm_metric(synth, "DependencyErrors") in emitted(flushed, "DependencyErrors")


def test_the_cross_tenant_alarm_reads_what_a_refused_cross_tenant_call_emits(
    synth: Synth,
    faulty: tuple[Container, FaultPlan],  # noqa: F811
    flushed: list[dict[str, Any]],
    new_tenant: Any,
) -> None:
    tenant, other = new_tenant(), new_tenant()
    # A token for one tenant asking for another's data by header: refused, audited, counted.
    event = lambda_event(tenant.tenant_id, rpc("list_customers", {}), headers={"x-tenant-id": other.tenant_id})
    _invoke(faulty[0], event)
    assert alarm_metric(synth, "CrossTenantDenied") in emitted(flushed, "CrossTenantDenied")


def test_the_authorization_server_crash_filter_matches_the_line_an_exception_in_its_app_writes(
    synth: Synth, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (metric_filter,) = synth.resources("AWS::Logs::MetricFilter").values()
    # A quoted filter term matches log events that contain the phrase (CloudWatch filter syntax).
    pattern = metric_filter["Properties"]["FilterPattern"]
    assert pattern.startswith('"') and pattern.endswith('"')
    phrase = pattern[1:-1]
    app = OAuthLambdaApp(platform.oauth)

    def fail() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(platform.oauth, "metadata", fail)
    caplog.set_level(logging.ERROR)
    event = build_event(
        method="GET",
        path=AS_METADATA_PATH,
        query="",
        headers=[("host", "127.0.0.1")],
        body=b"",
        source_ip="203.0.113.7",
        route_key=f"GET {AS_METADATA_PATH}",
        claims=None,
    )
    result = app(event, None)
    # Lambda's own Errors metric does not count this: the function returned a 500 normally.
    assert result["statusCode"] == 500
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(phrase in line for line in lines), lines
    assert phrase == AUTH_CRASH_PATTERN
