"""`tenants export` / `tenants restore`: a whole tenant out and back under a new id; broken archives refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error
from tests.cli.test_move import _admin, _call, _partition


def _make(platform: LocalPlatform, tenantry: Any, tenant_id: str) -> None:
    created = tenantry(
        "tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "Gym", "--plan", "professional",
        "--placement", "pool",
    )  # fmt: skip
    assert created.code == 0
    container = platform.emulator.containers[0]
    for i in range(12):
        ok, text = _call(container, tenant_id, "create_customer", name=f"Member {i}", customer_id=f"cus_{i:04d}")
        assert ok, text
    assert (
        tenantry("secrets", "set", "--tenant", tenant_id, "booking_webhook_url", stdin="https://hooks.example/x\n").code
        == 0
    )
    admin = _admin(platform)
    platform.services.branding.put_logo(admin.context_for(admin.get(tenant_id)), b"\x89PNG logo", "image/png")


def test_exported_offboarded_and_restored_under_a_new_id_answers_as_before(
    platform: LocalPlatform, tenantry: Any, tenant_id: str, tmp_path: Path
) -> None:
    _make(platform, tenantry, tenant_id)
    container = platform.emulator.containers[0]
    before = [_call(container, tenant_id, "get_customer", customer_id=f"cus_{i:04d}")[1] for i in range(12)]
    archive = tmp_path / "gym.tar"
    run = tenantry("tenants", "offboard", tenant_id, "--export", str(archive), "--yes")  # export, then offboard
    assert run.code == 0, run.err
    assert f"Exported {tenant_id} to {archive}" in run.out and "14 item(s)" in run.out
    assert "1 branding file(s)" in run.out and f"Offboarded {tenant_id}" in run.out
    actions = [e["action"] for e in tenantry("tenants", "audit", tenant_id, "--json").json()]
    assert "admin:export" in actions and "admin:offboard" in actions

    refused = one_line_error(tenantry("tenants", "restore", str(archive), "--yes"))
    assert "--as NEW_ID" in refused
    new_id = tenant_id + "-b"
    run = tenantry("tenants", "restore", str(archive), "--as", new_id, "--placement", "silo", "--yes")
    assert run.code == 0, run.err
    assert f"Restored {tenant_id} as {new_id}" in run.out and "1 secret(s) re-encrypted" in run.out
    after = [_call(container, new_id, "get_customer", customer_id=f"cus_{i:04d}")[1] for i in range(12)]
    assert after == before
    ok, listed = _call(container, new_id, "list_integration_secrets")
    assert ok and "booking_webhook_url" in listed
    # The secret decrypts under the new tenant's context (it was re-encrypted, never written in clear).
    admin = _admin(platform)
    secret = platform.services.secret_store.reveal(admin.context_for(admin.get(new_id)), "booking_webhook_url")
    assert secret == "https://hooks.example/x"


def _tamper(archive: Path, out: Path, change: Any) -> None:
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            data = change(member.name, data)
            if data is None:
                continue
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.fixture
def archive(platform: LocalPlatform, tenantry: Any, tenant_id: str, tmp_path: Path) -> Path:
    _make(platform, tenantry, tenant_id)
    path = tmp_path / "good.tar"
    assert tenantry("tenants", "export", tenant_id, "--output", str(path)).code == 0
    return path


@pytest.mark.parametrize(
    "broken, says",
    [
        ("truncated", "truncated"),
        ("tampered", "SHA-256"),
        ("no-manifest", "no manifest.json"),
        ("wrong-version", "format version 2"),
        ("not-an-archive", "not a readable archive"),
        ("mark-key", "not a Tenantry entity"),
    ],
)
def test_a_broken_archive_is_refused_with_nothing_written(
    platform: LocalPlatform, tenantry: Any, archive: Path, tmp_path: Path, broken: str, says: str
) -> None:
    bad = tmp_path / f"{broken}.tar"
    if broken == "truncated":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    elif broken == "tampered":
        _tamper(archive, bad, lambda n, d: d.replace(b"Member 3", b"Member X") if n == "items.jsonl" else d)
    elif broken == "no-manifest":
        _tamper(archive, bad, lambda n, d: None if n == "manifest.json" else d)
    elif broken == "wrong-version":
        _tamper(archive, bad, lambda n, d: d.replace(b'"version": 1', b'"version": 2') if n == "manifest.json" else d)
    elif broken == "not-an-archive":
        bad.write_text("customer_id,name\ncus_0001,Ada\n")
    else:  # a forged item (hashes recomputed): a move mark is not tenant data
        _forge(archive, bad, lambda line: {**line, "sk": "~MOVE#CUSTOMER#cus_0001"})
    new_id = "restored-" + broken
    line = one_line_error(tenantry("tenants", "restore", str(bad), "--as", new_id, "--yes"))
    assert says in line and "nothing was restored" in line
    assert platform.services.registry.load(new_id) is None


def _forge(archive: Path, out: Path, change_line: Any) -> None:
    """Rewrite items.jsonl and recompute the manifest's hashes: an archive crafted to pass verification."""
    import hashlib

    with tarfile.open(archive) as src:
        parts = {m.name: src.extractfile(m).read() for m in src}  # type: ignore[union-attr]
    lines = [json.loads(line) for line in parts["items.jsonl"].splitlines()]
    parts["items.jsonl"] = b"".join(
        (json.dumps(change_line(line), sort_keys=True, separators=(",", ":")) + "\n").encode() for line in lines
    )
    manifest = json.loads(parts.pop("manifest.json"))
    manifest["parts"]["items.jsonl"] = {
        "sha256": hashlib.sha256(parts["items.jsonl"]).hexdigest(),
        "bytes": len(parts["items.jsonl"]),
        "count": len(lines),
    }
    parts["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(out, "w") as dst:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_a_crafted_archive_naming_another_tenants_keys_writes_only_the_target(
    platform: LocalPlatform, tenantry: Any, archive: Path, tmp_path: Path, new_tenant: Any
) -> None:
    victim = new_tenant("professional").tenant_id
    assert _call(platform.emulator.containers[0], victim, "create_customer", name="Victim", customer_id="cus_0001")[0]
    victim_before = _partition("tenantry-data", victim)
    crafted = tmp_path / "crafted.tar"
    _forge(
        archive,
        crafted,
        lambda line: {**line, "attributes": {**line["attributes"], "pk": {"S": victim}, "name": {"S": "Hijacked"}}},
    )
    new_id = "restored-crafted-" + victim[-6:]
    run = tenantry("tenants", "restore", str(crafted), "--as", new_id, "--placement", "pool", "--yes")
    assert run.code == 0, run.err
    assert _partition("tenantry-data", victim) == victim_before  # not one item of the victim changed
    restored = _partition("tenantry-data", new_id)
    assert restored["CUSTOMER#cus_0001"]["name"]["S"] == "Hijacked"  # the data landed, under the target's keys
    assert all(item["pk"]["S"] == new_id for item in restored.values())
