"""`tenants export` and `tenants restore`: one tenant's data out to an archive, and back in under any id.

Export reads with the tenant's own credentials (data, branding) and the operator's (usage, audit,
memberships). Consistency: each part is read with consistent reads, page by page; a tenant that
keeps writing during the export gets an archive whose items are each as they were when read.
Suspend the tenant first (or export during a quiet hour) for a point-in-time archive.

Restore verifies the whole archive first (archive.py) and writes nothing on any problem. Keys
are rebuilt from the *target* tenant id (dal/keys.py) and every write goes through the target
tenant's guarded client, so an archive naming other tenants' keys cannot write outside the
target's partition. Under `--as`, secrets are re-encrypted for the new tenant's encryption
context with KMS ReEncrypt (the plaintext never leaves KMS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import ENTITY_ID_PATTERN, PK, SK, move_mark_prefix, moved_key, usage_month_key
from tenantry.dal.members import MembershipStore
from tenantry.errors import InvalidInputError
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.guard import tenant_prefix
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.lifecycle.archive import ArchiveReader, ArchiveWriter, decode_attrs, encode_attrs
from tenantry_admin.lifecycle.copying import PartitionCopier
from tenantry_admin.tenants import TenantAdmin, validate_tenant_id

__all__ = ["ExportReport", "Portability", "RestoreReport"]

Progress = Callable[[int, int], None]
_SECRET = "SECRET#"
_KINDS = ("CUSTOMER#", "COUNTER#", "SECRET#")


class ExportReport(BaseModel):
    tenant_id: str
    path: str
    bytes: int
    parts: dict[str, dict[str, Any]]
    message: str


class RestoreReport(BaseModel):
    tenant_id: str
    source_tenant_id: str
    items: int
    secrets_reencrypted: int
    branding_files: int
    members: int
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

    # -- restore --------------------------------------------------------------------------------
    def verify(self, path: Path) -> ArchiveReader:
        reader = ArchiveReader(path)
        reader.verify()
        # The item lines too: a sort key that is not an entity key is refused before anything is written.
        mark = move_mark_prefix("x")[1]
        for line in reader.read_lines("items.jsonl"):
            sort_key = line.get("sk") if isinstance(line, dict) else None
            if not isinstance(sort_key, str) or sort_key.startswith(mark) or not _entity_key(sort_key):
                raise InvalidInputError(
                    f"{path.name}: an item has a sort key that is not a Tenantry entity; nothing was restored."
                )
            if not isinstance(line.get("attributes"), dict):
                raise InvalidInputError(f"{path.name}: an item has no attributes; nothing was restored.")
        return reader

    def target_of(self, reader: ArchiveReader, new_id: str | None) -> str:
        """The tenant id a restore writes, which must not exist yet."""
        target_id = validate_tenant_id(new_id or str(reader.manifest["tenant_id"]))
        if self._admin.registry.load(target_id) is not None:
            raise InvalidInputError(
                f"Tenant {target_id} exists (offboarded ids are never reused); restore under a new id with "
                "--as NEW_ID. Nothing was restored."
            )
        return target_id

    def restore(self, path: Path, new_id: str | None, placement: str) -> RestoreReport:
        reader = self.verify(path)
        admin = self._admin
        source_id = str(reader.manifest["tenant_id"])
        target_id = self.target_of(reader, new_id)
        saved = TenantRecord.model_validate(reader.read_json("record.json"))
        slug = saved.slug if target_id == source_id else target_id
        admin.create(target_id, slug, saved.display_name, saved.plan, placement)
        record = admin.get(target_id)
        record = admin.registry.save(
            record.model_copy(
                update={
                    "branding": saved.branding,
                    "feature_overrides": saved.feature_overrides,
                    "quota_overrides": saved.quota_overrides,
                }
            ),
            record.version,
        )
        tenant = admin.context_for(record)
        table = admin.table_of(record)
        client = self._clients.dynamodb(tenant)
        items = reencrypted = 0
        batch: list[Any] = []
        for line in reader.read_lines("items.jsonl"):
            attributes = decode_attrs(line["attributes"])
            attributes.pop(PK, None)  # never taken from the archive: the key is the target's
            sort_key = line["sk"]
            if sort_key.startswith(_SECRET) and target_id != source_id and "ciphertext" in attributes:
                name = sort_key[len(_SECRET) :]
                blob = attributes["ciphertext"]["B"]
                attributes["ciphertext"] = {
                    "B": self._kms.re_encrypt(
                        CiphertextBlob=blob,
                        SourceEncryptionContext={"tenant_id": source_id, "secret_name": name},
                        DestinationKeyId=admin.settings.secrets_key_arn,
                        DestinationEncryptionContext={"tenant_id": target_id, "secret_name": name},
                    )["CiphertextBlob"]
                }
                reencrypted += 1
            item = {**attributes, **to_attrs(moved_key(target_id, sort_key))}
            batch.append({"PutRequest": {"Item": item}})
            items += 1
            if len(batch) == 25:
                client.batch_write_item(RequestItems={table: batch})
                batch = []
        if batch:
            client.batch_write_item(RequestItems={table: batch})
        for line in reader.read_lines("usage.jsonl"):
            values = from_attrs(decode_attrs(line))
            month = str(values.pop(SK, ""))[len("MONTH#") :]
            values.pop("blocked", None)
            if len(month) == 7:
                admin.dynamodb.put_item(
                    TableName=admin.settings.usage_table,
                    Item=to_attrs({**values, **usage_month_key(target_id, month)}),
                )
        files = 0
        bucket = admin.settings.branding_bucket
        s3 = self._clients.s3(tenant, bucket)
        for name, data in reader.blobs("branding/"):
            if "/" in name or name.startswith("."):
                continue
            s3.put_object(Bucket=bucket, Key=tenant_prefix(target_id) + name, Body=data)
            files += 1
        members = 0
        if self._members is not None:
            for line in reader.read_lines("members.jsonl"):
                members += int(self._members.add(str(line["user"]), target_id, added_by=admin.principal))
        admin.record_audit(target_id, "restore", "allowed", f"from {path.name} (tenant {source_id}): {items} item(s)")
        return RestoreReport(
            tenant_id=target_id,
            source_tenant_id=source_id,
            items=items,
            secrets_reencrypted=reencrypted,
            branding_files=files,
            members=members,
            message=(
                f"Restored {source_id} as {target_id} into {table}: {items:,} item(s), {reencrypted} secret(s) "
                f"re-encrypted for {target_id}, {files} branding file(s), {members} member(s). "
                "The audit trail stays in the archive."
            ),
        )


def _entity_key(sort_key: str) -> bool:
    return any(sort_key.startswith(k) and ENTITY_ID_PATTERN.fullmatch(sort_key[len(k) :]) for k in _KINDS)
