"""The committed widget HTML is what widgets/build.mjs makes; it stays small and speaks the pinned SDK's protocol."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.needs import require

ROOT = Path(__file__).resolve().parents[2]
WIDGET = ROOT / "functions/tenantry/mcp_server/ui/customers.html"
VIEW_CLIENT = ROOT / "widgets/mcp-apps-view.ts"
# Issue 23: the host loads the widget on every render. It was 669,674 bytes with the MCP Apps SDK's App
# inlined; widgets/mcp-apps-view.ts brought it under 7 KB (docs/chatgpt.md).
WIDGET_BUDGET_BYTES = 150_000


def test_inlined_sdk_version_is_the_pinned_one() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@modelcontextprotocol/ext-apps"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert locked["node_modules/@modelcontextprotocol/ext-apps"]["version"] == pinned
    assert WIDGET.read_text().startswith(
        f"<!-- built by widgets/build.mjs for @modelcontextprotocol/ext-apps {pinned}; do not edit -->"
    )


def test_committed_widget_matches_a_fresh_build(tmp_path: Path) -> None:
    node = require("node", shutil.which("node"))
    require("node_modules/esbuild (./dev test runs npm ci)", (ROOT / "node_modules/esbuild").is_dir())
    fresh = tmp_path / "customers.html"
    subprocess.run([node, "widgets/build.mjs", "--out", str(fresh)], cwd=ROOT, check=True, timeout=120)
    assert fresh.read_bytes() == WIDGET.read_bytes(), "run `node widgets/build.mjs` and commit the result"


def test_widget_stays_within_its_byte_budget() -> None:
    size = len(WIDGET.read_bytes())
    assert size <= WIDGET_BUDGET_BYTES, f"the widget is {size:,} bytes; the budget is {WIDGET_BUDGET_BYTES:,}"


def test_view_client_speaks_the_pinned_sdks_protocol_version() -> None:
    """The view's ui/initialize names the MCP Apps protocol version the pinned SDK's App would send."""
    node = require("node", shutil.which("node"))
    require(
        "node_modules/@modelcontextprotocol/ext-apps (npm ci)",
        (ROOT / "node_modules/@modelcontextprotocol/ext-apps").is_dir(),
    )
    script = 'import("@modelcontextprotocol/ext-apps").then((m) => console.log(m.LATEST_PROTOCOL_VERSION))'
    sdk = subprocess.run([node, "-e", script], cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
    ours = re.search(r'^export const PROTOCOL_VERSION = "([^"]+)";$', VIEW_CLIENT.read_text(), re.MULTILINE)
    assert ours, "widgets/mcp-apps-view.ts no longer declares PROTOCOL_VERSION"
    assert ours.group(1) == sdk.stdout.strip()
