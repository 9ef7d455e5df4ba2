"""`./dev tour` against the session's local platform: every step holds, and the output reads as a tour."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry_admin import tour


def test_the_tour_runs_every_step(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = tour.main(["--state-dir", str(state_dir)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    for step in ("1. Two studios", "2. Another studio", "3. Plans", "4. Suspension"):
        assert step in out
    assert "refused (HTTP 403)" in out and "suspended" in out  # the suspended call, met at once
    assert "Every step held" in out


def test_the_tour_says_how_to_start_the_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tour.main(["--state-dir", str(tmp_path)]) == 2
    assert "start `./dev local`" in capsys.readouterr().err
