"""The tenant archive: one tar file, verified whole before anything is restored from it.

Members, in order: `record.json` (the registry record), `items.jsonl` (every data item of the
tenant, one per line: its sort key and attributes, the partition key left out: a restore builds
keys from the target tenant id), `usage.jsonl`, `audit.jsonl`, `members.jsonl`, `branding/<file>`
(the branding bucket's objects, the tenant prefix left out), and last `manifest.json`: format
name and version, tenant, source, time, and per part its SHA-256, byte size and line count.
Parts are streamed through a temporary file (hashed as written) and then into the tar, so
memory stays constant whatever the tenant's size; the manifest goes last because its hashes
are known only then. Binary attribute values (KMS ciphertexts) are base64 in `{"B64": ...}`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tenantry.errors import InvalidInputError

__all__ = ["FORMAT", "VERSION", "ArchiveReader", "ArchiveWriter", "decode_attrs", "encode_attrs"]

FORMAT = "tenantry-tenant-archive"
VERSION = 1
MANIFEST = "manifest.json"
JSON_PARTS = ("record.json", "items.jsonl", "usage.jsonl", "audit.jsonl", "members.jsonl")
BRANDING = "branding/"
_CHUNK = 1 << 16


def encode_attrs(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as JSON: binary (B, BS) as base64."""

    def walk(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return {"B64": base64.b64encode(bytes(value)).decode()}
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return {k: walk(v) for k, v in item.items()}


def decode_attrs(item: dict[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"B64"}:
                return base64.b64decode(value["B64"], validate=True)
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return {k: walk(v) for k, v in item.items()}


@dataclass
class _Part:
    sha256: str
    bytes: int
    count: int


class ArchiveWriter:
    def __init__(self, path: Path, tenant_id: str, source: str) -> None:
        self._path = path
        self._tmp = path.with_name(path.name + ".partial")
        self._tar = tarfile.open(self._tmp, "w")  # noqa: SIM115 - closed in close(), or removed on failure
        self._tenant_id = tenant_id
        self._source = source
        self.parts: dict[str, _Part] = {}

    def lines(self, name: str, values: Iterable[Any]) -> int:
        """A JSON-lines part, streamed through a temporary file (constant memory)."""
        with tempfile.TemporaryFile() as spool:
            digest, size, count = hashlib.sha256(), 0, 0
            for value in values:
                line = (json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n").encode()
                spool.write(line)
                digest.update(line)
                size += len(line)
                count += 1
            self._add(name, spool, size, digest.hexdigest(), count)
        return count

    def blob(self, name: str, data: bytes) -> None:
        self._add(name, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest(), 1)

    def _add(self, name: str, stream: IO[bytes], size: int, sha256: str, count: int) -> None:
        stream.seek(0)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = int(datetime.now(UTC).timestamp())
        self._tar.addfile(info, stream)
        self.parts[name] = _Part(sha256, size, count)

    def close(self) -> dict[str, Any]:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tenant_id": self._tenant_id,
            "source": self._source,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "parts": {name: vars(part) for name, part in self.parts.items()},
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mtime = int(datetime.now(UTC).timestamp())
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        self._tmp.replace(self._path)  # a half-written archive never has the final name
        return manifest


@dataclass
class ArchiveReader:
    """Opens an archive and verifies all of it (`verify`) before any part is read for a restore."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    def _refuse(self, problem: str) -> InvalidInputError:
        return InvalidInputError(f"{self.path.name}: {problem}; nothing was restored.")

    def verify(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise self._refuse("no such file")
        seen: dict[str, _Part] = {}
        manifest: dict[str, Any] | None = None
        try:
            with tarfile.open(self.path, "r:") as tar:
                for member in tar:
                    stream = tar.extractfile(member) if member.isfile() else None
                    if stream is None or member.name in seen:
                        raise self._refuse(f"unexpected member {member.name[:60]!r}: not a Tenantry archive")
                    if member.name == MANIFEST:
                        manifest = self._manifest(stream.read(1 << 20))
                        continue
                    digest, size, count = hashlib.sha256(), 0, 0
                    while chunk := stream.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        count += chunk.count(b"\n")
                    seen[member.name] = _Part(digest.hexdigest(), size, count)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise self._refuse(f"not a readable archive (truncated or not a tar file: {str(exc)[:80]})") from None
        if manifest is None:
            raise self._refuse("no manifest.json: not a Tenantry archive, or truncated")
        listed = manifest["parts"]
        if set(listed) != set(seen):
            missing = sorted(set(listed) - set(seen)) or sorted(set(seen) - set(listed))
            raise self._refuse(f"parts differ from the manifest ({missing[0]}): truncated or tampered with")
        for name, part in seen.items():
            expected = listed[name]
            if part.sha256 != expected.get("sha256") or part.bytes != expected.get("bytes"):
                raise self._refuse(f"{name} does not match its SHA-256 in the manifest: corrupted or tampered with")
            if name.endswith(".jsonl") and part.count != expected.get("count"):
                raise self._refuse(f"{name} has {part.count} lines, the manifest says {expected.get('count')}")
        if not all(name in seen for name in JSON_PARTS):
            raise self._refuse("a required part is missing: not a complete Tenantry archive")
        self.manifest = manifest
        return manifest

    def _manifest(self, data: bytes) -> dict[str, Any]:
        try:
            manifest = json.loads(data)
        except ValueError:
            raise self._refuse("manifest.json is not JSON: not a Tenantry archive") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise self._refuse("not a Tenantry tenant archive")
        if manifest.get("version") != VERSION:
            raise self._refuse(f"archive format version {manifest.get('version')!r}; this tenantry reads {VERSION}")
        if not isinstance(manifest.get("parts"), dict) or not isinstance(manifest.get("tenant_id"), str):
            raise self._refuse("manifest.json lacks parts or tenant_id: not a Tenantry archive")
        return manifest

    def read_json(self, name: str) -> Any:
        with tarfile.open(self.path, "r:") as tar:
            stream = tar.extractfile(name)
            assert stream is not None
            return json.loads(stream.read())

    def read_lines(self, name: str) -> Iterator[Any]:
        with tarfile.open(self.path, "r:") as tar:
            stream = tar.extractfile(name)
            assert stream is not None
            for line in stream:
                yield json.loads(line)

    def blobs(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        with tarfile.open(self.path, "r:") as tar:
            for member in tar:
                if member.name.startswith(prefix) and member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    yield member.name[len(prefix) :], stream.read()
