"""The container's long-lived objects: settings, AWS clients, stores, services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config

from tenantry.dal.items import to_attrs
from tenantry.dal.keys import registry_key, usage_month_key
from tenantry.logic.customers import CustomerInsights, CustomerService
from tenantry.logic.notifications import NotificationService, UrllibWebhookSender, WebhookSender
from tenantry.logic.profile import ProfileService
from tenantry.logic.search import SearchService
from tenantry.logic.secrets import SecretService
from tenantry.logic.usage import UsageService
from tenantry.mcp_server.priming import answered_locally
from tenantry.settings import Settings
from tenantry.stores import Stores, open_stores
from tenantry.tenancy.placement import is_home, table_for
from tenantry.tenancy.registry import TenantRecord
from tenantry.tenancy.resolver import TenantResolver

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
class Services(Stores):
    """The stores (tenantry/stores.py, shared with the operator) plus what the MCP server's tools call."""

    resolver: TenantResolver
    customers: CustomerService
    profile: ProfileService
    secrets: SecretService
    notifications: NotificationService
    usage_report: UsageService
    insights: CustomerInsights
    search: SearchService

    @classmethod
    def create(
        cls,
        settings: Settings,
        session: botocore.session.Session | None = None,
        webhook_sender: WebhookSender | None = None,
    ) -> Services:
        # AWS_ENDPOINT_URL (honoured by botocore itself) points these at moto locally.
        # botocore rather than boto3: the runtime needs only clients, and boto3's import (with s3transfer) is
        # about a tenth of a second of every cold start.
        stores = open_stores(settings, session or botocore.session.get_session(), _BOTO_CONFIG)
        customer_store, secret_store = stores.customer_store, stores.secret_store

        def table_of(record: TenantRecord) -> str:
            return table_for(record.tenant_id, record.placement, settings.cells(), settings.silo_table_prefix)

        return cls(
            **stores.parts(),
            resolver=TenantResolver(
                stores.registry, settings.tenant_claim, settings.base_domain, table_of, frozenset(settings.serve_plans)
            ),
            customers=CustomerService(customer_store, settings.page_size_max),
            profile=ProfileService(stores.registry, stores.branding, tuple(settings.widget_image_origins)),
            secrets=SecretService(secret_store),
            notifications=NotificationService(
                customer_store,
                secret_store,
                webhook_sender or UrllibWebhookSender(),
                allow_loopback=settings.allow_loopback_webhooks,
                audit=stores.audit,
            ),
            usage_report=UsageService(stores.usage, customer_store),
            insights=CustomerInsights(customer_store),
            search=SearchService(customer_store),
        )

    def home_allowed(self, tenant_id: str, table: str) -> bool:
        """A moved tenant's new home (from its usage item) must be one of its own tables."""
        return is_home(tenant_id, table, self.settings.cells(), self.settings.silo_table_prefix)

    def load_models(self) -> None:
        """Load botocore's models and endpoint rules for every service the runtime uses, and make no call.

        A client from the shared session reuses what the session has loaded, so a tenant's first
        client later costs a few milliseconds instead of reading and parsing JSON.
        """
        for service in RUNTIME_SERVICES:
            client = self._placeholder_client(service)
            client.close()

    def prime_clients(self, *, tenant_like: bool = True) -> None:
        """Run each request path of the function's own clients once, answered in process (nothing sent).

        The first real request then finds endpoint rules resolved and operation models, serializers
        and parsers built. A tenant's client is new per tenant, so with `tenant_like` one throwaway
        client of the same kind is primed too: that warms what is shared (lazily imported modules, the
        session's caches) for tenants served after a SnapStart restore. An on-demand init leaves it out:
        the function's own DynamoDB client has warmed the same modules and caches, and the first call
        builds its tenant's client anyway, so a throwaway one would only add a client to the wait.
        """
        registry, usage = registry_key("_init"), usage_month_key("_init", "0000-00")
        with answered_locally(self.dynamodb):
            self.dynamodb.get_item(TableName=self.settings.registry_table, Key=to_attrs(registry))
        admission = self.usage.admission_client  # a client of its own: botocore's retries off (metering/meter.py)
        with answered_locally(admission):
            admission.update_item(
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
        if tenant_like:
            throwaway: Any = self._placeholder_client("dynamodb")
            with answered_locally(throwaway):
                throwaway.get_item(TableName=self.settings.data_table, Key=to_attrs(registry))
            throwaway.close()

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
