"""The official MCP TypeScript SDK's OAuth client signs in against the local stack and calls a tool.

tests/oauth/ts_sdk_flow.mjs runs the SDK (`@modelcontextprotocol/client`, pinned in package.json)
under Node; this side is the user's browser: it signs in on the pages the script's authorization
URL leads to and hands the redirect back on the script's stdin.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import jwt

from tenantry_local.platform import LocalPlatform
from tests.needs import require
from tests.oauth.conftest import REDIRECT_URI, DocumentServer, approve_in_a_browser, registered_clients
from tests.tls import LocalTls

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ts_sdk_flow.mjs")
PACKAGE = ROOT / "node_modules" / "@modelcontextprotocol" / "client"
STEP_SECONDS = 60


def _node() -> str:
    node = require("node", shutil.which("node"))
    require("node_modules/@modelcontextprotocol/client (./dev test runs npm ci)", PACKAGE.is_dir())
    return node


async def _line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), STEP_SECONDS)
    if not raw:
        assert process.stderr is not None
        error = (await asyncio.wait_for(process.stderr.read(), STEP_SECONDS)).decode()
        raise AssertionError(f"the TypeScript SDK script stopped early:\n{error}")
    message: dict[str, Any] = json.loads(raw)
    return message


async def ts_sign_in_and_call(
    platform: LocalPlatform, user: str, tenant: str | None = None, client_metadata_url: str | None = None
) -> dict[str, Any]:
    args = [SCRIPT.as_posix(), platform.mcp_url, REDIRECT_URI] + ([client_metadata_url] if client_metadata_url else [])
    process = await asyncio.create_subprocess_exec(
        _node(),
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        asked = await _line(process)
        authorize_url = asked["authorize"]
        assert authorize_url.startswith(platform.base_url + "/authorize?"), authorize_url
        location = await approve_in_a_browser(platform, authorize_url, user, tenant)
        assert process.stdin is not None
        process.stdin.write(location.encode() + b"\n")
        await process.stdin.drain()
        done = await _line(process)
        assert await asyncio.wait_for(process.wait(), STEP_SECONDS) == 0
        return done
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _profile(done: dict[str, Any]) -> dict[str, Any]:
    result = done["result"]
    assert not result.get("isError"), result
    profile: dict[str, Any] = result["structuredContent"]
    return profile


async def test_ts_sdk_registers_signs_in_and_calls_a_tool_as_the_chosen_tenant(platform: LocalPlatform) -> None:
    before = registered_clients(platform)
    done = await ts_sign_in_and_call(platform, "accountant@books.example", tenant="lotus-yoga")

    assert _profile(done)["tenant_id"] == "lotus-yoga"
    assert done["client_id"].startswith("dcr-")  # registered through DCR
    assert registered_clients(platform) == before + 1
    claims = jwt.decode(done["access_token"], options={"verify_signature": False})
    assert claims["tenant_id"] == "lotus-yoga"
    assert claims["client_id"] == done["client_id"]
    assert claims["aud"] == platform.mcp_url


async def test_ts_sdk_signs_in_with_a_client_metadata_document_without_registering(
    platform: LocalPlatform, local_tls: LocalTls
) -> None:
    before = registered_clients(platform)
    with DocumentServer.serving(local_tls.server_context()) as documents:
        url = documents.publish("/clients/ts-sdk.json", client_name="TypeScript SDK over CIMD")
        done = await ts_sign_in_and_call(platform, "owner@ironworks.example", client_metadata_url=url)
        fetched = list(documents.requests)

    assert _profile(done)["tenant_id"] == "ironworks-gym"
    assert fetched and set(fetched) == {"/clients/ts-sdk.json"}
    assert registered_clients(platform) == before
    assert done["client_id"] == url
    assert jwt.decode(done["access_token"], options={"verify_signature": False})["client_id"] == url
