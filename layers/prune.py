"""What the Lambda layer leaves out: files Lambda never reads, packages the function never imports,
and botocore's models for services the function never calls.

Kept apart from layers/build.py so the bench (which imports the handler the way the layer
would let it) and the tests can use the same lists without building anything.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOTOCORE_SERVICES",
    "PRUNED_PACKAGES",
    "PruneReport",
    "prune_endpoints",
    "prune_site",
    "strip_documentation",
]

# Every service a function on this layer builds a client for: the MCP function's
# (tenantry.mcp_server.services.RUNTIME_SERVICES) and the authorization server's
# (tenantry.oauth.services.OAUTH_SERVICES); a test keeps them equal. boto3 and botocore stay the
# bundled, tested versions: only their model data shrinks.
BOTOCORE_SERVICES = ("dynamodb", "kms", "s3", "secretsmanager", "sts")
# Installed because mcp requires them for its own servers; behind Mangum nothing imports them
# (sse-starlette imports uvicorn only to hook its shutdown, and skips that when it is absent).
PRUNED_PACKAGES = ("uvicorn", "click")
# botocore only reads service-2, endpoint-rule-set, paginators and waiters; examples are for docs.
_MODEL_FILES_DROPPED = ("examples-1.json",)
# Not "docs": botocore.docs is a package botocore.client imports.
_DIRS_DROPPED = {"tests", "test", "__pycache__"}
_SUFFIXES_DROPPED = {".pyi", ".pyc", ".pyo", ".c", ".h", ".pyx", ".pxd", ".md", ".rst"}
# importlib.metadata needs METADATA (and entry points); the installer's bookkeeping is not read.
_DIST_INFO_DROPPED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}


@dataclass
class PruneReport:
    files: int = 0
    bytes: int = 0

    def add(self, path: Path) -> None:
        if path.is_dir():
            for item in path.rglob("*"):
                if item.is_file():
                    self.files += 1
                    self.bytes += item.stat().st_size
        elif path.exists():
            self.files += 1
            self.bytes += path.stat().st_size


def prune_site(site: Path) -> PruneReport:
    """Remove from an installed site-packages directory what the function never reads."""
    report = PruneReport()

    def drop(path: Path) -> None:
        report.add(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    # Console scripts (`--target` installs them under bin/): Lambda runs none.
    if (site / "bin").is_dir():
        drop(site / "bin")
    for name in PRUNED_PACKAGES:
        for path in [site / name, *site.glob(f"{name}-*.dist-info")]:
            if path.exists():
                drop(path)
    _prune_models(site / "botocore" / "data", drop, keep_versions=True)
    _prune_models(site / "boto3" / "data", drop, keep_versions=False)
    endpoints = site / "botocore" / "data" / "endpoints.json"
    if endpoints.is_file():
        before = endpoints.stat().st_size
        prune_endpoints(endpoints, endpoints)
        report.bytes += before - endpoints.stat().st_size
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists():
            continue
        relative = path.relative_to(site)
        if path.is_dir() and path.name in _DIRS_DROPPED and not _is_dist_info(relative):
            drop(path)
        elif path.is_file() and _is_dist_info(relative):
            if path.name in _DIST_INFO_DROPPED:  # licences and METADATA stay
                drop(path)
        elif path.is_file() and path.suffix in _SUFFIXES_DROPPED:
            drop(path)
    return report


def _is_dist_info(relative: Path) -> bool:
    return any(part.endswith(".dist-info") for part in relative.parts)


def _prune_models(data: Path, drop: Callable[[Path], None], *, keep_versions: bool) -> None:
    if not data.is_dir():
        return
    for service in list(data.iterdir()):
        if service.is_dir() and service.name not in BOTOCORE_SERVICES:
            drop(service)
        elif service.is_dir() and keep_versions:
            for dropped in _MODEL_FILES_DROPPED:
                for path in list(service.rglob(dropped)):
                    drop(path)
            for model in [*service.rglob("service-2.json"), *service.rglob("service-2.json.gz")]:
                strip_documentation(model)


def strip_documentation(path: Path) -> None:
    """A service model without its documentation strings (rewritten in place, gzipped if it was).

    botocore reads them only to write docstrings (help() on a client method); at run time they are
    most of every service-2.json the first client of a session parses, at every cold start (DynamoDB's:
    540 KB of JSON, 110 KB without them). Only the documentation of the service, its operations,
    their errors and its shapes and members goes: a member that happens to be named "documentation"
    is a key of `members`, never touched, and other sections (clientContextParams) keep theirs.
    """
    zipped = path.name.endswith(".gz")
    raw = gzip.decompress(path.read_bytes()) if zipped else path.read_bytes()
    model = json.loads(raw)
    refs: list[dict[str, object]] = [model]
    for operation in model.get("operations", {}).values():
        refs += [operation, *operation.get("errors", [])]
        refs += [operation[key] for key in ("input", "output") if isinstance(operation.get(key), dict)]
    for shape in model.get("shapes", {}).values():
        refs += [shape, *shape.get("members", {}).values()]
        refs += [shape[key] for key in ("member", "key", "value") if isinstance(shape.get(key), dict)]
    for ref in refs:
        ref.pop("documentation", None)
    text = json.dumps(model, separators=(",", ":")).encode()
    # mtime=0: the same input gives the same bytes, so the layer's asset hash is stable across builds.
    data = gzip.compress(text, mtime=0) if zipped else text
    # A new file moved over the old one, never written through it (a hard link into uv's cache, see below).
    fresh = path.with_name(path.name + ".stripped")
    fresh.write_bytes(data)
    os.replace(fresh, path)


def prune_endpoints(source: Path, target: Path) -> None:
    """endpoints.json with only our services in each partition.

    botocore parses the whole file (1.2 MB, every service in every partition) for the first
    client of a session, at every cold start; our four services' entries are ~30 KB.
    """
    data = json.loads(source.read_text())
    for partition in data["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in BOTOCORE_SERVICES}
    # Write a new file and move it over the target, never into the target's inode: an installed file
    # may be a hard link into uv's cache, and writing through it would prune every later install.
    fresh = target.with_name(target.name + ".pruned")
    fresh.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(fresh, target)
