"""The operator's object graph: the stores admin commands act through, and nothing of the MCP server.

Built from the same runtime classes the function uses (so an operator writes exactly what the
function reads), on the operator's own boto3 session: the running local server's moto, or a
deployed stack's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from tenantry.audit import AuditLog
from tenantry.dal.branding import BrandingAssets
from tenantry.dal.customers import CustomerStore
from tenantry.dal.secrets import SecretStore
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry.metering.meter import UsageMeter
from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRegistry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["OperatorServices"]

# An operator at a terminal can wait longer than a tool call can: more attempts, longer reads.
_OPERATOR_BOTO = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@dataclass
class OperatorServices:
    settings: Settings
    # The operator's own client: registry, usage and audit tables.
    dynamodb: DynamoDBClient
    registry: TenantRegistry
    audit: AuditLog
    # Tenant data is reached only through the tenant role, like the function does.
    clients: TenantClients
    customer_store: CustomerStore
    secret_store: SecretStore
    branding: BrandingAssets
    usage: UsageMeter

    @classmethod
    def create(cls, settings: Settings, session: boto3.Session) -> OperatorServices:
        dynamodb = session.client("dynamodb", config=_OPERATOR_BOTO)
        # Admin paths read the registry uncached (load/all); the TTL only matters to the request path.
        registry = TenantRegistry(dynamodb, settings.registry_table, ttl_seconds=0)
        audit = AuditLog(dynamodb, settings.audit_table, settings.audit_retention_days)
        credentials = TenantCredentials(
            session.client("sts", config=_OPERATOR_BOTO),
            settings.tenant_role_arn,
            duration_seconds=settings.tenant_credentials_seconds,
            max_tenants=settings.tenant_credentials_max,
            # Tenant clients come from the botocore session under the operator's boto3 session.
            base_session=session._session,
        )
        clients = TenantClients(credentials, _OPERATOR_BOTO, audit)
        return cls(
            settings=settings,
            dynamodb=dynamodb,
            registry=registry,
            audit=audit,
            clients=clients,
            customer_store=CustomerStore(clients),
            secret_store=SecretStore(clients, settings.secrets_key_arn),
            branding=BrandingAssets(clients, settings.branding_bucket),
            usage=UsageMeter(dynamodb, settings.usage_table),
        )
