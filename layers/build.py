"""Build the dependency layer and the code asset for Lambda, without Docker.

The layer holds the runtime dependencies pinned in uv.lock (`uv export --no-dev`),
installed as Linux arm64 wheels for the Lambda Python version. Both outputs carry
bytecode compiled by an interpreter of that same version when one is on this machine:
Lambda's file system is read-only, so a module without a matching .pyc is compiled
again at every cold start. The .pyc files use unchecked hashes because asset zips
reset file times, which would invalidate timestamp-based .pyc files.

Outputs live under layers/build/, named by a hash of their inputs, so a second synth
(or a test session) reuses them instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from layers.prune import BOTOCORE_SERVICES, PRUNED_PACKAGES, prune_site

__all__ = [
    "LAMBDA_PLATFORM",
    "LAMBDA_PYTHON",
    "BuiltAsset",
    "LayerBuildError",
    "build_code",
    "build_layer",
    "find_bytecode_python",
]

REPO = Path(__file__).resolve().parent.parent
BUILD_ROOT = REPO / "layers" / "build"
# The Lambda runtime (infra/constructs/functions.py) and these must move together.
LAMBDA_PYTHON = "3.13"
# Amazon Linux 2023 (the python3.12+ runtimes) has glibc 2.34, so manylinux_2_28 wheels and older load.
LAMBDA_PLATFORM = "aarch64-manylinux_2_28"
# Bump when the build steps change, so cached outputs are rebuilt.
_RECIPE = "5"
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


class LayerBuildError(RuntimeError):
    """The asset could not be built; the message names the package or tool at fault."""


@dataclass(frozen=True)
class BuiltAsset:
    path: Path
    key: str
    bytecode: bool  # whether .pyc files for LAMBDA_PYTHON are included


def build_layer(repo: Path = REPO, bytecode_python: str | None = None, *, for_host: bool = False) -> BuiltAsset:
    """The dependency layer directory (with `python/` inside), built once per lockfile.

    for_host=True builds the same layer for the interpreter running this code (its platform and
    version, no bytecode) under layers/build/hostlayer-<key>, so a test can import it here.
    """
    python = None if for_host else (bytecode_python or find_bytecode_python())
    if for_host:
        target_args = ["--python", sys.executable]
        target_name = f"host:{sys.implementation.cache_tag}:{sys.platform}:{os.uname().machine}"
    else:
        target_args = ["--python-platform", LAMBDA_PLATFORM, "--python-version", LAMBDA_PYTHON]
        target_name = f"{LAMBDA_PYTHON}|{LAMBDA_PLATFORM}"
    # The exported pins (with hashes) are the layer's whole input: a lockfile change that does not
    # touch runtime dependencies, or an edit elsewhere in pyproject.toml, reuses the cached layer.
    exported = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [_uv(), "export", "--color", "never", "--frozen", "--no-dev", "--no-emit-project", "--no-header"],
        cwd=repo,
        env=_plain_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if exported.returncode != 0:
        raise LayerBuildError(_explain("exporting uv.lock", exported.stderr))
    digest = hashlib.sha256(exported.stdout.encode())
    # What pruning keeps is part of the recipe: a service added to the list must rebuild the layer.
    kept = ",".join(sorted(BOTOCORE_SERVICES)) + "|" + ",".join(sorted(PRUNED_PACKAGES))
    digest.update(f"{_RECIPE}|{target_name}|{bool(python)}|{kept}".encode())
    key = digest.hexdigest()[:16]
    target = BUILD_ROOT / f"{'hostlayer' if for_host else 'layer'}-{key}"
    if target.is_dir():
        return BuiltAsset(target, key, bool(python))

    with _staging(target) as staging:
        requirements = staging / "requirements.txt"
        requirements.write_text(exported.stdout)
        site = staging / "python"
        _run(
            [
                _uv(),
                "pip",
                "install",
                "--no-config",
                "--quiet",
                "--target",
                str(site),
                *target_args,
                "--only-binary",
                ":all:",
                # The export pins every package with hashes: install exactly that set, verified.
                "--require-hashes",
                "--no-deps",
                "-r",
                str(requirements),
            ],
            cwd=repo,
            what="installing the layer's wheels",
        )
        requirements.unlink()
        _prune(site)
        if python:
            _compile(python, site, "/opt/python")
    return BuiltAsset(target, key, bool(python))


def build_code(repo: Path = REPO, bytecode_python: str | None = None) -> BuiltAsset:
    """A copy of functions/ without caches, plus bytecode; rebuilt only when a source file changes."""
    python = bytecode_python or find_bytecode_python()
    source = repo / "functions"
    files = sorted(p for p in source.rglob("*") if p.is_file() and _wanted(p.relative_to(source)))
    digest = hashlib.sha256(f"{_RECIPE}|{LAMBDA_PYTHON}|{bool(python)}".encode())
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()[:16]
    target = BUILD_ROOT / f"code-{key}"
    if target.is_dir():
        return BuiltAsset(target, key, bool(python))
    with _staging(target) as staging:
        for path in files:
            dest = staging / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        if python:
            _compile(python, staging, "/var/task")
    return BuiltAsset(target, key, bool(python))


@lru_cache(maxsize=4)
def find_bytecode_python(version: str = LAMBDA_PYTHON) -> str | None:
    """An interpreter of exactly `version` on this machine, or None (the asset then ships sources only).

    TENANTRY_BYTECODE_PYTHON overrides the search; `uv python install 3.13` provides one.
    """
    override = os.environ.get("TENANTRY_BYTECODE_PYTHON")
    candidates: list[str | None] = [override] if override else []
    candidates += [shutil.which(f"python{version}")]
    found = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [_uv(), "python", "find", "--color", "never", "--no-python-downloads", version],
        env=_plain_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"), reverse=True)]
    for candidate in candidates:
        if candidate and _is_version(candidate, version):
            return candidate
    if override:
        raise LayerBuildError(f"TENANTRY_BYTECODE_PYTHON={override} is not a working Python {version}")
    return None


def _is_version(python: str, version: str) -> bool:
    try:
        probe = subprocess.run(  # noqa: S603 - the interpreter path comes from this machine, no shell
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except OSError:
        return False
    return probe.returncode == 0 and probe.stdout.strip() == version


def _uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".tools" / "bin" / "uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise LayerBuildError("uv is needed to build the Lambda layer; run through ./dev (it installs uv) or install uv")


def _run(argv: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(argv, cwd=cwd, env=_plain_env(), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LayerBuildError(_explain(what, result.stderr))


def _plain_env() -> dict[str, str]:
    # The CDK CLI runs the app with FORCE_COLOR set; uv would then colour the requirements it exports.
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "CLICOLOR_FORCE"}}
    env["NO_COLOR"] = "1"
    # Copy, never hard-link, out of uv's cache: pruning edits the installed tree, and a linked file
    # edited there would be edited in the cache (and in every environment installed from it later).
    env["UV_LINK_MODE"] = "copy"
    return env


def _explain(what: str, stderr: str) -> str:
    """One line naming the package that has no usable wheel, when the installer says which."""
    for pattern in (r"Because (\S+?) has no usable wheels", r"Wheels are required for `([^`]+)`"):
        match = re.search(pattern, stderr)
        if match:
            return (
                f"layer build failed: {match.group(1)} has no wheel for Python {LAMBDA_PYTHON} on {LAMBDA_PLATFORM} "
                "(pick a version with a Linux arm64 wheel, or one without compiled code)"
            )
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith(("error", "cause"))), lines[-1] if lines else "")
    return f"layer build failed while {what}: {detail}"


def _wanted(relative: Path) -> bool:
    return not (set(relative.parts) & _SKIP_DIRS) and relative.suffix not in _SKIP_SUFFIXES


def _prune(site: Path) -> None:
    # Caches, tests, stubs, installer bookkeeping, unused packages and botocore models (layers/prune.py).
    prune_site(site)


def _compile(python: str, directory: Path, runtime_dir: str) -> None:
    result = subprocess.run(  # noqa: S603 - interpreter found on this machine, no shell
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(directory),
            "-p",
            runtime_dir,
            str(directory),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # A few wheels carry files that are not valid Python 3 (templates, tests); those stay as sources.
    if result.returncode not in (0, 1):
        raise LayerBuildError(f"compiling bytecode with {python} failed: {result.stderr.strip()[-300:]}")


class _staging:
    """Build into a temporary sibling, then rename into place, so a half-built directory is never reused."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = Path()

    def __enter__(self) -> Path:
        BUILD_ROOT.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}-", dir=BUILD_ROOT))
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            self.tmp.rename(self.target)
        except OSError:
            # Another process finished the same build first; its result is identical.
            shutil.rmtree(self.tmp, ignore_errors=True)
        _prune_stale(self.target)


def _prune_stale(current: Path) -> None:
    kind = current.name.split("-", 1)[0]
    builds = sorted(
        (p for p in BUILD_ROOT.glob(f"{kind}-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in builds[3:]:  # keep a few, for branches switched back and forth
        shutil.rmtree(old, ignore_errors=True)
        old.with_name(old.name + ".sizes.json").unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        layer, code = build_layer(), build_code()
    except LayerBuildError as error:
        sys.exit(f"tenantry: {error}")
    print(f"layer: {layer.path}\ncode:  {code.path}")
