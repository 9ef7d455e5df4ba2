"""The stores every Tenantry process acts through, built one way from settings and a botocore session.

The function (mcp_server/services.py) adds its logic services on top; the operator's console
(tenantry_admin) uses these alone. One factory means an operator writes through exactly the
classes, tables and tenant role the function reads through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config as BotoConfig

from tenantry.audit import AuditLog
from tenantry.dal.branding import BrandingAssets
from tenantry.dal.customers import CustomerStore
from tenantry.dal.secrets import SecretStore
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry.metering.meter import UsageMeter
from tenantry.metering.placement import PlacementMarks
from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRegistry

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sts import STSClient

__all__ = ["Stores", "open_stores"]

_NO_RETRIES = BotoConfig(retries={"total_max_attempts": 1})


@dataclass
class Stores:
    settings: Settings
    # The process's one botocore session: tenant clients are built from it (its loaded models are shared).
    session: botocore.session.Session
    # The process's own client: registry, usage and audit only (the function's IAM allows nothing else).
    dynamodb: DynamoDBClient
    registry: TenantRegistry
    audit: AuditLog
    credentials: TenantCredentials
    # Tenant data is reached only through the tenant role, by the function and the operator alike.
    clients: TenantClients
    customer_store: CustomerStore
    secret_store: SecretStore
    branding: BrandingAssets
    usage: UsageMeter
    # Where a moved tenant lives now, and a running move's state, on its usage items.
    placement: PlacementMarks

    def parts(self) -> dict[str, Any]:
        """The fields by name, not copied: a subclass is built from them plus its own."""
        return dict(vars(self))


def open_stores(
    settings: Settings,
    session: botocore.session.Session,
    config: Config,
    *,
    registry_ttl_seconds: float | None = None,
) -> Stores:
    """The stores on `session`, every client with `config` (retries and timeouts are the caller's to choose).

    `registry_ttl_seconds` overrides the settings' registry cache: the operator reads uncached (0).
    """
    dynamodb = cast("DynamoDBClient", session.create_client("dynamodb", config=config))
    usage = UsageMeter(
        dynamodb,
        settings.usage_table,
        # The meter resends an admission itself, with the call's token (metering/meter.py).
        admission_client=cast("DynamoDBClient", session.create_client("dynamodb", config=config.merge(_NO_RETRIES))),
    )
    registry = TenantRegistry(
        dynamodb,
        settings.registry_table,
        ttl_seconds=settings.registry_cache_seconds if registry_ttl_seconds is None else registry_ttl_seconds,
        max_entries=settings.registry_cache_max,
        # Every record change stamps the tenant's usage items: admission in any container meets it.
        on_change=usage.stamp,
    )
    audit = AuditLog(dynamodb, settings.audit_table, settings.audit_retention_days)
    credentials = TenantCredentials(
        cast("STSClient", session.create_client("sts", config=config)),
        settings.tenant_role_arn,
        duration_seconds=settings.tenant_credentials_seconds,
        max_tenants=settings.tenant_credentials_max,
        base_session=session,
    )
    clients = TenantClients(credentials, config, audit)
    return Stores(
        settings=settings,
        session=session,
        dynamodb=dynamodb,
        registry=registry,
        audit=audit,
        credentials=credentials,
        clients=clients,
        customer_store=CustomerStore(clients),
        secret_store=SecretStore(clients, settings.secrets_key_arn),
        branding=BrandingAssets(clients, settings.branding_bucket),
        usage=usage,
        placement=PlacementMarks(dynamodb, settings.usage_table),
    )
