"""AWS clients for one tenant: built on its assumed credentials, DynamoDB ones guarded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config

from tenantry.audit import AuditEvent, AuditLog
from tenantry.errors import NoTenantContextError
from tenantry.isolation.cache import tenant_cache_key
from tenantry.isolation.credentials import ScopedSession, TenantCredentials
from tenantry.isolation.guard import Refusal, install_guard, install_s3_guard
from tenantry.isolation.tracking import install_tracking
from tenantry.observability import emit_metric
from tenantry.tenancy.context import TenantContext, current_tenant

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

__all__ = ["TenantClients"]


class TenantClients:
    def __init__(
        self, credentials: TenantCredentials, config: Config, audit: AuditLog | None, max_clients: int = 1024
    ) -> None:
        self._credentials = credentials
        self._config = config
        self._audit = audit
        self._max = max_clients
        self._cache: OrderedDict[tuple[Any, ...], tuple[ScopedSession, Any]] = OrderedDict()
        self._lock = threading.Lock()
        # A client is only good while its tenant's credentials are cached (else the next call
        # rebuilds it on new ones): drop it with them rather than hold ~250 KB of dead client.
        credentials.on_evict(self._drop_tenant)

    def dynamodb(self, tenant: TenantContext) -> DynamoDBClient:
        return cast("DynamoDBClient", self._client(tenant, "dynamodb", tenant.data_table))

    def kms(self, tenant: TenantContext) -> KMSClient:
        return cast("KMSClient", self._client(tenant, "kms", ""))

    def s3(self, tenant: TenantContext, bucket: str) -> S3Client:
        return cast("S3Client", self._client(tenant, "s3", bucket))

    def credentials_remaining(self, tenant: TenantContext) -> float:
        """Seconds the tenant's credentials stay valid: a presigned URL signed with them dies with them."""
        return self._credentials.remaining_seconds(tenant.tenant_id)

    def _client(self, tenant: TenantContext, service: str, table: str) -> Any:
        scoped = self._credentials.session_for(tenant.tenant_id)
        key = tenant_cache_key(tenant.tenant_id, service, table)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] is scoped:
                self._cache.move_to_end(key)
                return cached[1]
        client = scoped.client(service, config=self._config)
        if service == "dynamodb":
            install_guard(client, tenant.tenant_id, [table], self._refusal_recorder(tenant))
            install_tracking(client, tenant.tenant_id)  # after the guard: nothing is marked for a refused write
        elif service == "s3":
            install_s3_guard(client, tenant.tenant_id, table, self._refusal_recorder(tenant))
        with self._lock:
            replaced = self._cache.pop(key, None)  # built on credentials since refreshed
            self._cache[key] = (scoped, client)
            dropped = [replaced[1]] if replaced is not None and replaced[1] is not client else []
            while len(self._cache) > self._max:
                dropped.append(self._cache.popitem(last=False)[1][1])
        # Closed, not just forgotten: each holds a connection pool (sockets) that would otherwise
        # stay open until the garbage collector finds it, which a warm container serving thousands
        # of tenants should not wait for. A closed client that is still in use opens a new pool.
        for old in dropped:
            old.close()
        return client

    def _drop_tenant(self, tenant_id: str) -> None:
        with self._lock:
            keys = [key for key in self._cache if key[0] == tenant_id]
            dropped = [self._cache.pop(key)[1] for key in keys]
        for client in dropped:
            client.close()

    def clear(self) -> None:
        """Drop every tenant client (they hold assumed credentials and open connections)."""
        with self._lock:
            clients = [client for _, client in self._cache.values()]
            self._cache.clear()
        for client in clients:
            client.close()

    def _refusal_recorder(self, tenant: TenantContext) -> Refusal:
        def record(operation: str, table: str, reason: str) -> None:
            emit_metric("CrossTenantDenied")
            if self._audit is None:
                return
            try:
                acting = current_tenant()
            except NoTenantContextError:  # an admin or test call outside a request
                acting = tenant
            self._audit.record(
                AuditEvent(
                    tenant_id=tenant.tenant_id,
                    principal=acting.principal,
                    action=operation,
                    resource=table,
                    outcome="denied",
                    reason=f"cross_tenant_guard: {reason}",
                    request_id=acting.request_id,
                )
            )

        return record
