"""`tenants restore`: an archive, or one tenant of a point-in-time-recovered table, back into a tenant.

The target is a tenant that does not exist yet (created here) or, with `replace`, an existing
one whose data is replaced: every item of the source written, every item the source does not
have removed. Keys are rebuilt from the *target* tenant id (dal/keys.py) and every write goes
through the target tenant's guarded client, so a source naming other tenants' keys cannot write
outside the target's partition. When the ids differ, secrets are re-encrypted for the target's
encryption context with KMS ReEncrypt (the plaintext never leaves KMS).

An archive is verified whole before anything is written. A recovered table is read with the
operator's credentials (its name is in no tenant role's policy), one partition only: the
Query's key condition names the tenant's partition (dal/keys.tenant_partition) and an item of
any other partition is refused, so another tenant's items are never read into the target.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import (
    ENTITY_ID_PATTERN,
    PK,
    SK,
    move_mark_prefix,
    moved_key,
    tenant_partition,
    usage_month_key,
    usage_month_sk,
)
from tenantry.dal.members import MembershipStore
from tenantry.errors import InvalidInputError, aws_error_code
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.guard import tenant_prefix
from tenantry.metering.meter import is_history
from tenantry.tenancy.context import TENANT_ID_PATTERN
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.lifecycle.archive import ArchiveReader, decode_attrs
from tenantry_admin.lifecycle.copying import PartitionCopier
from tenantry_admin.tenants import TenantAdmin, validate_tenant_id

__all__ = ["RestoreReport", "Restorer", "entity_key"]

_SECRET = "SECRET#"
_KINDS = ("CUSTOMER#", "COUNTER#", "SECRET#")
_BATCH = 25


class RestoreReport(BaseModel):
    tenant_id: str
    source_tenant_id: str
    replaced: bool
    items: int
    removed: int
    secrets_reencrypted: int
    branding_files: int
    members: int
    message: str


def entity_key(sort_key: str) -> bool:
    """Whether a sort key is one of a tenant's entities (customers, counters, secrets)."""
    return any(sort_key.startswith(k) and ENTITY_ID_PATTERN.fullmatch(sort_key[len(k) :]) for k in _KINDS)


