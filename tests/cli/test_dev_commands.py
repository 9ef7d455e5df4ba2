"""`tenantry local` and `tenantry token` as a developer runs them: a real process, a real port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tenantry_admin.cli import main

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_tenant_profile", "arguments": {}}}


def _profile(url: str, token: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}
    return httpx.post(url, json=LIST, headers=headers, timeout=30)


def test_local_serves_prints_tokens_mints_more_and_stops_on_ctrl_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no moto from this session
    process = subprocess.Popen(
        [sys.executable, "-m", "tenantry_admin.cli", "--state-dir", str(tmp_path), "local", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        described = tmp_path / "local.json"
        deadline = time.monotonic() + 60
        while not described.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "tenantry local did not start within 60 s"
            time.sleep(0.2)
        info = json.loads(described.read_text())
        assert set(info["tenants"]) >= {"ironworks-gym", "lotus-yoga"}
        assert {t["plan"] for t in info["tenants"].values()} >= {"professional", "free"}

        printed = _profile(info["url"], info["tenants"]["ironworks-gym"]["token"]).json()
        assert printed["result"]["structuredContent"]["tenant_id"] == "ironworks-gym"

        assert main(["--state-dir", str(tmp_path), "token", "--tenant", "lotus-yoga"]) == 0
        minted = capsys.readouterr().out.strip()
        assert _profile(info["url"], minted).json()["result"]["structuredContent"]["tenant_id"] == "lotus-yoga"

        assert main(["--state-dir", str(tmp_path), "token", "--tenant", "nobody-here"]) == 2
        assert "no tenant 'nobody-here' in the local registry" in capsys.readouterr().err

        # A tenant an operator creates against the running server gets a working token at once.
        create = [
            "tenants",
            "create",
            "--id",
            "harbor-pilates",
            "--slug",
            "harbor",
            "--name",
            "Harbor",
            "--plan",
            "starter",
        ]
        assert main(["--state-dir", str(tmp_path), *create]) == 0
        capsys.readouterr()
        assert main(["--state-dir", str(tmp_path), "token", "--tenant", "harbor-pilates"]) == 0
        created = capsys.readouterr().out.strip()
        assert _profile(info["url"], created).json()["result"]["structuredContent"]["tenant_id"] == "harbor-pilates"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, output
    assert "Authorization: Bearer " in output and "Stopping." in output
