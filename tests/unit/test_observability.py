from __future__ import annotations

import logging
from typing import Any

import pytest

from tenantry.observability import get_logger, log_context, traced


def test_log_context_keys_are_per_block_and_nest() -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = get_logger()
    handler = Collect()
    logger.addHandler(handler)
    try:
        with log_context(tenant_id="a-studio", plan="free"):
            with log_context(tool="get_customer"):
                logger.warning("inner")
            logger.warning("outer")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
    inner, outer, after = records[-3:]
    assert (getattr(inner, "tenant_id", None), getattr(inner, "tool", None)) == ("a-studio", "get_customer")
    assert getattr(outer, "tenant_id", None) == "a-studio" and not hasattr(outer, "tool")
    assert not hasattr(after, "tenant_id")


def test_tracing_off_costs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import tenantry.observability as observability

    def explode() -> Any:
        raise AssertionError("the tracer was created with tracing off")

    monkeypatch.setattr(observability, "get_tracer", explode)
    with traced("x", False, tool="t"):
        pass


def test_tracing_on_annotates_a_subsegment(monkeypatch: pytest.MonkeyPatch) -> None:
    import tenantry.observability as observability

    annotations: dict[str, str] = {}

    class Subsegment:
        def put_annotation(self, key: str, value: str) -> None:
            annotations[key] = value

    class Provider:
        def in_subsegment(self, name: str) -> Any:
            from contextlib import nullcontext

            return nullcontext(Subsegment())

    class Tracer:
        provider = Provider()

    monkeypatch.setattr(observability, "get_tracer", lambda: Tracer())
    with traced("## tool x", True, tool="x", plan="free"):
        pass
    assert annotations == {"tool": "x", "plan": "free"}


def _emf_documents(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_routine_metrics_wait_a_minute_and_carry_the_first_calls_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantry.observability import MetricsBatch, emit_metric, get_metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    get_metrics().clear_metrics()
    capsys.readouterr()
    import time

    start = float(int(time.time()))  # CloudWatch takes timestamps within two weeks, so a real one
    now = [start]
    batch = MetricsBatch(max_age_seconds=60, clock=lambda: now[0])
    for second in (0, 20, 59):
        now[0] = start + second
        emit_metric("ToolCalls")
        batch.after_invocation()
    assert _emf_documents(capsys) == []  # three successful calls, nothing written yet
    now[0] = start + 60
    emit_metric("ToolCalls")
    batch.after_invocation()
    (document,) = _emf_documents(capsys)
    assert document["ToolCalls"] == [1.0, 1.0, 1.0, 1.0]
    assert document["_aws"]["Timestamp"] == int(start * 1000)  # the first pending call's time, not the flush's


def test_an_error_flushes_at_once_with_what_was_pending(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantry.observability import MetricsBatch, emit_metric, get_metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    get_metrics().clear_metrics()
    capsys.readouterr()
    batch = MetricsBatch(max_age_seconds=60)
    emit_metric("ToolCalls")
    batch.after_invocation()
    assert _emf_documents(capsys) == []
    emit_metric("ToolCalls")
    emit_metric("ToolErrors")
    batch.after_invocation()
    (document,) = _emf_documents(capsys)
    assert document["ToolCalls"] == [1.0, 1.0]
    assert document["ToolErrors"] == [1.0]
    batch.after_invocation()  # nothing pending: nothing written
    assert _emf_documents(capsys) == []


@pytest.mark.parametrize(
    ("rate", "draw", "failed", "weight"),
    [
        (0.05, 0.01, False, 20.0),  # a success drawn into the sample stands for 20 calls
        (0.05, 0.5, False, None),  # the other 19 in 20 successes write nothing
        (0.05, 0.99, True, 1.0),  # a failure is always logged, as itself
        (0.0, 0.0, False, None),  # sampling off: no success is logged
        (1.0, 0.99, False, 1.0),  # full logging for an investigation
    ],
)
def test_failures_are_logged_in_full_and_successes_sampled_with_their_weight(
    rate: float, draw: float, failed: bool, weight: float | None
) -> None:
    from tenantry.mcp_server.server import TenantMCPServer

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    server = TenantMCPServer(None, None, success_log_sample=rate, sample=lambda: draw)  # type: ignore[arg-type]
    logger = get_logger()
    handler = Collect()
    logger.addHandler(handler)
    try:
        server._log_call(12.5, failed)
    finally:
        logger.removeHandler(handler)
    lines = [r for r in records if getattr(r, "event", None) == "tool_call"]
    if weight is None:
        assert lines == []
    else:
        (line,) = lines
        assert (getattr(line, "weight", None), getattr(line, "error", None)) == (weight, int(failed))
        assert getattr(line, "weighted_ms", None) == 12.5 * weight


def test_every_metric_the_code_emits_is_one_the_cost_model_knows() -> None:
    """bench/cost.py bills METRIC_NAMES for the month and INCIDENT_METRICS by the hour: no third kind."""
    import re
    from pathlib import Path

    from tenantry.canary.runner import VIOLATION_METRIC
    from tenantry.observability import INCIDENT_METRICS, METRIC_NAMES

    source = Path(__file__).resolve().parents[2] / "functions" / "tenantry"
    emitted = {name for path in source.rglob("*.py") for name in re.findall(r'emit_metric\("(\w+)"', path.read_text())}
    emitted.add(VIOLATION_METRIC)
    assert len(emitted) > 5
    assert emitted <= set(METRIC_NAMES) | set(INCIDENT_METRICS), emitted - set(METRIC_NAMES) - set(INCIDENT_METRICS)
    assert not set(METRIC_NAMES) & set(INCIDENT_METRICS)
