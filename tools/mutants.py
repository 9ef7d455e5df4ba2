"""`./dev mutants`: break each promise in tools/mutants.toml, one at a time, and check the tests notice.

The tree is copied once to a scratch directory (the working tree as it is, uncommitted changes
included; never .git, .venv or node_modules). The named tests run there first unchanged and must
pass; then, for each mutant alone, its one-line change is applied, its tests run (stopping at the
first failure), and the file is put back. A mutant is killed when its tests fail, survived when they
pass: a survivor is a promise no test checks. The exit status is non-zero on any survivor or error.

The scratch copy's modules win over the editable install because PYTHONPATH comes before the
.venv's .pth entries; node_modules is linked, not copied (the widget and IAM tests read it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tools" / "mutants.toml"
# The import roots the editable install points at (pyproject.toml's packages), plus the repo root (tests).
IMPORT_ROOTS = ("functions", "local", "admin", ".")
SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "node_modules", "cdk.out", ".tenantry", "__pycache__", "*.pyc",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "build",
)  # fmt: skip
TEST_SECONDS = 1200


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    promise: str
    tests: tuple[str, ...]


class ListError(Exception):
    """The mutation list is malformed or no longer matches the code."""


def load(path: Path = LIST, root: Path = ROOT) -> list[Mutant]:
    """Every mutant in the list; each `old` must occur exactly once in its file."""
    entries = tomllib.loads(path.read_text()).get("mutant", [])
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for entry in entries:
        missing = {"id", "file", "old", "new", "promise", "tests"} - set(entry)
        if missing:
            raise ListError(f"{entry.get('id', entry)}: missing {', '.join(sorted(missing))}")
        mutant = Mutant(entry["id"], entry["file"], entry["old"], entry["new"], entry["promise"], tuple(entry["tests"]))
        if mutant.id in seen:
            raise ListError(f"{mutant.id}: the id is used twice")
        seen.add(mutant.id)
        if "\n" in mutant.old or mutant.old == mutant.new or not mutant.tests:
            raise ListError(f"{mutant.id}: `old` must be one line, differ from `new`, and name tests")
        source = root / mutant.file
        if not source.is_file():
            raise ListError(f"{mutant.id}: {mutant.file} does not exist")
        count = source.read_text().count(mutant.old)
        if count != 1:
            raise ListError(f"{mutant.id}: `{mutant.old}` occurs {count} times in {mutant.file}, not once")
        for test in mutant.tests:
            if not (root / test.split("::", 1)[0]).is_file():
                raise ListError(f"{mutant.id}: test file {test} does not exist")
        mutants.append(mutant)
    return mutants


def _scratch_copy(into: Path) -> Path:
    tree = into / "tree"
    shutil.copytree(ROOT, tree, ignore=SKIP, symlinks=True)
    if (ROOT / "node_modules").is_dir():
        (tree / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return tree


def _pytest(tree: Path, tests: tuple[str, ...], stop_at_first: bool) -> tuple[int, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(tree / part) for part in IMPORT_ROOTS)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutated file and its original never share a stale .pyc
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    if stop_at_first:
        argv.insert(4, "-x")
    try:
        done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=TEST_SECONDS)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TEST_SECONDS} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    # addopts has -ra: the short summary names each failed test ("FAILED tests/...::test_x - ...").
    failed = [line.split(" - ", 1)[0].removeprefix("FAILED ") for line in lines if line.startswith("FAILED ")]
    summary = lines[-1] if lines else ""
    return done.returncode, f"{summary}; caught by {failed[0]}" if failed else summary


def _imports_the_copy(tree: Path) -> bool:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(tree / part) for part in IMPORT_ROOTS))
    probe = "import tenantry, tenantry_local, tenantry_admin; print(tenantry.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return where.stdout.strip().startswith(str(tree))


def run(mutants: list[Mutant], keep: bool = False) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="tenantry-mutants-"))
    try:
        tree = _scratch_copy(scratch)
        if not _imports_the_copy(tree):
            print("mutants: the scratch copy's modules do not shadow the installed ones; nothing tested")
            return 2
        every_test = tuple(dict.fromkeys(test for mutant in mutants for test in mutant.tests))
        print(f"baseline: {len(every_test)} test target(s) on the unchanged copy in {tree} ...", flush=True)
        code, last = _pytest(tree, every_test, stop_at_first=False)
        if code != 0:
            print(f"mutants: the named tests fail without any mutation ({last}); fix them first")
            return 2
        print(f"baseline: {last}")
        survivors: list[str] = []
        errors: list[str] = []
        for mutant in mutants:
            path = tree / mutant.file
            original = path.read_text()
            path.write_text(original.replace(mutant.old, mutant.new, 1))
            started = time.monotonic()
            try:
                code, last = _pytest(tree, mutant.tests, stop_at_first=True)
            finally:
                path.write_text(original)
            took = time.monotonic() - started
            if code == 1:
                verdict = "killed"
            elif code == 0:
                verdict = "SURVIVED"
                survivors.append(mutant.id)
            else:
                verdict = f"ERROR (pytest exit {code})"
                errors.append(mutant.id)
            print(f"{verdict:>9}  {mutant.id}  ({took:.0f} s; {last})\n           breaks: {mutant.promise}", flush=True)
        killed = len(mutants) - len(survivors) - len(errors)
        print(f"\n{killed} killed, {len(survivors)} survived, {len(errors)} errors, of {len(mutants)} mutants")
        if survivors:
            print("survivors (a promise no test checks): " + ", ".join(survivors))
        if errors:
            print("errors (the tests did not run to a verdict): " + ", ".join(errors))
        return 1 if survivors or errors else 0
    finally:
        if keep:
            print(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="ID", help="run only this mutant (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy for a look afterwards")
    args = parser.parse_args(argv)
    try:
        mutants = load()
    except ListError as exc:
        print(f"mutants: {LIST.relative_to(ROOT)}: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutants})
        if unknown:
            print(f"mutants: no mutant {', '.join(unknown)} (./dev mutants --list)", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in args.only]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.id}: {mutant.file}: {mutant.promise}")
        return 0
    return run(mutants, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
