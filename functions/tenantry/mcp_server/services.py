"""The container's long-lived objects: settings, AWS clients, stores, services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from tenantry.audit import AuditLog
from tenantry.dal.branding import BrandingAssets
from tenantry.dal.customers import CustomerStore
from tenantry.dal.secrets import SecretStore
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry.logic.customers import CustomerInsights, CustomerService
from tenantry.logic.notifications import NotificationService, UrllibWebhookSender, WebhookSender
from tenantry.logic.profile import ProfileService
from tenantry.logic.search import SearchService
from tenantry.logic.secrets import SecretService
from tenantry.logic.usage import UsageService
from tenantry.metering.meter import UsageMeter
from tenantry.settings import Settings
from tenantry.tenancy.placement import table_for
from tenantry.tenancy.registry import TenantRecord, TenantRegistry
from tenantry.tenancy.resolver import TenantResolver

__all__ = ["AWS_RETRY_ATTEMPTS", "Services"]

# botocore's standard retry mode (throttling and transient errors, jittered backoff, a retry quota
# per client). Worst case per AWS call: 3 attempts x (2 s connect + 5 s read) + backoff (< 1 s, then
# < 2 s) = 24 s, inside the function's 28 s timeout, so a failing dependency is answered with an
# error rather than a Lambda timeout. (A shorter read timeout retried writes that had succeeded on a
# slow moto.) docs/reliability.md lists what each fault looks like.
AWS_RETRY_ATTEMPTS = 3
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": AWS_RETRY_ATTEMPTS}, connect_timeout=2, read_timeout=5
)


@dataclass
class Services:
    settings: Settings
    # The function's own client: registry, usage and audit only (IAM allows nothing else).
    dynamodb: Any
    registry: TenantRegistry
    resolver: TenantResolver
    audit: AuditLog
    credentials: TenantCredentials
    clients: TenantClients
    customer_store: CustomerStore
    secret_store: SecretStore
    customers: CustomerService
    profile: ProfileService
    secrets: SecretService
    notifications: NotificationService
    usage: UsageMeter
    usage_report: UsageService
    insights: CustomerInsights
    branding: BrandingAssets
    search: SearchService

    @classmethod
    def create(
        cls, settings: Settings, session: boto3.Session | None = None, webhook_sender: WebhookSender | None = None
    ) -> Services:
        # AWS_ENDPOINT_URL (honoured by botocore itself) points these at moto locally.
        session = session or boto3.Session()
        dynamodb = session.client("dynamodb", config=_BOTO_CONFIG)
        registry = TenantRegistry(
            dynamodb,
            settings.registry_table,
            ttl_seconds=settings.registry_cache_seconds,
            max_entries=settings.registry_cache_max,
        )
        audit = AuditLog(dynamodb, settings.audit_table, settings.audit_retention_days)
        credentials = TenantCredentials(
            session.client("sts", config=_BOTO_CONFIG),
            settings.tenant_role_arn,
            duration_seconds=settings.tenant_credentials_seconds,
            max_tenants=settings.tenant_credentials_max,
            base_session=session,
        )
        clients = TenantClients(credentials, _BOTO_CONFIG, audit)
        customer_store = CustomerStore(clients)
        branding = BrandingAssets(clients, settings.branding_bucket)
        usage = UsageMeter(dynamodb, settings.usage_table)
        secret_store = SecretStore(clients, settings.secrets_key_arn)

        def table_of(record: TenantRecord) -> str:
            return table_for(record.tenant_id, record.placement, settings.cells(), settings.silo_table_prefix)

        return cls(
            settings=settings,
            dynamodb=dynamodb,
            registry=registry,
            resolver=TenantResolver(
                registry, settings.tenant_claim, settings.base_domain, table_of, frozenset(settings.serve_plans)
            ),
            audit=audit,
            credentials=credentials,
            clients=clients,
            customer_store=customer_store,
            secret_store=secret_store,
            customers=CustomerService(customer_store, settings.page_size_max),
            profile=ProfileService(registry, branding, tuple(settings.widget_image_origins)),
            secrets=SecretService(secret_store),
            notifications=NotificationService(
                customer_store,
                secret_store,
                webhook_sender or UrllibWebhookSender(),
                allow_loopback=settings.allow_loopback_webhooks,
                audit=audit,
            ),
            usage=usage,
            usage_report=UsageService(usage, customer_store),
            insights=CustomerInsights(customer_store),
            branding=branding,
            search=SearchService(customer_store),
        )