class Restorer:
    def __init__(self, admin: TenantAdmin, clients: TenantClients, members: MembershipStore | None, kms: Any) -> None:
        self._admin = admin
        self._clients = clients
        self._members = members
        self._kms = kms  # the operator's KMS client: ReEncrypt from one tenant's context to another's

    # -- checks, before anything is asked or written ----------------------------------------------
    def verify(self, path: Path) -> ArchiveReader:
        reader = ArchiveReader(path)
        reader.verify()
        # The item lines too: a sort key that is not an entity key is refused before anything is written.
        mark = move_mark_prefix("x")[1]
        for line in reader.read_lines("items.jsonl"):
            sort_key = line.get("sk") if isinstance(line, dict) else None
            if not isinstance(sort_key, str) or sort_key.startswith(mark) or not entity_key(sort_key):
                raise InvalidInputError(
                    f"{path.name}: an item has a sort key that is not a Tenantry entity; nothing was restored."
                )
            if not isinstance(line.get("attributes"), dict):
                raise InvalidInputError(f"{path.name}: an item has no attributes; nothing was restored.")
        return reader

    def target_of(self, source_id: str, new_id: str | None, replace: bool = False) -> str:
        """The tenant id a restore writes: a new one, or with `replace` an existing, served one."""
        target_id = validate_tenant_id(new_id or source_id)
        existing = self._admin.registry.load(target_id)
        if not replace:
            if existing is not None:
                raise InvalidInputError(
                    f"Tenant {target_id} exists: pass --replace to replace its data, or restore under a new id "
                    "with --as NEW_ID (offboarded ids are never reused). Nothing was restored."
                )
            return target_id
        if existing is None:
            raise InvalidInputError(
                f"No tenant {target_id} to replace: restore without --replace. Nothing was restored."
            )
        if existing.status == "offboarded":
            raise InvalidInputError(
                f"Tenant {target_id} is offboarded (its id is never reused): restore under a new id with --as "
                "NEW_ID. Nothing was restored."
            )
        if existing.move is not None:
            raise InvalidInputError(
                f"Tenant {target_id} is being moved: finish the move (`tenantry tenants move {target_id} ...` again) "
                "before replacing its data. Nothing was restored."
            )
        return target_id

    def current_items(self, tenant_id: str) -> int:
        record = self._admin.get(tenant_id)
        table = self._admin.table_of(record)
        return PartitionCopier(self._clients, self._admin.context_for(record), table, table).count(table)

    # -- archive --------------------------------------------------------------------------------
    def restore(self, path: Path, new_id: str | None, placement: str, replace: bool = False) -> RestoreReport:
        reader = self.verify(path)
        admin = self._admin
        source_id = str(reader.manifest["tenant_id"])
        target_id = self.target_of(source_id, new_id, replace)
        saved = TenantRecord.model_validate(reader.read_json("record.json"))
        record = self._target(target_id, saved, placement, replace)
        items = ((str(line["sk"]), decode_attrs(line["attributes"])) for line in reader.read_lines("items.jsonl"))
        written, removed, reencrypted = self._write(record, source_id, items, replace)
        for line in reader.read_lines("usage.jsonl"):
            values = from_attrs(decode_attrs(line))
            month = str(values.pop(SK, "")).removeprefix(usage_month_sk(""))
            if len(month) == 7:
                self._restore_month(target_id, month, values)
        # Running containers must meet the record's stamp and its status mark (a suspended tenant whose
        # data is replaced stays suspended), whatever the puts did to the month items.
        admin.meter.stamp(target_id, record.version)
        current = admin.get(target_id)
        admin.registry.confirm_with(
            current, admin.meter.mark_updates(target_id, current.status, current.version), str(uuid.uuid4())
        )
        files = self._branding(record, dict(reader.blobs("branding/")), replace)
        members = 0
        if self._members is not None:
            for line in reader.read_lines("members.jsonl"):
                members += int(self._members.add(str(line["user"]), target_id, added_by=admin.principal))
        what = "replaced from" if replace else "from"
        admin.record_audit(
            target_id,
            "restore",
            "allowed",
            f"{what} {path.name} (tenant {source_id}): {written} item(s), {removed} removed",
        )
        return self._report(record, source_id, replace, (written, removed, reencrypted, files, members), path.name)

    # -- a table DynamoDB point-in-time recovery restored ---------------------------------------
    def table_items(self, table: str, tenant_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(sort key, attributes) of each entity of `tenant_id` in `table`: one partition, nothing else."""
        source = self._admin.get(tenant_id)
        partition = tenant_partition(self._admin.context_for(source))
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": to_attrs({":pk": partition}),
            "ConsistentRead": True,
        }
        mark = move_mark_prefix(tenant_id)[1]
        while True:
            page = self._admin.dynamodb.query(**request)
            for item in page.get("Items", []):
                if item[PK]["S"] != partition:  # the key condition already says so; never trust a copy blindly
                    raise InvalidInputError(f"{table} answered an item of another partition; nothing more was read.")
                sort_key = item[SK]["S"]
                if sort_key.startswith(mark) or not entity_key(sort_key):
                    continue  # a move in flight when the table was recovered left marks: not tenant data
                yield sort_key, {k: v for k, v in item.items() if k != PK}
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def check_table(self, table: str, tenant_id: str, target_id: str) -> int:
        """The number of the tenant's items in `table`; refuses a missing table, an empty partition, a live table."""
        live = {self._admin.settings.data_table, *self._admin.settings.cells()}
        target = self._admin.registry.load(target_id)
        if target is not None:
            live.add(self._admin.table_of(target))
        prefix = self._admin.settings.silo_table_prefix
        # A tenant's silo table is live; `tenantry-silo-gym-restored` (gym's, recovered) is not.
        owner = table[len(prefix) :] if table.startswith(prefix) else ""
        if TENANT_ID_PATTERN.fullmatch(owner) and self._admin.registry.load(owner) is not None:
            live.add(table)
        if table in live:
            raise InvalidInputError(
                f"{table} is a table the stack serves from; name the table point-in-time recovery restored. "
                "Nothing was restored."
            )
        try:
            self._admin.dynamodb.describe_table(TableName=table)
        except ClientError as exc:
            if aws_error_code(exc) != "ResourceNotFoundException":
                raise
            raise InvalidInputError(f"No table {table}; nothing was restored.") from exc
        count = sum(1 for _ in self.table_items(table, tenant_id))
        if count == 0:
            raise InvalidInputError(f"{table} holds no items of tenant {tenant_id}; nothing was restored.")
        return count

    def restore_from_table(
        self, table: str, tenant_id: str, new_id: str | None, placement: str, replace: bool = False
    ) -> RestoreReport:
        target_id = self.target_of(tenant_id, new_id, replace)
        self.check_table(table, tenant_id, target_id)
        source = self._admin.get(tenant_id)  # the registry keeps offboarded tenants' records
        record = self._target(target_id, source, placement, replace)
        written, removed, reencrypted = self._write(record, tenant_id, self.table_items(table, tenant_id), replace)
        what = "replaced from" if replace else "from"
        self._admin.record_audit(
            target_id,
            "restore",
            "allowed",
            f"{what} table {table} (tenant {tenant_id}): {written} item(s), {removed} removed",
        )
        return self._report(record, tenant_id, replace, (written, removed, reencrypted, 0, 0), f"table {table}")

    # -- writing --------------------------------------------------------------------------------
    def _restore_month(self, target_id: str, month: str, archived: dict[str, Any]) -> None:
        """The archive's counters of one month, with the target's own live state on that item kept.

        The archive's status mark, registry stamp and placement marks are its source's (another tenant,
        or the same one at another time): written back they would unblock a suspended target, refuse
        its next suspension (a newer mark version) or point its calls at the source's table.
        """
        admin = self._admin
        key = to_attrs(usage_month_key(target_id, month))
        existing = admin.dynamodb.get_item(TableName=admin.settings.usage_table, Key=key, ConsistentRead=True)
        live = {k: v for k, v in from_attrs(existing.get("Item") or {}).items() if not is_history(k)}
        history = {k: v for k, v in archived.items() if is_history(k)}
        item = {**history, **live, **usage_month_key(target_id, month)}
        admin.dynamodb.put_item(TableName=admin.settings.usage_table, Item=to_attrs(item))

    def _target(self, target_id: str, saved: TenantRecord, placement: str, replace: bool) -> TenantRecord:
        """The target's record: the existing one (replace), or a new tenant like the saved one."""
        admin = self._admin
        if not replace:
            slug = saved.slug if target_id == saved.tenant_id else target_id
            admin.create(target_id, slug, saved.display_name, saved.plan, placement)
        record = admin.get(target_id)
        return admin.registry.save(
            record.model_copy(
                update={
                    "branding": saved.branding,
                    "feature_overrides": saved.feature_overrides,
                    "quota_overrides": saved.quota_overrides,
                }
            ),
            record.version,
        )

    def _write(
        self, record: TenantRecord, source_id: str, items: Iterable[tuple[str, dict[str, Any]]], replace: bool
    ) -> tuple[int, int, int]:
        """Write every item under the target's keys; with `replace`, then remove what the source lacks."""
        admin = self._admin
        target_id = record.tenant_id
        tenant = admin.context_for(record)
        table = admin.table_of(record)
        copier = PartitionCopier(self._clients, tenant, table, table)  # the target's guarded client
        written = reencrypted = 0
        kept: set[str] = set()
        batch: list[dict[str, Any]] = []
        for sort_key, attributes in items:
            attributes = dict(attributes)
            attributes.pop(PK, None)  # never taken from the source: the key is the target's
            if sort_key.startswith(_SECRET) and target_id != source_id and "ciphertext" in attributes:
                attributes["ciphertext"] = {
                    "B": self._reencrypt(attributes["ciphertext"]["B"], sort_key, source_id, target_id)
                }
                reencrypted += 1
            batch.append({"PutRequest": {"Item": {**attributes, **to_attrs(moved_key(target_id, sort_key))}}})
            kept.add(sort_key)
            written += 1
            if len(batch) == _BATCH:
                copier.batch(table, batch)
                batch = []
        if batch:
            copier.batch(table, batch)
        removed = 0
        if replace:
            stale: list[dict[str, Any]] = []
            for item in copier.data_items(table):
                if item[SK]["S"] not in kept:
                    stale.append({"DeleteRequest": {"Key": to_attrs(moved_key(target_id, item[SK]["S"]))}})
            for start in range(0, len(stale), _BATCH):
                copier.batch(table, stale[start : start + _BATCH])
            removed = len(stale)
        return written, removed, reencrypted

    def _reencrypt(self, blob: bytes, sort_key: str, source_id: str, target_id: str) -> bytes:
        name = sort_key[len(_SECRET) :]
        return bytes(
            self._kms.re_encrypt(
                CiphertextBlob=blob,
                SourceEncryptionContext={"tenant_id": source_id, "secret_name": name},
                DestinationKeyId=self._admin.settings.secrets_key_arn,
                DestinationEncryptionContext={"tenant_id": target_id, "secret_name": name},
            )["CiphertextBlob"]
        )

    def _branding(self, record: TenantRecord, files: dict[str, bytes], replace: bool) -> int:
        bucket = self._admin.settings.branding_bucket
        s3 = self._clients.s3(self._admin.context_for(record), bucket)
        prefix = tenant_prefix(record.tenant_id)
        if replace:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    if entry["Key"][len(prefix) :] not in files:
                        s3.delete_object(Bucket=bucket, Key=entry["Key"])
        written = 0
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                continue
            s3.put_object(Bucket=bucket, Key=prefix + name, Body=data)
            written += 1
        return written

    def _report(
        self, record: TenantRecord, source_id: str, replace: bool, counts: tuple[int, int, int, int, int], source: str
    ) -> RestoreReport:
        written, removed, reencrypted, files, members = counts
        target_id = record.tenant_id
        table = self._admin.table_of(record)
        head = (
            f"Replaced the data of {target_id} in {table} from {source} (tenant {source_id}): {written:,} item(s) "
            f"written, {removed:,} removed"
            if replace
            else f"Restored {source_id} as {target_id} into {table} from {source}: {written:,} item(s)"
        )
        return RestoreReport(
            tenant_id=target_id,
            source_tenant_id=source_id,
            replaced=replace,
            items=written,
            removed=removed,
            secrets_reencrypted=reencrypted,
            branding_files=files,
            members=members,
            message=f"{head}, {reencrypted} secret(s) re-encrypted for {target_id}, {files} branding file(s), "
            f"{members} member(s) added.",
        )
