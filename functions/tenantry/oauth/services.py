"""Build the authorization server from OAuthSettings (the deployed function and `./dev local` alike)."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from tenantry.audit import AuditLog
from tenantry.dal.members import MembershipStore
from tenantry.dal.oauth import OAuthStore
from tenantry.oauth.claim_tenants import TenantsClaim
from tenantry.oauth.clients import ClientRegistry, DocumentFetcher, RedirectPolicy
from tenantry.oauth.server import AuthorizationServer, Lifetimes
from tenantry.oauth.signing import KmsSigner
from tenantry.oauth.upstream import IdentityProvider, OidcProvider
from tenantry.settings import OAuthSettings, SettingsError
from tenantry.tenancy.registry import TenantRegistry

__all__ = ["OAUTH_SERVICES", "build_server", "oidc_provider", "tenants_claim"]

# Every AWS service the authorization server calls: it shares the MCP function's layer, whose
# botocore models are pruned to the services some function uses (layers/prune.py; a test checks).
OAUTH_SERVICES = ("dynamodb", "kms", "secretsmanager")

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


def oidc_provider(settings: OAuthSettings, session: botocore.session.Session) -> OidcProvider:
    """The upstream provider named by TENANTRY_OIDC_*; its client secret read once from Secrets Manager."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret_arn):
        raise SettingsError(
            "invalid settings: TENANTRY_OIDC_ISSUER, TENANTRY_OIDC_CLIENT_ID and TENANTRY_OIDC_CLIENT_SECRET_ARN "
            "name the identity provider users sign in with; all three are required"
        )
    secret_arn = settings.oidc_client_secret_arn
    cached: list[str] = []

    def client_secret() -> str:
        if not cached:
            secrets: Any = session.create_client("secretsmanager", config=_BOTO_CONFIG)
            cached.append(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
        return cached[0]

    return OidcProvider(settings.oidc_issuer, settings.oidc_client_id, client_secret, settings.oidc_user_claim)


def tenants_claim(settings: OAuthSettings) -> TenantsClaim | None:
    """The ID-token claim memberships come from, or None: the members table (TENANTRY_OIDC_TENANTS_*)."""
    if settings.oidc_tenants_claim is None:
        return None
    return TenantsClaim(settings.oidc_tenants_claim, settings.oidc_tenants_prefix)


def build_server(
    settings: OAuthSettings, upstream: IdentityProvider | None = None, session: botocore.session.Session | None = None
) -> AuthorizationServer:
    # AWS_ENDPOINT_URL (honoured by botocore itself) points these at moto locally.
    session = session or botocore.session.get_session()
    dynamodb: Any = session.create_client("dynamodb", config=_BOTO_CONFIG)
    kms: Any = session.create_client("kms", config=_BOTO_CONFIG)
    store = OAuthStore(dynamodb, settings.oauth_table)
    scopes = tuple(settings.scopes_supported)
    clients = ClientRegistry(
        store,
        RedirectPolicy(allowed_hosts=frozenset(h.lower() for h in settings.dcr_redirect_hosts)),
        scopes,
        DocumentFetcher(allow_loopback_http=settings.allow_loopback_documents, extra_ca_file=settings.cimd_ca_file),
        unused_days=settings.dcr_unused_days,
        registrations_per_host_per_day=settings.dcr_per_host_per_day,
    )
    return AuthorizationServer(
        issuer=settings.issuer_url,
        resources=settings.oauth_resources,
        signer=KmsSigner(kms, settings.signing_key_ids),
        clients=clients,
        store=store,
        members=MembershipStore(dynamodb, settings.members_table),
        registry=TenantRegistry(dynamodb, settings.registry_table),
        upstream=upstream or oidc_provider(settings, session),
        audit=AuditLog(dynamodb, settings.audit_table, settings.audit_retention_days),
        scopes=scopes,
        tenant_claim=settings.tenant_claim,
        base_domain=settings.base_domain,
        lifetimes=Lifetimes(claim_absolute_seconds=settings.oidc_tenants_grant_days * 86400),
        tenants_claim=tenants_claim(settings),
    )
