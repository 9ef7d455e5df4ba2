"""Run `tenantry ...` in process against the session's local platform, the way an operator would."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tenantry_admin.cli import main
from tenantry_local.platform import LocalPlatform


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="session")
def state_dir(platform: LocalPlatform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `tenantry local` writes, for the session's platform."""
    directory = tmp_path_factory.mktemp("tenantry-state")
    (directory / "local.json").write_text(json.dumps(platform.describe()))
    return directory


@pytest.fixture
def tenantry(
    state_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    """tenantry(*argv, stdin=None) -> Run(code, out, err); argparse errors come back as their exit code."""
    monkeypatch.setenv("USER", "ops-alice")

    def run(*argv: str, stdin: str | None = None, state: Path | None = None) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        try:
            code = main(["--state-dir", str(state or state_dir), *argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def tenant_id() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


def one_line_error(run: Run) -> str:
    """The failure is exactly one line on stderr, exit code 2, nothing on stdout, no traceback."""
    assert run.code == 2, (run.code, run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("tenantry: ")
    assert "Traceback" not in run.err
    assert run.out == ""
    return lines[0]
