"""The customer widget in a real browser (headless Chromium), fed real tool results of two tenants.

The host page (widgets/harness) speaks MCP Apps through the official AppBridge; the widget through
its own view client (widgets/mcp-apps-view.ts). Each render must show its own tenant's colour and name
and never the other's, page through the host, and ignore a tool result forged by a frame other than
its parent. Needs `chromium` and `npm ci` (./dev test installs both when it can); skipped
with the reason otherwise, and failed instead under CI (tests/needs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tenantry.tenancy.registry import Branding, TenantRecord
from tenantry_local.platform import LocalPlatform
from tests.conftest import mcp_client
from tests.needs import require

ROOT = Path(__file__).resolve().parents[2]
WIDGET = ROOT / "functions/tenantry/mcp_server/ui/customers.html"
SCREENSHOTS = ROOT / "docs/img"  # written when TENANTRY_SCREENSHOTS=1 (docs/chatgpt.md)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return require("chromium (./dev test installs it as root: apt-get install chromium)", found)


def _node() -> str:
    node = require("node", shutil.which("node"))
    require("node_modules (npm ci)", (ROOT / "node_modules/esbuild").is_dir())
    return str(node)


def _tenant(platform: LocalPlatform, company: str, color: str) -> TenantRecord:
    suffix = uuid.uuid4().hex[:8]
    record = TenantRecord(
        tenant_id=f"t-{suffix}",
        slug=f"s{suffix}",
        display_name=f"Studio {suffix}",
        plan="starter",
        branding=Branding(company_name=company, primary_color=color),
    )
    platform.services.registry.put(record)
    return record


async def _results(platform: LocalPlatform, tenant: TenantRecord, names: list[str]) -> tuple[Any, Any]:
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        for name in names:
            await client.call_tool("create_customer", {"name": name, "membership": "monthly"})
        first = await client.call_tool("list_customers", {"limit": 2})
        rest = await client.call_tool("list_customers", {"limit": 2, "cursor": first.structured_content["next_cursor"]})
    dump = {"by_alias": True, "mode": "json", "exclude_none": True}
    return first.model_dump(**dump), rest.model_dump(**dump)


def _render(tmp: Path, result: Any, next_page: Any, name: str) -> dict[str, Any]:
    node, chromium = _node(), _chromium()
    (tmp / f"{name}.json").write_text(json.dumps(result))
    (tmp / f"{name}-next.json").write_text(json.dumps(next_page))
    host = tmp / f"{name}.html"
    inputs = [str(WIDGET), str(tmp / f"{name}.json"), str(host), str(tmp / f"{name}-next.json")]
    subprocess.run(
        [node, "widgets/harness/build_host.mjs", *inputs],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    flags += ["--virtual-time-budget=10000", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", host.as_uri()], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    if os.environ.get("TENANTRY_SCREENSHOTS") == "1":
        shot = SCREENSHOTS / f"widget-{name}.png"
        subprocess.run(
            [*flags, "--window-size=420,300", f"--screenshot={shot}", host.as_uri()],
            capture_output=True,
            check=True,
            timeout=120,
        )
    start = dom.index('<pre id="report">') + len('<pre id="report">')
    report = dom[start : dom.index("</pre>", start)]
    assert report, "the widget never reported a render (no tool result reached it?)"
    return dict(json.loads(report.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")))


async def test_each_tenants_widget_shows_its_own_colour_and_name(platform: LocalPlatform, tmp_path: Path) -> None:
    _node(), _chromium()  # skip (or fail on CI) before doing any work
    a = _tenant(platform, "Ironworks Gym", "#C0392B")
    b = _tenant(platform, "Lotus Yoga", "#8E44AD")
    a_first, a_rest = await _results(platform, a, ["Grace Hopper", "Alan Turing", "Ada Lovelace"])
    b_first, b_rest = await _results(platform, b, ["Bea Chen", "Bo Diaz", "Bryn Ellis"])

    shown_a = _render(tmp_path, a_first, a_rest, "tenant-a")
    shown_b = _render(tmp_path, b_first, b_rest, "tenant-b")

    assert shown_a["company"] == "Ironworks Gym" and shown_a["header_background"] == "rgb(192, 57, 43)"
    assert shown_b["company"] == "Lotus Yoga" and shown_b["header_background"] == "rgb(142, 68, 173)"
    assert "Lotus" not in shown_a["text"] and "Bea Chen" not in shown_a["text"]
    assert "Ironworks" not in shown_b["text"] and "Grace Hopper" not in shown_b["text"]
    # The harness's sibling frame posted a forged tool result first; only the host (the parent frame) is heard.
    assert all("Forged" not in shown["text"] for shown in (shown_a, shown_b, shown_a["after_more"]))
    assert len(shown_a["names"]) == 2 and set(shown_a["names"]) <= {"Grace Hopper", "Alan Turing", "Ada Lovelace"}
    assert shown_a["more_button"], "a first page with more customers offers paging through the host"
    # Paging: "Show more" calls list_customers through the host and appends the next page, still in A's colours.
    for shown, everyone in (
        (shown_a, {"Grace Hopper", "Alan Turing", "Ada Lovelace"}),
        (shown_b, {"Bea Chen", "Bo Diaz", "Bryn Ellis"}),
    ):
        after = shown["after_more"]
        assert sorted(after["names"]) == sorted(everyone), after["text"]
        assert after["names"][:2] == shown["names"], "the next page is appended, not a replacement"
        assert not after["more_button"], "the last page offers no more"
        assert (after["company"], after["header_background"]) == (shown["company"], shown["header_background"])
