"""Offboarding: a tenant's data and secrets go, its audit trail and billing history stay.

The steps are ordered so that an interrupted run can simply be run again:

1. status `offboarding` and the mark on the tenant's usage items, in one
   transaction, so admission refuses its next tool call in every running
   container (DynamoDB itself checks the mark); then a wait until
   `drain_seconds` (the function timeout) have passed since the mark was set
   (stored as `status_since`, so a re-run waits for what is left of it), so a
   call admitted just before the mark has finished before anything is deleted;
2. each secret's ciphertext is deleted (named in the audit trail);
3. every remaining item of the tenant's partition is deleted with the tenant's
   own guarded credentials, or its silo table is dropped; its branding files go too;
4. the slug reservation is released (only if it is still this tenant's);
5. status `offboarded` (and its marks). The record stays as a tombstone so the id is never reused.

Every step works from what is left, so a second run continues where the first
stopped, and a run on an offboarded tenant sweeps anything written meanwhile.
Usage items (billing) and audit items age out through their TTL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import PK, SK, slug_reservation_key, tenant_partition
from tenantry.errors import NotFoundError, aws_error_code
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.guard import tenant_prefix
from tenantry.tenancy.context import TenantContext
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.tenants import TenantAdmin

__all__ = ["DRAIN_SECONDS", "OffboardReport", "Offboarder", "Progress"]

Progress = Callable[[int, int], None]  # (items deleted so far, items there were at the start)
# The function's timeout (infra/constructs/functions.py) plus a margin: no admitted call outlives it.
DRAIN_SECONDS = 30.0
_PAGE = 100


class OffboardReport(BaseModel):
    tenant_id: str
    already_offboarded: bool
    secrets_deleted: list[str]
    items_deleted: int
    branding_files_deleted: int
    silo_table_dropped: bool
    slug_released: bool
    message: str


class Offboarder:
    def __init__(
        self,
        admin: TenantAdmin,
        clients: TenantClients,
        workers: int = 8,
        drain_seconds: float = DRAIN_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._admin = admin
        self._clients = clients
        self._workers = workers
        self._drain_seconds = drain_seconds
        self._sleep = sleep
        self._clock = clock

    def run(self, tenant_id: str, progress: Progress | None = None) -> OffboardReport:
        admin = self._admin
        record = admin.get(tenant_id)
        already = record.status == "offboarded"
        # Writes are refused first (status and mark in one transaction), then data goes.
        if record.status in ("offboarding", "offboarded"):
            # A re-run: the marks again (a month item created since has none), stamped with the stored version.
            marks = admin.meter.mark_updates(tenant_id, record.status, record.version)
            admin.registry.confirm_with(record, marks, str(uuid.uuid4()))
        else:
            was = record.status
            record = admin.change_status(record, "offboarding", "offboard")
            admin.record_audit(tenant_id, "offboard", "allowed", f"started (was {was})")
        if record.status == "offboarding":
            self._drain(record)
        tenant = admin.context_for(record)
        silo = record.placement.mode == "silo"

        secrets = [] if silo and not self._table_exists(tenant.data_table) else self._delete_secrets(tenant)
        if silo:
            dropped, deleted = admin.drop_silo_table(tenant_id), 0
        else:
            dropped, deleted = False, self._delete_partition(tenant, progress)
        files = self._delete_branding(tenant)
        released = self._release_slug(record)

        if not already:
            admin.change_status(admin.get(tenant_id), "offboarded", "offboard")
        summary = (
            f"secrets deleted: {len(secrets)}; items deleted: {deleted}; silo table dropped: {dropped}; "
            f"branding files deleted: {files}; slug released: {released}"
        )
        admin.record_audit(tenant_id, "offboard", "allowed", ("swept again: " if already else "completed: ") + summary)
        if already:
            leftover = deleted + len(secrets) + files + int(dropped) + int(released)
            message = f"Tenant {tenant_id} was already offboarded; " + (
                f"removed {leftover} leftover item(s)." if leftover else "nothing was left to remove."
            )
        else:
            where = (
                f"dropped table {tenant.data_table}" if silo else f"deleted {deleted} item(s) from {tenant.data_table}"
            )
            message = (
                f"Offboarded {tenant_id}: {where}, {len(secrets)} secret(s) made undecryptable, {files} branding "
                f"file(s) deleted, slug '{record.slug}' released. Audit trail and usage history kept until their TTL."
            )
        return OffboardReport(
            tenant_id=tenant_id,
            already_offboarded=already,
            secrets_deleted=secrets,
            items_deleted=deleted,
            branding_files_deleted=files,
            silo_table_dropped=dropped,
            slug_released=released,
            message=message,
        )

    def _drain(self, record: TenantRecord) -> None:
        """Wait until the drain has passed since the mark was set, in this run or an interrupted earlier one.

        A call admitted just before the mark finishes within the function timeout; a re-run waits
        only for what is left of it. A record marked before the time was stored waits the whole drain.
        """
        since = record.status_since
        marked_at = datetime.fromisoformat(since).timestamp() if since else self._clock()
        left = marked_at + self._drain_seconds - self._clock()
        if left > 0:
            self._sleep(left)

    def _delete_secrets(self, tenant: TenantContext) -> list[str]:
        deleted = []
        for info in self._admin.secret_store.list(tenant):
            try:
                self._admin.secret_store.delete(tenant, info.name)
            except NotFoundError:
                continue  # a concurrent run got there first
            self._admin.record_audit(
                tenant.tenant_id, "secrets.delete", "allowed", "offboarding", resource=f"secret/{info.name}"
            )
            deleted.append(info.name)
        return deleted

    def _delete_partition(self, tenant: TenantContext, progress: Progress | None) -> int:
        total = self._count(tenant)
        done = 0
        if progress is not None:
            progress(0, total)
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            while True:
                keys = self._page(tenant)
                if not keys:
                    break
                client = self._clients.dynamodb(tenant)
                deletes = [pool.submit(client.delete_item, TableName=tenant.data_table, Key=key) for key in keys]
                for delete in deletes:
                    delete.result()
                    done += 1
                    if progress is not None:
                        progress(done, max(total, done))
        return done

    def _query(self, tenant: TenantContext, **extra: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": tenant.data_table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": to_attrs({":pk": tenant_partition(tenant)}),
            "ConsistentRead": True,
            **extra,
        }
        return dict(self._clients.dynamodb(tenant).query(**request))

    def _count(self, tenant: TenantContext) -> int:
        total, start = 0, None
        while True:
            page = self._query(tenant, Select="COUNT", **({"ExclusiveStartKey": start} if start else {}))
            total += int(page.get("Count", 0))
            start = page.get("LastEvaluatedKey")
            if not start:
                return total

    def _page(self, tenant: TenantContext) -> list[dict[str, Any]]:
        # Always from the start: what was deleted is gone, so this is also how a re-run resumes.
        page = self._query(
            tenant,
            ProjectionExpression="#pk, #sk",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            Limit=_PAGE,
        )
        return list(page.get("Items", []))

    def _delete_branding(self, tenant: TenantContext) -> int:
        """Every version of the tenant's files under tenants/{tenant_id}/, with its own credentials.

        The bucket is versioned: a plain DeleteObject only stacks a delete marker on the file, which
        stays readable by version id. So each version and each delete marker is deleted by its id;
        the count is of distinct files (keys). A re-run finds whatever is left and carries on.
        """
        bucket = self._admin.settings.branding_bucket
        s3 = self._clients.s3(tenant, bucket)
        files: set[str] = set()
        try:
            for page in s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=tenant_prefix(tenant.tenant_id)
            ):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
                    files.add(entry["Key"])
        except ClientError as exc:
            if aws_error_code(exc) != "NoSuchBucket":
                raise
        return len(files)

    def _table_exists(self, table: str) -> bool:
        try:
            self._admin.dynamodb.describe_table(TableName=table)
        except ClientError as exc:
            if aws_error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _release_slug(self, record: TenantRecord) -> bool:
        try:
            self._admin.dynamodb.delete_item(
                TableName=self._admin.settings.registry_table,
                Key=to_attrs(slug_reservation_key(record.slug)),
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues=to_attrs({":me": record.tenant_id}),
            )
        except ClientError as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                return False  # released already, or the slug now belongs to another tenant
            raise
        return True
