"""`./dev local` installs what the local platform imports, not moto's whole server extra.

moto[server] would bring cfn-lint (with sympy and networkx), graphql, and OpenAPI validators:
~150 MB, half of a fresh clone's serve-only install. The measured size is in `./dev bench --only
install`; this keeps the lockfile's serve-only set free of them, and keeps what the server needs in it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Distributions only moto's `server` extra (or the dev tools) pull in; none is imported to serve.
HEAVY = {"cfn-lint", "sympy", "networkx", "graphql-core", "openapi-spec-validator"}
# ThreadedMotoServer's own needs once the extra is gone, and the emulator's server.
NEEDED = {"moto", "flask", "flask-cors", "uvicorn", "py-partiql-parser"}


def _serve_only() -> set[str]:
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--extra",
            "local",
            "--no-emit-project",
            "--no-hashes",
            "--color",
            "never",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = set()
    for line in exported.splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            names.add(re.sub(r"[-_.]+", "-", line.split("==")[0].split("[")[0].strip()).lower())
    return names


def test_the_serve_only_install_leaves_out_moto_servers_extra() -> None:
    names = _serve_only()
    assert len(names) > 20  # the export parsed: the runtime alone is more than this
    assert names & HEAVY == set()
    assert names >= NEEDED
