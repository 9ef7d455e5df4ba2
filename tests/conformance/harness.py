"""Run the official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in package.json).

The suite is a Node CLI; both lines are pinned: the 0.2.0 line (the 2026-07-28 requirement set and
the authorization-server scenarios) and, under the npm alias `conformance-01`, the 0.1 line (the
2025-11-25 scenarios over the initialize handshake, which ChatGPT and most clients still speak).
Both need Node 22 (they import `fs.globSync`); package.json pins the `node` package for that, so the
machine's own Node may stay at 20 for the CDK.

The server scenarios have no option for a bearer token: they talk to a loopback proxy that adds one
(`TokenProxy`), as a gateway in front of a client would. Docs: docs/conformance.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / "node" / "bin" / "node"
SUITE_02 = ROOT / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
SUITE_01 = ROOT / "node_modules" / "conformance-01" / "dist" / "index.js"
EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.txt")
_LOOPBACK_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:\d+)?", re.IGNORECASE)
# Headers a proxy must not pass on (RFC 9110 §7.6.1), and the ones it recomputes.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def missing_tools(paths: tuple[Path, ...] = (NODE, SUITE_02, SUITE_01)) -> str | None:
    """Why the suite cannot run here, or None."""
    for path in paths:
        if not path.exists():
            return f"{path} is missing: run `npm ci` (./dev test does)"
    return None


def require_tools(environ: dict[str, str], paths: tuple[Path, ...] = (NODE, SUITE_02, SUITE_01)) -> None:
    """Skip without the suite's Node tools, with the reason; under CI fail instead (tests/needs.py)."""
    from tests.needs import require

    reason = missing_tools(paths)
    if reason is not None:
        require(f"what the conformance suite needs ({reason})", None, environ)


class TokenProxy:
    """A loopback reverse proxy that adds `Authorization: Bearer <token>` to every request.

    Everything else passes as sent, Host and Origin included: the suite's DNS-rebinding scenario
    sets both on purpose, and the server behind must see them.
    """

    def __init__(self) -> None:
        # Bound first, pointed at the server later: the server's allowed Origins name this port.
        self.upstream = ""
        self.token = ""
        self._client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                # Field values exclude surrounding whitespace (RFC 9110 §5.5); httpx refuses to send it.
                headers = [
                    (k, v.strip())
                    for k, v in self.headers.items()
                    if k.lower() not in _HOP_BY_HOP | {"authorization", "host"}
                ]
                headers.append(("authorization", f"Bearer {proxy.token}"))
                # The proxy's own loopback Host becomes the server's (as a reverse proxy sets it); any
                # other Host (the DNS-rebinding scenario's evil.example.com) reaches the server as sent.
                host = (self.headers.get("host") or "").strip()
                if _LOOPBACK_HOST.fullmatch(host):
                    host = urlsplit(proxy.upstream).netloc
                headers.append(("host", host))
                answer = proxy._client.request(self.command, proxy.upstream + self.path, headers=headers, content=body)
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = do_PUT = do_OPTIONS = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/mcp"

    @property
    def origins(self) -> list[str]:
        """The Origins a browser page on the proxy's own loopback address would send."""
        return [f"http://localhost:{self.port}", f"http://127.0.0.1:{self.port}"]

    @contextmanager
    def serving(self) -> Iterator[TokenProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._client.close()


@dataclass(frozen=True)
class ExpectedFailure:
    entry: str  # a scenario, or scenario:check-id
    reason: str


def expected_failures(suite: str) -> list[ExpectedFailure]:
    """The entries of expected_failures.txt for one suite run (`server-2026`, `server-2025`, ...)."""
    entries = []
    for number, line in enumerate(EXPECTED_FAILURES.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(\S+)\s+(\S+)\s+(\S.*)", line)
        if match is None:
            raise ValueError(f"{EXPECTED_FAILURES.name}:{number}: want `SUITE ENTRY REASON`, got {line!r}")
        if match.group(1) == suite:
            entries.append(ExpectedFailure(match.group(2), match.group(3)))
    return entries


def baseline_yaml(entries: list[ExpectedFailure], path: Path) -> Path:
    """The suite's own --expected-failures format (YAML, under `server:`)."""
    lines = ["server:"] + [f"  - {json.dumps(entry.entry)}" for entry in entries]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    checks: dict[str, list[dict[str, Any]]]  # scenario -> its checks (from checks.json)

    def totals(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for checks in self.checks.values():
            for check in checks:
                counts[check["status"]] = counts.get(check["status"], 0) + 1
        return counts

    def failing(self) -> set[str]:
        """Every failing `scenario:check-id` (and `scenario` itself) of the run."""
        failed: set[str] = set()
        for scenario, checks in self.checks.items():
            for check in checks:
                if check["status"] == "FAILURE":
                    failed |= {scenario, f"{scenario}:{check['id']}"}
        return failed


def run_suite(args: list[str], out_dir: Path, *, line: str = "0.2", timeout: float = 900) -> Run:
    """Run the CLI with `args` (plus -o out_dir); read every scenario's checks.json it wrote."""
    script = SUITE_02 if line == "0.2" else SUITE_01
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    done = subprocess.run(
        [str(NODE), str(script), *args, "-o", str(out_dir)],
        cwd=out_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    checks: dict[str, list[dict[str, Any]]] = {}
    for found in sorted(out_dir.rglob("checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T.*$", "", found.parent.name).removeprefix("server-")
        checks[scenario] = json.loads(found.read_text())
    return Run(done.returncode, done.stdout + done.stderr, checks)
