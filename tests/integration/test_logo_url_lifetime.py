"""A presigned logo URL never promises more time than the credentials that signed it have left."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from botocore.config import Config

from tenantry.dal.branding import BrandingAssets
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry_local.aws import local_client
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for


def _expires(url: str) -> int:
    """Seconds the URL claims to live (SigV4's X-Amz-Expires, or SigV2's absolute Expires)."""
    query = parse_qs(urlparse(url).query)
    if "X-Amz-Expires" in query:
        return int(query["X-Amz-Expires"][0])
    return int(query["Expires"][0]) - int(time.time())


def test_the_url_lifetime_is_capped_by_the_signing_credentials(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = context_for(new_tenant(), platform)
    offset = [0.0]
    credentials = TenantCredentials(
        local_client("sts"),
        platform.settings.tenant_role_arn,
        duration_seconds=900,
        clock=lambda: time.time() + offset[0],
    )
    assets = BrandingAssets(TenantClients(credentials, Config(), None), platform.settings.branding_bucket)
    assets.put_logo(tenant, b"\x89PNG logo", "image/png")

    fresh = assets.presigned_logo_url(tenant)
    assert fresh is not None and 800 <= _expires(fresh) <= 900  # not the 3600 s asked for

    offset[0] = 750  # the same credentials, 150 s before they expire (past the refresh margin: kept)
    late = assets.presigned_logo_url(tenant)
    assert late is not None and _expires(late) <= 150 + 2
    assert credentials.assumed == 1
