"""tests/needs.py: a missing tool skips on a laptop and fails under any truthy CI; .ci/run sets CI itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.needs import in_ci, require

ROOT = Path(__file__).resolve().parents[2]
# A skip decided in the test itself (pytest.skip.Exception in a pytest.raises is not one).
_BARE_SKIP = re.compile(r"pytest\.skip\(|\.skipif\(|importorskip\(")


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", "YES", "on", " true "])
def test_a_missing_tool_fails_under_any_truthy_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI is set and chromium is missing"):
        require("chromium", None)


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off"])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="node is missing"):
        require("node", "")


def test_a_present_tool_is_returned_whatever_ci_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require("node", "/usr/bin/node") == "/usr/bin/node"


def test_ci_run_sets_ci_itself_before_running_the_suite() -> None:
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert "export CI=true" in lines
    assert lines.index("export CI=true") < lines.index("./dev test")


def test_every_test_that_can_skip_for_a_missing_tool_goes_through_the_helper() -> None:
    # A bare skip (or skipif) would go silent under CI; tests/e2e alone stays opt-in (AWS credentials).
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.parent.name != "e2e" and path.name != "needs.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _BARE_SKIP.search(line)
    ]
    assert offenders == []
