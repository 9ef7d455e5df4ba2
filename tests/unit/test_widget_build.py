"""The committed widget HTML is what widgets/build.mjs makes from the pinned MCP Apps SDK."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
    node = shutil.which("node")
    if not node or not (ROOT / "node_modules/esbuild").is_dir():
        reason = "node or node_modules missing (./dev test runs npm ci)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    fresh = tmp_path / "customers.html"
    subprocess.run([node, "widgets/build.mjs", "--out", str(fresh)], cwd=ROOT, check=True, timeout=120)
    assert fresh.read_bytes() == WIDGET.read_bytes(), "run `node widgets/build.mjs` and commit the result"
