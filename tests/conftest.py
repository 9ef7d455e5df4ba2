"""Shared fixtures: one local platform (moto + emulator) per test session.

The platform, the MCP client and the runtime are imported where they are used, not at the top:
every pytest process loads this file, including the child runs in tests/e2e/test_strict.py, which
need none of them (importing them there was a third of each child's start-up).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mcp import Client

    from tenantry.tenancy.context import TenantContext
    from tenantry.tenancy.registry import TenantRecord
    from tenantry_local.platform import LocalPlatform
    from tests.tls import LocalTls

# Before anything imports aws_cdk (tests/infra): no jsii Node end-of-life banner in test output.
for _name in ("DEPRECATED", "UNTESTED"):
    os.environ.setdefault(f"JSII_SILENCE_WARNING_{_name}_NODE_VERSION", "1")
# Past jsii's support date for a Node major, the switch is a list of majors rather than a flag.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22")


@pytest.fixture(scope="session", autouse=True)
def runtime_logger_on_the_session_stream() -> None:
    """powertools' Logger binds its handler to sys.stdout as it is when the logger is created.

    Created inside a test that uses capsys, it would keep writing to that test's capture after
    it is closed, and later tests would see "--- Logging error ---" tracebacks in their output.
    A session fixture is set up before any test's capsys: the logger writes to pytest's
    session-long capture.
    """
    from tenantry.observability import get_logger

    get_logger()


@pytest.fixture(scope="session")
def local_tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTls:
    """A CA the session platform trusts for https client metadata documents, and a 127.0.0.1 certificate."""
    from tests.tls import make_local_tls

    return make_local_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def platform(local_tls: LocalTls) -> Iterator[LocalPlatform]:
    from tenantry_local.platform import running_platform

    with running_platform(port=0, state_dir=None, containers=2, cimd_ca_file=str(local_tls.ca_file)) as running:
        yield running


@pytest.fixture
def new_tenant(platform: LocalPlatform) -> Any:
    """Register a fresh tenant (unique id per test) and return its record."""
    from tenantry.tenancy.registry import TenantRecord

    def make(plan: str = "starter", status: str = "active", slug: str | None = None) -> TenantRecord:
        suffix = uuid.uuid4().hex[:8]
        record = TenantRecord.model_validate(
            {
                "tenant_id": f"t-{suffix}",
                "slug": slug or f"s{suffix}",
                "display_name": f"Studio {suffix}",
                "plan": plan,
                "status": status,
            }
        )
        platform.services.registry.put(record)
        return record

    return make


def context_for(record: TenantRecord, platform: LocalPlatform | None = None) -> TenantContext:
    """The context the gateway would build for `record` (pass the platform for non-pool placements)."""
    table = platform.services.resolver.table_of(record) if platform else "tenantry-data"
    return record.context("test", "test", table)


@asynccontextmanager
async def mcp_client(platform: LocalPlatform, token: str, **headers: str) -> AsyncIterator[Client]:
    """The official MCP Python client, over HTTP, through the emulated API Gateway."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from tests.tls import CLIENT_TLS

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}", **headers}, timeout=30, verify=CLIENT_TLS)
    async with http, Client(streamable_http_client(platform.mcp_url, http_client=http)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: (base URL, requests received as {"path", "body"})."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            received.append({"path": self.path, "body": self.rfile.read(int(self.headers["content-length"]))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
