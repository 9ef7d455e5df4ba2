"""`tenants export`: one tenant's data out to an archive (restoring.py brings it back).

Export reads with the tenant's own credentials (data, branding) and the operator's (usage, audit,
memberships). Consistency: each part is read with consistent reads, page by page; a tenant that
keeps writing during the export gets an archive whose items are each as they were when read.
Suspend the tenant first (or export during a quiet hour) for a point-in-time archive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import PK, SK
from tenantry.dal.members import MembershipStore
from tenantry.errors import InvalidInputError
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.guard import tenant_prefix
from tenantry_admin.lifecycle.archive import ArchiveWriter, encode_attrs
from tenantry_admin.lifecycle.copying import PartitionCopier
from tenantry_admin.tenants import TenantAdmin

__all__ = ["ExportReport", "Portability"]

Progress = Callable[[int, int], None]
_SECRET = "SECRET#"
_KINDS = ("CUSTOMER#", "COUNTER#", "SECRET#")


class ExportReport(BaseModel):
    tenant_id: str
    path: str
    bytes: int
    parts: dict[str, dict[str, Any]]
    message: str


class Portability:
    def __init__(self, admin: TenantAdmin, clients: TenantClients, members: MembershipStore | None, kms: Any) -> None:
        self._admin = admin
        self._clients = clients
        self._members = members
        self._kms = kms  # the operator's KMS client: ReEncrypt from one tenant's context to another's

    # -- export ---------------------------------------------------------------------------------
    def export(self, tenant_id: str, path: Path, source: str, progress: Progress | None = None) -> ExportReport:
        admin = self._admin
        record = admin.get(tenant_id)
        if record.status == "offboarded":
            raise InvalidInputError(f"Tenant {tenant_id} is offboarded; its data is gone (export before offboarding).")
        tenant = admin.context_for(record)
        table = admin.table_of(record)
        copier = PartitionCopier(self._clients, tenant, table, table)
        writer = ArchiveWriter(path, tenant_id, source)
        try:
            writer.blob("record.json", record.model_dump_json(exclude={"move"}).encode())
            done = 0

            def items() -> Iterator[dict[str, Any]]:
                nonlocal done
                for item in copier.data_items(table):
                    done += 1
                    if progress is not None and done % 100 == 0:
                        progress(done, done)
                    yield {"sk": item[SK]["S"], "attributes": encode_attrs({k: v for k, v in item.items() if k != PK})}

            writer.lines("items.jsonl", items())
            writer.lines("usage.jsonl", self._partition(admin.settings.usage_table, tenant_id))
            writer.lines("audit.jsonl", self._partition(admin.settings.audit_table, tenant_id))
            users = self._members.members_of(tenant_id) if self._members is not None else []
            writer.lines("members.jsonl", ({"user": user} for user in users))
            bucket = admin.settings.branding_bucket
            s3 = self._clients.s3(tenant, bucket)
            prefix = tenant_prefix(tenant_id)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=entry["Key"])
                    writer.blob("branding/" + entry["Key"][len(prefix) :], body["Body"].read())
            manifest = writer.close()
        except BaseException:
            partial = path.with_name(path.name + ".partial")
            partial.unlink(missing_ok=True)
            raise
        admin.record_audit(tenant_id, "export", "allowed", f"archive {path.name}, {path.stat().st_size} bytes")
        counts = {name: part["count"] for name, part in manifest["parts"].items() if name.endswith(".jsonl")}
        return ExportReport(
            tenant_id=tenant_id,
            path=str(path),
            bytes=path.stat().st_size,
            parts=manifest["parts"],
            message=(
                f"Exported {tenant_id} to {path} ({path.stat().st_size:,} bytes): {counts['items.jsonl']:,} item(s), "
                f"{counts['usage.jsonl']} usage month(s), {counts['audit.jsonl']:,} audit record(s), "
                f"{counts['members.jsonl']} member(s), "
                f"{sum(1 for n in manifest['parts'] if n.startswith('branding/'))} branding file(s)."
            ),
        )

    def _partition(self, table: str, tenant_id: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": to_attrs({":pk": tenant_id}),
            "ConsistentRead": True,
        }
        while True:
            page = self._admin.dynamodb.query(**request)
            for item in page.get("Items", []):
                yield encode_attrs({k: v for k, v in item.items() if k != PK})
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
