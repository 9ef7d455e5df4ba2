"""The README's curl sign-in recipe works as written, against a running local server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tenantry_local.platform import LocalPlatform
from tests.needs import require

README = Path(__file__).resolve().parents[2] / "README.md"


def _recipe() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    found = [block for block in blocks if "CLIENT_ID=$(curl" in block]
    assert len(found) == 1, "README.md should hold exactly one curl sign-in recipe"
    return found[0]


def test_the_readme_curl_sign_in_recipe_ends_in_a_tool_call_as_the_chosen_tenant(platform: LocalPlatform) -> None:
    require("curl", shutil.which("curl"))
    require("openssl", shutil.which("openssl"))
    script = _recipe().replace("BASE=http://127.0.0.1:8787", f"BASE={platform.base_url}", 1)
    assert platform.base_url in script, "the recipe's BASE line changed; keep it on the first line"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["result"]["structuredContent"]["tenant_id"] == "ironworks-gym"
