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
    suspended = next(line for line in out.splitlines() if "list_customers (suspended)" in line)
    assert "refused" in suspended and "is suspended" in suspended  # met by the very next call
    resumed = next(line for line in out.splitlines() if "list_customers (resumed)" in line)
    assert "refused" not in resumed
    assert "Every step held" in out


def test_the_tour_says_how_to_start_the_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tour.main(["--state-dir", str(tmp_path)]) == 2
    assert "start `./dev local`" in capsys.readouterr().err
