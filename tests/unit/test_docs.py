"""The docs stand alone and stay true: links resolve, commands exist, nothing outside the repo is cited."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DEV_COMMAND = re.compile(r"(?<![\w/.])\./dev ([a-z0-9-]+)")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing files: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_no_doc_cites_files_outside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    for outside in ("DESIGN.md", "STYLE.md", "../shared", "/work/"):
        assert outside not in text, f"{doc.name} cites {outside}, which is not in the repository"


def _dev_commands() -> set[str]:
    usage = subprocess.run(["bash", str(ROOT / "dev"), "help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^  ([a-z0-9-]+)\b", usage, re.M))


def test_every_dev_command_the_docs_use_exists() -> None:
    known = _dev_commands()
    used = {(doc.name, cmd) for doc in DOCS for cmd in DEV_COMMAND.findall(doc.read_text())}
    unknown = sorted((name, cmd) for name, cmd in used if cmd not in known)
    assert not unknown, f"docs use ./dev commands that ./dev help does not list: {unknown}"


def test_dev_help_exits_zero_and_lists_every_dispatched_command() -> None:
    script = (ROOT / "dev").read_text()
    dispatched = set(re.findall(r"^  ([a-z0-9-]+)\)", script, re.M))
    assert dispatched <= _dev_commands(), f"./dev help does not list {sorted(dispatched - _dev_commands())}"
