"""The committed widget HTML is what widgets/build.mjs makes from the pinned MCP Apps SDK."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.needs import require

ROOT = Path(__file__).resolve().parents[2]
WIDGET = ROOT / "functions/tenantry/mcp_server/ui/customers.html"


def test_inlined_sdk_version_is_the_pinned_one() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@modelcontextprotocol/ext-apps"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert locked["node_modules/@modelcontextprotocol/ext-apps"]["version"] == pinned
    assert WIDGET.read_text().startswith(
        f"<!-- built by widgets/build.mjs with @modelcontextprotocol/ext-apps {pinned}; do not edit -->"
    )


def test_committed_widget_matches_a_fresh_build(tmp_path: Path) -> None:
    node = require("node", shutil.which("node"))
    require("node_modules/esbuild (./dev test runs npm ci)", (ROOT / "node_modules/esbuild").is_dir())
    fresh = tmp_path / "customers.html"
    subprocess.run([node, "widgets/build.mjs", "--out", str(fresh)], cwd=ROOT, check=True, timeout=120)
    assert fresh.read_bytes() == WIDGET.read_bytes(), "run `node widgets/build.mjs` and commit the result"
