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
