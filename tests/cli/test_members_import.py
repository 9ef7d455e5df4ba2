"""`tenantry members import FILE` and `members export`: checked whole, idempotent, re-importable."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tenantry_local.platform import LocalPlatform


def _users(n: int) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"Coach{i}-{run}@Example.com" for i in range(n)]


def test_import_then_again_then_export(tenantry: Any, new_tenant: Any, tmp_path: Path, platform: LocalPlatform) -> None:
    a, b = new_tenant().tenant_id, new_tenant().tenant_id
    users = _users(3)
    source = tmp_path / "members.csv"
    source.write_text(
        "tenant,user,role\n" + f"{a},{users[0]},member\n{a},{users[1]},\n{b},{users[0]},member\n{b},{users[2]},\n"
    )
    first = tenantry("members", "import", str(source))
    assert first.out.strip() == "4 created, 0 updated, 0 unchanged, 0 rejected", first.err
    assert tenantry("members", "list", "--tenant", a, "--json").json()["members"] == sorted(
        u.lower() for u in users[:2]
    )
    again = tenantry("members", "import", str(source))
    assert again.out.strip() == "0 created, 0 updated, 4 unchanged, 0 rejected"
    audit = tenantry("tenants", "audit", a, "--json").json()
    assert sorted(e["resource"] for e in audit if e["action"] == "members:add") == sorted(u.lower() for u in users[:2])

    exported = tenantry("members", "export", "--tenant", b)
    assert exported.out.splitlines()[0] == "tenant,user,role"
    assert sorted(exported.out.splitlines()[1:]) == sorted(f"{b},{u.lower()},member" for u in (users[0], users[2]))
    out = tmp_path / "all.csv"
    assert tenantry("members", "export", "--output", str(out)).code == 0
    # The export is the import's format: importing it changes nothing.
    assert "0 created" in tenantry("members", "import", str(out)).out


def test_bad_rows_are_all_named_and_nothing_is_written(tenantry: Any, new_tenant: Any, tmp_path: Path) -> None:
    a = new_tenant().tenant_id
    gone = new_tenant(status="offboarded").tenant_id
    users = _users(2)
    source = tmp_path / "members.csv"
    source.write_text(
        "tenant,user\n"
        f"{a},{users[0]}\n"  # line 2: fine
        f"no-such-tenant,{users[0]}\n"  # line 3
        f"{a},not an email\n"  # line 4
        f"{gone},{users[1]}\n"  # line 5
        f"{a},{users[0].upper()}\n"  # line 6: line 2 again (emails compare lower-cased)
    )
    refused = tenantry("members", "import", str(source))
    assert refused.code == 2
    lines = refused.err.splitlines()
    assert lines[0] == "line 3: no tenant 'no-such-tenant'"
    assert lines[1].startswith("line 4: 'not an email' is not a user")
    assert lines[2] == f"line 5: tenant '{gone}' is offboarded"
    assert lines[3] == f"line 6: duplicate membership {users[0].lower()} of {a} (also on line 2)"
    assert "nothing was written" in lines[4]
    assert tenantry("members", "list", "--tenant", a, "--json").json()["members"] == []

    skipped = tenantry("members", "import", str(source), "--skip-bad", "--rejects", str(tmp_path / "r.csv"))
    assert skipped.out.strip() == "1 created, 0 updated, 0 unchanged, 4 rejected"
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == "tenant,user"
    unknown = tmp_path / "roles.csv"
    unknown.write_text(f"tenant,user,role,team\n{a},{users[1]},owner,x\n")
    assert tenantry("members", "import", str(unknown)).err.startswith("line 1: unknown column 'team'")


def test_max_members_is_enforced_on_add_and_import(tenantry: Any, new_tenant: Any, tmp_path: Path) -> None:
    free = new_tenant(plan="free").tenant_id  # the free plan allows 2
    users = _users(4)
    for user in users[:2]:
        assert tenantry("members", "add", "--tenant", free, "--user", user).code == 0
    refused = tenantry("members", "add", "--tenant", free, "--user", users[2])
    assert refused.code == 2
    assert f"{free} has 2 member(s) and the free plan allows 2; nothing was written" in refused.err
    assert "was already" in tenantry("members", "add", "--tenant", free, "--user", users[0]).out  # not a new one

    other = new_tenant(plan="free").tenant_id
    source = tmp_path / "over.csv"
    source.write_text(f"tenant,user\n{other},{users[0]}\n{free},{users[2]}\n{free},{users[3]}\n")
    result = tenantry("members", "import", str(source))
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        f"line 3: {free} would have 4 members and the free plan allows 2",
        f"line 4: {free} would have 4 members and the free plan allows 2",
    ]
    assert tenantry("members", "list", "--tenant", other, "--json").json()["members"] == []

    assert tenantry("tenants", "update", free, "--quota", "max_members=4").code == 0
    assert tenantry("members", "import", str(source)).out.strip() == "3 created, 0 updated, 0 unchanged, 0 rejected"
    full = tenantry("members", "add", "--tenant", free, "--user", _users(1)[0])
    assert "its quota override allows 4 (the free plan: 2)" in full.err
