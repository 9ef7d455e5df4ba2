"""The official MCP conformance suite against the local platform (docs/conformance.md).

Server scenarios: the 2026-07-28 and 2025-11-25 requirement sets (0.2 line) and the 0.1 line's
2025-11-25 scenarios, through a proxy that adds a demo tenant's token. Every failing check must be
listed in expected_failures.txt (fixture tools, extensions not offered) and every listed one must
still fail: a new failure fails the test, and so does a fixed one left in the list.
Authorization-server scenarios: metadata and a code grant, signed in as a person in a browser.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tenantry_local.platform import LocalPlatform
from tests.conformance.harness import (
    NODE,
    SUITE_02,
    ExpectedFailure,
    Run,
    TokenProxy,
    baseline_yaml,
    expected_failures,
    require_tools,
    run_suite,
)
from tests.oauth.conftest import Browser
from tests.tls import CLIENT_TLS

SUITES = {
    "server-2026": (["server", "--requirements", "2026-07-28"], "0.2"),
    "server-2025": (["server", "--requirements", "2025-11-25"], "0.2"),
    "server-01": (["server", "--spec-version", "2025-11-25"], "0.1"),
}


def judge(run: Run, expected: list[ExpectedFailure]) -> tuple[list[str], list[str]]:
    """(unexpected failures, stale entries): both must be empty."""
    failing = run.failing()
    entries = {entry.entry for entry in expected}
    unexpected = sorted(
        failure
        for failure in failing
        if ":" in failure and failure not in entries and failure.split(":", 1)[0] not in entries
    )
    stale = sorted(entry for entry in entries if entry not in failing)
    return unexpected, stale


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_server_scenarios(proxied: tuple[LocalPlatform, TokenProxy], suite: str, tmp_path: Path) -> None:
    _, proxy = proxied
    args, line = SUITES[suite]
    expected = expected_failures(suite)
    baseline = baseline_yaml(expected, tmp_path / "baseline.yml")
    run = run_suite([*args, "--url", proxy.url, "--expected-failures", str(baseline)], tmp_path / "out", line=line)
    assert run.checks, f"the suite wrote no results:\n{run.output[-3000:]}"
    unexpected, stale = judge(run, expected)
    details = {
        failure: [c.get("errorMessage") for c in run.checks[failure.split(":")[0]] if c["id"] == failure.split(":")[1]]
        for failure in unexpected
    }
    assert not unexpected, f"new conformance failures (fix them; the list is for fixtures and extensions): {details}"
    assert not stale, f"listed in expected_failures.txt but passing now: remove {stale}"
    # Every scenario the run started wrote its results (a run it could not measure writes none).
    started = re.findall(r"=== Running scenario: (\S+) ===", run.output)
    assert started and set(started) <= set(run.checks), f"{sorted(set(started) - set(run.checks))}: no results"
    # The CLI's own exit code is not the verdict: it counts a WARNING (a SHOULD) as a failure, and the
    # warnings here are a stateless server issuing no session id and fixture tools' answers.
    print(f"{suite}: {run.totals()}")  # the totals docs/conformance.md quotes (pytest -s shows them)


def test_the_expected_failures_are_only_fixtures_and_extensions() -> None:
    for suite in SUITES:
        for entry in expected_failures(suite):
            assert entry.reason.startswith(("fixture:", "extension:", "capability not offered:")), entry


def test_without_node_modules_the_suite_fails_under_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    gone = (tmp_path / "node_modules" / "node" / "bin" / "node",)
    for ci in ("true", "1", "yes"):
        with pytest.raises(pytest.fail.Exception, match="CI is set"):
            require_tools({"CI": ci}, gone)
    with pytest.raises(pytest.skip.Exception, match="npm ci"):
        require_tools({}, gone)
    require_tools({"CI": "true"}, (tmp_path,))  # present: nothing to say


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.timeout(300)
def test_authorization_server_scenarios(proxied: tuple[LocalPlatform, TokenProxy], tmp_path: Path) -> None:
    """Metadata, then a code grant: the suite prints the authorize URL and waits on its callback port;
    a person (the tests' browser) signs in, picks nothing (one studio), allows, and lands on the callback."""
    platform, _ = proxied
    port = _free_port()
    with httpx.Client(base_url=platform.base_url, verify=CLIENT_TLS, timeout=15) as http:
        registered = http.post(
            "/register",
            json={
                "client_name": "conformance suite",
                "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
                "token_endpoint_auth_method": "none",
            },
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
    out = tmp_path / "out"
    out.mkdir()
    command = [str(NODE), str(SUITE_02), "authorization", "--url", platform.base_url, "--client-id", client_id]
    command += ["--resource", platform.mcp_url, "--port", str(port), "-o", str(out)]
    process = subprocess.Popen(command, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    authorize_url: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for text in process.stdout:
            output.append(text)
            if text.startswith(platform.base_url + "/authorize?"):
                authorize_url.append(text.strip())
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(120) and authorize_url, "".join(output)
        browser = Browser(platform)
        try:
            location = browser.approve(authorize_url[0], "owner@ironworks.example")
        finally:
            browser.close()
        assert location.startswith(f"http://127.0.0.1:{port}/callback?"), location
        httpx.get(location, timeout=15)  # the browser following the redirect to the suite's callback
        assert process.wait(120) == 0, "".join(output)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(5)
    checks = [check for found_file in out.rglob("checks.json") for check in json.loads(found_file.read_text())]
    verdicts = {check["id"]: check["status"] for check in checks}
    assert verdicts.get("authorization-server-metadata") == "SUCCESS", verdicts
    assert verdicts.get("authorization-code-grant") == "SUCCESS", "".join(output)
    failing = {check["id"]: check.get("errorMessage") for check in checks if check["status"] == "FAILURE"}
    assert not failing, failing
