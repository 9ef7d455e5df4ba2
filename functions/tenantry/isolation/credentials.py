"""Tenant-scoped AWS credentials: STS AssumeRole on the tenant access role with a tenant_id session tag.

IAM conditions on that role (`dynamodb:LeadingKeys`, `kms:EncryptionContext:tenant_id`,
S3 prefixes) compare against `${aws:PrincipalTag/tenant_id}`, so these credentials
can reach only the tenant's own data even if application code asks for more.
Cached per tenant per warm container, refreshed before expiry, bounded in number.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.session

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from botocore.config import Config
    from mypy_boto3_sts import STSClient

__all__ = ["ScopedSession", "TenantCredentials"]


@dataclass(frozen=True)
class ScopedSession:
    """A tenant's assumed credentials; clients are built from the container's one botocore session.

    Building a new session per tenant costs ~65 ms (it reloads the service models); a
    client from the shared session with explicit credentials costs a few.
    """

    tenant_id: str
    credentials: dict[str, str]
    expires_at: float
    base: botocore.session.Session

    def client(self, service: str, config: Config | None = None) -> Any:
        return self.base.create_client(
            service,
            config=config,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )


class TenantCredentials:
    def __init__(
        self,
        sts: STSClient,
        role_arn: str,
        *,
        duration_seconds: int = 900,
        refresh_margin_seconds: float = 120.0,
        max_tenants: int = 512,
        base_session: botocore.session.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sts = sts
        self._role_arn = role_arn
        self._duration = duration_seconds
        self._margin = refresh_margin_seconds
        self._max = max_tenants
        self._base = base_session or botocore.session.get_session()
        self._clock = clock
        self._cache: OrderedDict[str, ScopedSession] = OrderedDict()
        self._lock = threading.Lock()
        self._on_evict: list[Callable[[str], None]] = []
        self.assumed = 0  # AssumeRole calls made (for benchmarks and tests)

    def on_evict(self, callback: Callable[[str], None]) -> None:
        """Call `callback(tenant_id)` when a tenant's credentials leave the cache past its cap."""
        self._on_evict.append(callback)

    @property
    def sts_client(self) -> STSClient:
        """The function's own STS client (benchmarks count its calls)."""
        return self._sts

    def session_for(self, tenant_id: str) -> ScopedSession:
        with self._lock:
            cached = self._cache.get(tenant_id)
            if cached is not None and cached.expires_at - self._margin > self._clock():
                self._cache.move_to_end(tenant_id)
                return cached
        fresh = self._assume(tenant_id)
        evicted: list[str] = []
        with self._lock:
            self._cache[tenant_id] = fresh
            self._cache.move_to_end(tenant_id)
            while len(self._cache) > self._max:
                evicted.append(self._cache.popitem(last=False)[0])
        for gone in evicted:
            for callback in self._on_evict:
                callback(gone)
        return fresh

    def _assume(self, tenant_id: str) -> ScopedSession:
        response = self._sts.assume_role(
            RoleArn=self._role_arn,
            RoleSessionName=f"tenant-{tenant_id}"[:64],
            DurationSeconds=self._duration,
            Tags=[{"Key": "tenant_id", "Value": tenant_id}],
        )
        self.assumed += 1
        creds = response["Credentials"]
        expires = creds["Expiration"]
        expires_at = expires.timestamp() if hasattr(expires, "timestamp") else self._clock() + self._duration
        keys = {k: str(creds[k]) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
        return ScopedSession(tenant_id, keys, expires_at, self._base)

    def remaining_seconds(self, tenant_id: str) -> float:
        """How long the tenant's current credentials stay valid (refreshing them first if due)."""
        return self.session_for(tenant_id).expires_at - self._clock()

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)

    def clear(self) -> None:
        """Forget every tenant's credentials (before a SnapStart snapshot and after a restore)."""
        with self._lock:
            self._cache.clear()
