"""Branding assets (a logo) in S3 under tenants/{tenant_id}/, with the tenant's own credentials."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tenantry.errors import InvalidInputError, NotFoundError
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.guard import tenant_prefix
from tenantry.tenancy.context import TenantContext

__all__ = ["LOGO_TYPES", "LOGO_URL_SECONDS", "MAX_LOGO_BYTES", "BrandingAssets"]

LOGO_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg", "image/webp": "webp"}
MAX_LOGO_BYTES = 512 * 1024
# Asked-for lifetime of a logo URL; capped by the signing credentials' remaining lifetime.
LOGO_URL_SECONDS = 3600


class BrandingAssets:
    def __init__(self, clients: TenantClients, bucket: str) -> None:
        self._clients = clients
        self._bucket = bucket

    def _key(self, tenant: TenantContext, content_type: str) -> str:
        return f"{tenant_prefix(tenant.tenant_id)}logo.{LOGO_TYPES[content_type]}"

    def put_logo(self, tenant: TenantContext, data: bytes, content_type: str) -> str:
        """Store the logo; returns its object key. Replaces a logo of another type."""
        if content_type not in LOGO_TYPES:
            raise InvalidInputError(f"A logo must be one of: {', '.join(sorted(LOGO_TYPES))}.")
        if not data or len(data) > MAX_LOGO_BYTES:
            raise InvalidInputError(f"A logo must be 1 byte to {MAX_LOGO_BYTES // 1024} KiB.")
        s3 = self._clients.s3(tenant, self._bucket)
        key = self._key(tenant, content_type)
        for other in LOGO_TYPES:
            if self._key(tenant, other) != key:
                s3.delete_object(Bucket=self._bucket, Key=self._key(tenant, other))
        s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)
        return key

    def logo(self, tenant: TenantContext) -> tuple[bytes, str]:
        s3 = self._clients.s3(tenant, self._bucket)
        listed = s3.list_objects_v2(Bucket=self._bucket, Prefix=tenant_prefix(tenant.tenant_id) + "logo.")
        for entry in listed.get("Contents", []):
            obj: Any = s3.get_object(Bucket=self._bucket, Key=entry["Key"])
            return obj["Body"].read(), str(obj.get("ContentType", "application/octet-stream"))
        raise NotFoundError("No logo is stored for your organisation.")

    def presigned_logo_url(self, tenant: TenantContext, expires_seconds: int = LOGO_URL_SECONDS) -> str | None:
        """A GET URL for the logo, valid for `expires_seconds` or until the signing credentials expire.

        The URL is signed with the tenant's STS session credentials; S3 refuses it once they
        expire, whatever X-Amz-Expires says, so the URL never promises longer than they live.
        """
        s3 = self._clients.s3(tenant, self._bucket)
        expires_seconds = max(1, min(expires_seconds, int(self._clients.credentials_remaining(tenant))))
        listed = s3.list_objects_v2(Bucket=self._bucket, Prefix=tenant_prefix(tenant.tenant_id) + "logo.")
        contents = listed.get("Contents", [])
        if not contents:
            return None
        try:
            url: str = s3.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": contents[0]["Key"]}, ExpiresIn=expires_seconds
            )
        except ClientError:
            return None
        return url
