"""`tenantry tenants import FILE`: checked whole before any write, idempotent, resumable, fast paths."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tenantry.tenancy.registry import TenantRecord
from tenantry_admin import bulk, bulk_cli
from tenantry_admin.bulk_cli import TtyProgress
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform

HEADER = "id,slug,name,plan"


def _prefix() -> str:
    return f"im{uuid.uuid4().hex[:6]}"


def _rows(prefix: str, count: int, plan: str = "starter") -> list[str]:
    return [f"{prefix}-{n:04d},{prefix}-{n:04d},Studio {n},{plan}" for n in range(count)]


def _write(tmp_path: Path, lines: list[str], name: str = "tenants.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _registered(platform: LocalPlatform, prefix: str) -> list[str]:
    return [r.tenant_id for r in platform.services.registry.all() if r.tenant_id.startswith(prefix)]


def test_import_creates_then_a_second_run_changes_nothing(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    prefix = _prefix()
    lines = [
        HEADER + ",placement,brand_color,feature.export,quota.max_customers",
        *[row + ",,,," for row in _rows(prefix, 60)],
        f"{prefix}-pro,{prefix}-pro,Pro Studio,professional,pool,#1A73E8,off,500",
        f"{prefix}-biz,{prefix}-biz,Big Gym,business,,,,",
    ]
    source = _write(tmp_path, lines)
    first = tenantry("tenants", "import", str(source))
    assert first.code == 0, first.err
    assert first.out.strip() == "62 created, 0 updated, 0 unchanged, 0 rejected"
    # Not a terminal: no bar, only the note about the silo table's quota.
    assert "[" not in first.err and "1 business tenant(s) get their own table" in first.err
    assert len(_registered(platform, prefix)) == 62

    pro = tenantry("tenants", "show", f"{prefix}-pro", "--json").json()
    assert pro["placement"]["mode"] == "pool" and pro["branding"]["primary_color"] == "#1A73E8"
    assert pro["feature_overrides"] == {"export": False} and pro["quota_overrides"]["max_customers"] == 500
    biz = tenantry("tenants", "show", f"{prefix}-biz", "--json").json()
    assert biz["data_table"] == f"tenantry-silo-{prefix}-biz"
    table = local_client("dynamodb").describe_table(TableName=biz["data_table"])["Table"]
    assert table["TableStatus"] == "ACTIVE"
    audit = tenantry("tenants", "audit", f"{prefix}-0007", "--json").json()
    assert [e["action"] for e in audit] == ["admin:create"] and "import" in audit[0]["reason"]

    again = tenantry("tenants", "import", str(source))
    assert again.code == 0, again.err
    assert again.out.strip() == "0 created, 0 updated, 62 unchanged, 0 rejected"


def test_three_bad_rows_are_all_named_and_nothing_is_written(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    prefix = _prefix()
    good = _rows(prefix, 3)
    lines = [
        HEADER,
        good[0],  # line 2
        f"{prefix}-x1,{prefix}-x1,X,gold",  # line 3: unknown plan
        good[1],  # line 4
        f"{prefix}-x2,Not_A_Slug,X,free",  # line 5: bad slug
        good[0].replace("Studio 0", "Again"),  # line 6: duplicate id (and slug) of line 2
        good[2],  # line 7
        f"{prefix}-x3,ironworks,X,free",  # line 8: the slug of an existing tenant
    ]
    platform_slugs = {r.slug for r in platform.services.registry.all()}
    assert "ironworks" in platform_slugs
    result = tenantry("tenants", "import", str(_write(tmp_path, lines)))
    assert result.code == 2 and result.out == ""
    errors = result.err.strip().splitlines()
    assert errors[0].startswith("line 3: Unknown plan 'gold'")
    assert errors[1].startswith("line 5: 'Not_A_Slug' is not a valid slug")
    assert errors[2] == f"line 6: duplicate id '{prefix}-0000' (also on line 2)"
    assert errors[3].startswith("line 8: slug 'ironworks' belongs to the existing tenant 'ironworks-gym'")
    assert "4 bad row(s)" in errors[4] and "nothing was written" in errors[4]
    assert _registered(platform, prefix) == []


def test_an_unknown_column_refuses_the_header(tenantry: Any, tmp_path: Path, platform: LocalPlatform) -> None:
    prefix = _prefix()
    result = tenantry(
        "tenants", "import", str(_write(tmp_path, [HEADER + ",colour", *[r + ",x" for r in _rows(prefix, 2)]]))
    )
    assert result.code == 2
    assert result.err.startswith("line 1: unknown column 'colour'")
    assert _registered(platform, prefix) == []


def test_skip_bad_imports_the_rest_and_writes_the_rejects(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    prefix = _prefix()
    bad = f"{prefix}-bad,{prefix}-bad,X,gold"
    source = _write(tmp_path, [HEADER, *_rows(prefix, 4), bad])
    rejects = tmp_path / "rejects.csv"
    result = tenantry("tenants", "import", str(source), "--skip-bad", "--rejects", str(rejects))
    assert result.code == 0, result.err
    assert result.out.strip() == "4 created, 0 updated, 0 unchanged, 1 rejected"
    assert "line 6: Unknown plan 'gold'" in result.err
    # The rejects file is importable once fixed: the header and the bad row as it was.
    assert rejects.read_text() == f"{HEADER}\n{bad}\n"
    assert sorted(_registered(platform, prefix)) == [f"{prefix}-{n:04d}" for n in range(4)]


def test_a_differing_row_is_a_conflict_unless_update(tenantry: Any, tmp_path: Path) -> None:
    prefix = _prefix()
    assert tenantry("tenants", "import", str(_write(tmp_path, [HEADER, *_rows(prefix, 2)]))).code == 0
    changed = _write(
        tmp_path, [HEADER, *_rows(prefix, 1), f"{prefix}-0001,{prefix}-0001,Renamed,professional"], "v2.csv"
    )

    refused = tenantry("tenants", "import", str(changed))
    assert refused.code == 2
    assert (
        f"line 3: tenant '{prefix}-0001' exists with another display_name, plan, branding; pass --update" in refused.err
    )
    assert tenantry("tenants", "show", f"{prefix}-0001", "--json").json()["plan"] == "starter"

    updated = tenantry("tenants", "import", str(changed), "--update")
    assert updated.out.strip() == "0 created, 1 updated, 1 unchanged, 0 rejected", updated.err
    record = tenantry("tenants", "show", f"{prefix}-0001", "--json").json()
    assert (record["plan"], record["display_name"], record["version"]) == ("professional", "Renamed", 2)

    moved_slug = _write(tmp_path, [HEADER, f"{prefix}-0001,{prefix}-other,Renamed,professional"], "v3.csv")
    refused = tenantry("tenants", "import", str(moved_slug), "--update")
    assert refused.code == 2 and "another slug; an import does not change it" in refused.err


def test_json_lines(tenantry: Any, tmp_path: Path, platform: LocalPlatform) -> None:
    prefix = _prefix()
    rows = [
        {"id": f"{prefix}-a", "slug": f"{prefix}-a", "name": "A", "plan": "free", "feature.export": True},
        {"id": f"{prefix}-b", "slug": f"{prefix}-b", "name": "B", "plan": "starter", "quota.calls_per_minute": 10},
    ]
    lines = [json.dumps(r) for r in rows] + ['{"id": "x", "colour": 1}', "not json"]
    source = _write(tmp_path, lines, "tenants.jsonl")
    refused = tenantry("tenants", "import", str(source))
    assert refused.code == 2
    assert refused.err.splitlines()[:2] == [
        "line 3: unknown field 'colour'; missing field 'slug'; missing field 'name'; missing field 'plan'",
        "line 4: not JSON: Expecting value (column 1)",
    ]
    source.write_text("\n".join(lines[:2]) + "\n")
    assert tenantry("tenants", "import", str(source)).out.strip() == "2 created, 0 updated, 0 unchanged, 0 rejected"
    assert tenantry("tenants", "show", f"{prefix}-a", "--json").json()["feature_overrides"] == {"export": True}


def test_killed_half_way_it_finishes_when_run_again(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = _prefix()
    source = _write(tmp_path, [HEADER, *_rows(prefix, 60)])
    real = bulk.TenantImporter._create_chunk
    calls = []

    def dies_on_the_second_chunk(self: bulk.TenantImporter, chunk: Any) -> Any:
        calls.append(len(chunk))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, chunk)

    monkeypatch.setattr(bulk.TenantImporter, "_create_chunk", dies_on_the_second_chunk)
    monkeypatch.setattr(bulk_cli, "IMPORT_WORKERS", 1)  # chunk by chunk: which ones ran is certain
    interrupted = tenantry("tenants", "import", str(source))
    assert interrupted.code == 130 and "re-run" in interrupted.err
    assert len(_registered(platform, prefix)) == bulk.TENANTS_PER_CHUNK  # whole tenants only
    monkeypatch.setattr(bulk.TenantImporter, "_create_chunk", real)
    finished = tenantry("tenants", "import", str(source))
    done = bulk.TENANTS_PER_CHUNK
    assert finished.out.strip() == f"{60 - done} created, 0 updated, {done} unchanged, 0 rejected"
    assert len(_registered(platform, prefix)) == 60


def test_a_tenant_whose_slug_was_reserved_before_the_kill_is_finished(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    # Left by an import from before tenants were written in one transaction, killed between its two
    # puts: the reservation is there, owned by the tenant, the record is not.
    prefix = _prefix()
    local_client("dynamodb").put_item(
        TableName=platform.settings.registry_table,
        Item={"tenant_id": {"S": f"@slug:{prefix}-0000"}, "owner": {"S": f"{prefix}-0000"}},
    )
    result = tenantry("tenants", "import", str(_write(tmp_path, [HEADER, *_rows(prefix, 1)])))
    assert result.out.strip() == "1 created, 0 updated, 0 unchanged, 0 rejected", result.err


def test_a_slug_taken_between_check_and_write_rejects_only_that_row(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = _prefix()
    source = _write(tmp_path, [HEADER, *_rows(prefix, 5)])
    real_plan = bulk.TenantImporter.plan

    def someone_else_is_faster(self: bulk.TenantImporter, *args: Any, **kwargs: Any) -> Any:
        plan = real_plan(self, *args, **kwargs)
        rival = {"tenant_id": f"{prefix}-rival", "slug": f"{prefix}-0003", "display_name": "R", "plan": "free"}
        platform.services.registry.create(TenantRecord.model_validate(rival))
        return plan

    monkeypatch.setattr(bulk.TenantImporter, "plan", someone_else_is_faster)
    result = tenantry("tenants", "import", str(source), "--skip-bad")
    assert result.out.strip() == "4 created, 0 updated, 0 unchanged, 1 rejected", result.err
    assert f"line 5: the slug '{prefix}-0003' was taken during the import" in result.err
    assert f"{prefix}-0003" not in _registered(platform, prefix)


def test_an_id_taken_between_check_and_write_leaves_neither_its_slug_nor_an_audit_event(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tenant's reservation, record and audit event are one transaction with its chunk's other
    # tenants: the row whose id got taken writes none of them, the others are all written.
    prefix = _prefix()
    source = _write(tmp_path, [HEADER, *_rows(prefix, 5)])
    real_plan = bulk.TenantImporter.plan

    def someone_else_is_faster(self: bulk.TenantImporter, *args: Any, **kwargs: Any) -> Any:
        plan = real_plan(self, *args, **kwargs)
        rival = {"tenant_id": f"{prefix}-0002", "slug": f"{prefix}-other", "display_name": "R", "plan": "free"}
        platform.services.registry.create(TenantRecord.model_validate(rival))
        return plan

    monkeypatch.setattr(bulk.TenantImporter, "plan", someone_else_is_faster)
    result = tenantry("tenants", "import", str(source), "--skip-bad")
    assert result.out.strip() == "4 created, 0 updated, 0 unchanged, 1 rejected", result.err
    assert f"line 4: the tenant id '{prefix}-0002' was taken during the import" in result.err
    registry = local_client("dynamodb")
    slug = registry.get_item(
        TableName=platform.settings.registry_table, Key={"tenant_id": {"S": f"@slug:{prefix}-0002"}}
    )
    assert "Item" not in slug  # not reserved for a tenant that was never written
    assert tenantry("tenants", "show", f"{prefix}-0002", "--json").json()["slug"] == f"{prefix}-other"
    audit = tenantry("tenants", "audit", f"{prefix}-0002", "--json").json()
    assert all("import" not in event["reason"] for event in audit)
    assert [e["action"] for e in tenantry("tenants", "audit", f"{prefix}-0003", "--json").json()] == ["admin:create"]


def test_a_transaction_cancelled_by_a_conflict_is_sent_again(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DynamoDB cancels a transaction that meets another writer's (TransactionConflict): nothing
    # was written, so the import backs off and sends it again instead of failing or rejecting rows.
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    prefix = _prefix()
    source = _write(tmp_path, [HEADER, *_rows(prefix, 3)])
    real_call = BaseClient._make_api_call
    cancelled: list[int] = []

    def conflict_once(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems" and not cancelled:
            cancelled.append(len(params["TransactItems"]))
            reasons = [{"Code": "None"}] * (len(params["TransactItems"]) - 1) + [{"Code": "TransactionConflict"}]
            error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
            raise ClientError({"Error": error, "CancellationReasons": reasons}, operation)  # type: ignore[typeddict-unknown-key]
        return real_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", conflict_once)
    result = tenantry("tenants", "import", str(source))
    assert cancelled == [3 * 3]  # reservation, record and audit event per tenant
    assert result.out.strip() == "3 created, 0 updated, 0 unchanged, 0 rejected", result.err
    assert len(_registered(platform, prefix)) == 3


def test_the_table_quota_is_checked_before_anything_is_written(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    prefix = _prefix()
    pages = local_client("dynamodb").get_paginator("list_tables").paginate()
    tables = sum(len(page["TableNames"]) for page in pages)
    source = _write(tmp_path, [HEADER, *_rows(prefix, 3), *_rows(prefix + "b", 2, "business")])
    result = tenantry("tenants", "import", str(source), "--table-quota", str(tables + 1))
    assert result.code == 2
    assert "needs 2 silo table(s)" in result.err and "nothing was written" in result.err
    assert _registered(platform, prefix) == []


def test_an_interruption_drops_the_chunks_not_yet_started(platform: LocalPlatform) -> None:
    importer = bulk.TenantImporter(admin=None, workers=2)  # type: ignore[arg-type]
    ran: list[int] = []

    def work(n: int) -> int:
        if n == 0:
            raise KeyboardInterrupt
        ran.append(n)
        return n

    with pytest.raises(KeyboardInterrupt):
        list(importer._map(work, list(range(200))))
    assert len(ran) < 199


def test_progress_is_drawn_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped, terminal = io.StringIO(), Terminal()
    for stream in (piped, terminal):
        bar = TtyProgress(stream, "importing", width=4)
        bar(1, 2)
        bar(2, 2)
        bar.close()
    assert piped.getvalue() == ""
    assert terminal.getvalue() == "\rimporting [##..] 1/2\rimporting [####] 2/2\n"


async def test_imported_tenants_serve_tool_calls_a_business_one_from_its_silo(
    tenantry: Any, tmp_path: Path, platform: LocalPlatform
) -> None:
    from tests.conftest import mcp_client

    prefix = _prefix()
    source = _write(tmp_path, [HEADER, f"{prefix}-biz,{prefix}-biz,Big Gym,business", *_rows(prefix, 1)])
    assert tenantry("tenants", "import", str(source)).code == 0
    for tenant_id in (f"{prefix}-biz", f"{prefix}-0000"):
        async with mcp_client(platform, platform.token(tenant_id)) as client:
            created = await client.call_tool("create_customer", {"customer_id": "cus_1", "name": "Ann"})
            assert not created.is_error, created.content
            profile = (await client.call_tool("get_tenant_profile", {})).structured_content
        assert profile is not None and profile["tenant_id"] == tenant_id
    # The business tenant's customer is in its own table, not the pool.
    silo = local_client("dynamodb").scan(TableName=f"tenantry-silo-{prefix}-biz")["Items"]
    assert [item["pk"]["S"] for item in silo if item["sk"]["S"] == "CUSTOMER#cus_1"] == [f"{prefix}-biz"]
