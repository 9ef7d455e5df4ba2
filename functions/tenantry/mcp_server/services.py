"""The container's long-lived objects: settings, AWS clients, stores, services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

from tenantry.audit import AuditLog
from tenantry.dal.branding import BrandingAssets
from tenantry.dal.customers import CustomerStore
from tenantry.dal.items import to_attrs
from tenantry.dal.keys import registry_key, usage_month_key
from tenantry.dal.secrets import SecretStore
from tenantry.isolation.clients import TenantClients
from tenantry.isolation.credentials import TenantCredentials
from tenantry.logic.customers import CustomerInsights, CustomerService
from tenantry.logic.notifications import NotificationService, UrllibWebhookSender, WebhookSender
from tenantry.logic.profile import ProfileService
from tenantry.logic.search import SearchService
from tenantry.logic.secrets import SecretService
from tenantry.logic.usage import UsageService
from tenantry.mcp_server.priming import answered_locally
from tenantry.metering.meter import UsageMeter
from tenantry.settings import Settings
from tenantry.tenancy.placement import table_for
from tenantry.tenancy.registry import TenantRecord, TenantRegistry
from tenantry.tenancy.resolver import TenantResolver

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sts import STSClient

__all__ = ["AWS_RETRY_ATTEMPTS", "RUNTIME_SERVICES", "Services"]

# botocore's standard retry mode (throttling and transient errors, jittered backoff, a retry quota
# per client). Worst case per AWS call: 3 attempts x (2 s connect + 5 s read) + backoff (< 1 s, then
# < 2 s) = 24 s, inside the function's 28 s timeout, so a failing dependency is answered with an
# error rather than a Lambda timeout. (A shorter read timeout retried writes that had succeeded on a
# slow moto.) docs/reliability.md lists what each fault looks like.
AWS_RETRY_ATTEMPTS = 3
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": AWS_RETRY_ATTEMPTS}, connect_timeout=2, read_timeout=5
)
# Every service a request may reach: the function's own clients and the tenant clients (isolation/clients.py).
# Loading their models at init puts them in Lambda's init phase and in a SnapStart snapshot.
RUNTIME_SERVICES = ("dynamodb", "sts", "kms", "s3")
_STS_EMPTY = b"<AssumeRoleResponse><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>"
# Explicit placeholder keys: building a throwaway client then resolves no credentials and calls nothing.
_NO_CREDENTIALS = "init"


@dataclass
class Services:
    settings: Settings
    # The container's one botocore session: tenant clients are built from it (its loaded models are shared).
    # botocore rather than boto3: the runtime needs only clients, and boto3's import (with s3transfer) is
    # about a tenth of a second of every cold start.
    session: botocore.session.Session
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
        cls,
        settings: Settings,
        session: botocore.session.Session | None = None,
        webhook_sender: WebhookSender | None = None,
    ) -> Services:
        # AWS_ENDPOINT_URL (honoured by botocore itself) points these at moto locally.
        session = session or botocore.session.get_session()
        dynamodb = cast("DynamoDBClient", session.create_client("dynamodb", config=_BOTO_CONFIG))
        registry = TenantRegistry(
            dynamodb,
            settings.registry_table,
            ttl_seconds=settings.registry_cache_seconds,
            max_entries=settings.registry_cache_max,
        )
        audit = AuditLog(dynamodb, settings.audit_table, settings.audit_retention_days)
        credentials = TenantCredentials(
            cast("STSClient", session.create_client("sts", config=_BOTO_CONFIG)),
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
            session=session,
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

    def load_models(self) -> None:
        """Load botocore's models and endpoint rules for every service the runtime uses, and make no call.

        A client from the shared session reuses what the session has loaded, so a tenant's first
        client later costs a few milliseconds instead of reading and parsing JSON.
        """
        for service in RUNTIME_SERVICES:
            client = self._placeholder_client(service)
            client.close()

    def prime_clients(self) -> None:
        """Run each request path of the function's own clients once, answered in process (nothing sent).

        The first real request then finds endpoint rules resolved and operation models, serializers
        and parsers built. A tenant's client is new per tenant, so one throwaway client of the same
        kind is primed too: that warms what is shared (lazily imported modules, the session's caches).
        """
        registry, usage = registry_key("_init"), usage_month_key("_init", "0000-00")
        with answered_locally(self.dynamodb):
            self.dynamodb.get_item(TableName=self.settings.registry_table, Key=to_attrs(registry))
            self.dynamodb.update_item(
                TableName=self.settings.usage_table,
                Key=to_attrs(usage),
                UpdateExpression="ADD #calls :one",
                ExpressionAttributeNames={"#calls": "calls"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_OLD",
            )
        sts = self.credentials.sts_client
        with answered_locally(sts, _STS_EMPTY):
            sts.assume_role(RoleArn=self.settings.tenant_role_arn, RoleSessionName="init", DurationSeconds=900)
        tenant_like: Any = self._placeholder_client("dynamodb")
        with answered_locally(tenant_like):
            tenant_like.get_item(TableName=self.settings.data_table, Key=to_attrs(registry))
        tenant_like.close()

    def _placeholder_client(self, service: str) -> Any:
        """A throwaway client on placeholder keys: building it resolves no credentials and calls nothing."""
        return self.session.create_client(
            service,
            config=_BOTO_CONFIG,
            aws_access_key_id=_NO_CREDENTIALS,
            aws_secret_access_key=_NO_CREDENTIALS,
            aws_session_token=_NO_CREDENTIALS,
        )

    def forget_tenants(self) -> None:
        """Drop everything cached for tenants: assumed credentials, their clients, registry records, usage state.

        Nothing of it may sit in a SnapStart snapshot: credentials expire, and one snapshot
        seeds many containers, which would all carry the same counters and timestamps.
        """
        self.credentials.clear()
        self.clients.clear()
        self.registry.invalidate()
        self.usage.forget_container_state()
