"""Offline proof of the e2e suite's contract: with credentials, a failed AWS call fails the run.

`./dev e2e` is run in a child pytest with made-up credentials and CloudFormation pointed at a
closed loopback port, so describe_stacks fails as it would for a missing stack or a broken
trust policy. Without credentials the same run skips and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _e2e_run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TENANTRY_E2E"))}
    clean.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "no-config"), **env)
    # The e2e tests use no Hypothesis, and its plugin imports all of Hypothesis at the end of every run
    # (a quarter of this child's time); everything else is loaded as `./dev e2e` loads it.
    plugins = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_deployed.py", "-m", "e2e", "-q", *plugins],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_with_credentials_a_failed_aws_call_fails_instead_of_skipping(tmp_path: Path) -> None:
    result = _e2e_run(
        tmp_path,
        AWS_ACCESS_KEY_ID="AKIAE2ESTRICTTEST00",
        AWS_SECRET_ACCESS_KEY="not-a-real-secret",
        AWS_REGION="eu-west-1",
        AWS_ENDPOINT_URL_CLOUDFORMATION="http://127.0.0.1:9",
        AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "credentials present, so this fails" in output
    assert " skipped" not in output.splitlines()[-1], output[-2000:]


def test_without_credentials_the_run_skips_and_says_so(tmp_path: Path) -> None:
    result = _e2e_run(tmp_path, AWS_EC2_METADATA_DISABLED="true")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "skipped" in output.splitlines()[-1]
    assert "passed" not in output.splitlines()[-1]
