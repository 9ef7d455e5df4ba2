"""Runtime settings, read once per container from the environment."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Self

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from tenantry.lazymodels import BUILT_WHEN_USED

__all__ = ["OAuthSettings", "Settings", "SettingsError", "get_settings"]

_PREFIX = "TENANTRY_"
_HTTPS_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:\d{1,5})?")
# A browser's Origin header: scheme, host and port, nothing else (http for local tools like the Inspector).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")


class SettingsError(Exception):
    """The environment does not describe a runnable deployment."""


class _FromEnv(BaseModel):
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            value = env.get(_PREFIX + name.upper())
            if value is None:
                continue
            if field.annotation == list[str]:
                raw[name] = [part.strip() for part in value.split(",") if part.strip()]
            else:
                raw[name] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_PREFIX}{str(err['loc'][0]).upper()}: "
                + ("required, not set" if err["type"] == "missing" else err["msg"])
                for err in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from exc


class Settings(_FromEnv):
    """What the function needs to know about its deployment.

    Every field maps to an environment variable `TENANTRY_<FIELD>` (upper case).
    """

    # Deploy-critical: no default, so a function deployed without them fails at init naming the
    # variable, instead of acting on a name that may belong to something else.
    registry_table: str
    data_table: str
    usage_table: str
    audit_table: str
    # The role tenant data is reached through, assumed with a tenant_id session tag.
    tenant_role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/")
    secrets_key_arn: str = Field(pattern=r"^arn:aws[a-z-]*:kms:")
    branding_bucket: str
    # Public URL of the MCP endpoint; it is also the audience tokens must carry.
    resource_url: str = Field(pattern=r"^https?://")

    # The JWT claim that carries the tenant id. API Gateway passes claims through
    # as strings, so the claim must be a string claim.
    tenant_claim: str = "tenant_id"
    # Optional base domain for per-tenant subdomains (acme.mcp.example.com): when
    # set, a Host of `<slug>.<base_domain>` must name the token's tenant.
    base_domain: str | None = None
    authorization_servers: list[str] = Field(default_factory=list)
    scopes_supported: list[str] = Field(default_factory=lambda: ["mcp:tools"])
    # Role chaining (a Lambda role assuming the tenant role) caps sessions at one hour.
    # Longer sessions mean fewer AssumeRoles (each ~25 ms on the caller's clock): at 1,000 tenants on 4
    # containers, 15-minute sessions re-assume on ~70% of calls, one-hour sessions on ~30% (./dev cost).
    tenant_credentials_seconds: int = Field(default=3600, ge=900, le=3600)
    tenant_credentials_max: int = Field(default=512, ge=1, le=100_000)
    # Pooled cell tables, cell 0 first; empty means the data table is the only cell.
    cell_tables: list[str] = Field(default_factory=list)
    silo_table_prefix: str = "tenantry-silo-"
    # Plans that onboarding with `--placement auto` puts in a silo table; empty turns silos off.
    silo_plans: list[str] = Field(default_factory=lambda: ["business"])
    audit_retention_days: int = Field(default=400, ge=1, le=3650)
    # Locally a webhook receiver runs on 127.0.0.1 over http; deployed, only https.
    allow_loopback_webhooks: bool = False
    # The premium function (reserved concurrency) serves only these plans; empty = every plan.
    serve_plans: list[str] = Field(default_factory=list)
    # Share of successful tool calls logged (failures and refusals always are); 1 logs every call.
    success_log_sample: float = Field(default=0.05, ge=0, le=1)
    # X-Ray through powertools Tracer; off by default (its import costs ~0.3 s of cold start).
    tracing: bool = False
    # A tenant's record (plan, features, quotas, branding, placement) is cached this long per
    # container. Changes are not bound by it: every change stamps the tenant's usage items, so
    # tools/call meets it in the admission write; other methods re-read a record older than
    # status_cache_seconds, and a cached record that is not active is always re-read. The TTL is
    # the safety net for a stamp that failed (infra/config.py sets it deployed).
    registry_cache_seconds: float = Field(default=3600.0, ge=0, le=3600)
    registry_cache_max: int = Field(default=10_000, ge=1, le=1_000_000)
    status_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # How long a request waits for the MCP session manager to start before answering 503.
    runner_start_seconds: float = Field(default=5.0, gt=0, le=20)
    # At most 5 MiB: Lambda refuses a synchronous event over 6 MB (the body plus headers and
    # context), so a larger limit could never be reached on AWS.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, le=5 * 1024 * 1024)
    page_size_max: int = Field(default=100, gt=0, le=1000)
    # Origins the customer widget may load tenant logos from (its MCP Apps CSP resourceDomains);
    # empty means no external images at all, and widgets show a monogram (docs/chatgpt.md).
    widget_image_origins: list[str] = Field(default_factory=list)

    @field_validator("widget_image_origins")
    @classmethod
    def _origins_only(cls, origins: list[str]) -> list[str]:
        bad = [origin for origin in origins if not _HTTPS_ORIGIN.fullmatch(origin)]
        if bad:
            raise ValueError(f"each entry must be an https origin such as https://cdn.example.com, not {bad[0]!r}")
        return origins

    # Browser origins whose requests /mcp serves (the transport spec's Origin check). Empty: any
    # request with an Origin header is refused with 403; requests without one (ChatGPT's servers,
    # SDK clients, curl) are served. Deployed from the `allowed_origins` CDK context.
    allowed_origins: list[str] = Field(default_factory=list)

    @field_validator("allowed_origins")
    @classmethod
    def _browser_origins(cls, origins: list[str]) -> list[str]:
        bad = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
        if bad:
            raise ValueError(f"each entry must be an origin such as https://app.example.com (no path), not {bad[0]!r}")
        # Scheme and host compare case-insensitively (RFC 6454); browsers send them lower case.
        return [origin.lower() for origin in origins]

    def cells(self) -> list[str]:
        return self.cell_tables or [self.data_table]


class OAuthSettings(_FromEnv):
    """What the authorization server function needs (TENANTRY_* like Settings)."""

    model_config = BUILT_WHEN_USED

    # Deploy-critical: the issuer (this server's origin), its tables and signing key(s).
    issuer_url: str = Field(pattern=r"^https?://[^/?#]+$")
    # The MCP URL first; the premium URL, when deployed, is a second resource with its own audience.
    oauth_resources: list[str] = Field(min_length=1)
    oauth_table: str
    members_table: str
    registry_table: str
    audit_table: str
    # KMS key ids or ARNs (RSA, SIGN_VERIFY); the first signs, the rest (the staged next key, the
    # previous key) are verification-only; all are published in the JWKS (oauth/signing.py).
    signing_key_ids: list[str] = Field(min_length=1)
    tenant_claim: str = "tenant_id"
    scopes_supported: list[str] = Field(default_factory=lambda: ["mcp:tools"])
    dcr_redirect_hosts: list[str] = Field(default_factory=lambda: ["chatgpt.com"])
    dcr_unused_days: int = Field(default=30, ge=1, le=365)
    dcr_per_host_per_day: int = Field(default=500, ge=1, le=100_000)
    register_per_minute: int = Field(default=10, ge=1, le=10_000)
    token_per_minute: int = Field(default=60, ge=1, le=100_000)
    # Sign-ins started per source address: each may fetch a client metadata document.
    authorize_per_minute: int = Field(default=60, ge=1, le=100_000)
    # Only `./dev local` sets this: client metadata documents over http from loopback.
    allow_loopback_documents: bool = False
    # `./dev local` only: a PEM CA bundle trusted, besides the system store, for https client
    # metadata documents (a local client serving its document with a self-signed certificate).
    # Declared after allow_loopback_documents: its validator reads that field.
    cimd_ca_file: str | None = None
    audit_retention_days: int = Field(default=400, ge=1, le=3650)
    # Tenant subdomains (`<slug>.<base_domain>`), as the MCP function's TENANTRY_BASE_DOMAIN: a
    # resource on such a host is accepted for that tenant only (RFC 9728 through a tenant host).
    base_domain: str | None = None
    # The upstream OpenID Connect provider users sign in with (Cognito by default, deployed).
    oidc_issuer: str | None = Field(default=None, pattern=r"^https://")
    oidc_client_id: str | None = None
    oidc_client_secret_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:secretsmanager:")
    oidc_user_claim: str = "email"
    # Memberships from the identity provider (docs/oauth.md): the claim of the verified ID token that
    # names the user's tenant ids (`org_id`, `custom:tenants`, `groups`, an Auth0 namespaced URL).
    # Unset: the members table decides. Set: the claim alone decides and the table is not read.
    oidc_tenants_claim: str | None = Field(default=None, pattern=r"^[!-~]{1,256}$")
    # Only the claim's values starting with this count, stripped of it (Okta groups `tenantry-<id>`).
    # No comma or space: the claim's values are split on them. Declared after the claim: its validator reads it.
    oidc_tenants_prefix: str = Field(default="", pattern=r"^[^\s,]{0,64}$")
    # The claim cannot be read again without the user, so a sign-in it allowed ends after this many
    # days (its refreshes re-check only that the tenant is active); members-table sign-ins last 90.
    oidc_tenants_grant_days: int = Field(default=7, ge=1, le=90)

    @field_validator("oidc_tenants_claim", mode="before")
    @classmethod
    def _unset_when_empty(cls, claim: object) -> object:
        # An empty variable (a template that always sets it) means "not configured".
        return None if isinstance(claim, str) and not claim.strip() else claim

    @field_validator("oidc_tenants_prefix")
    @classmethod
    def _prefix_needs_claim(cls, prefix: str, info: ValidationInfo) -> str:
        if prefix and not info.data.get("oidc_tenants_claim"):
            raise ValueError("a prefix filters the values of TENANTRY_OIDC_TENANTS_CLAIM, which is not set")
        return prefix

    @field_validator("signing_key_ids")
    @classmethod
    def _distinct_keys(cls, key_ids: list[str]) -> list[str]:
        # The first signs and the rest are published (oauth/signing.py); one key twice would publish
        # one kid twice, and a signing key listed again as "previous" hides a mistake in the order.
        repeated = sorted({key_id for key_id in key_ids if key_ids.count(key_id) > 1})
        if repeated:
            raise ValueError(f"each key may be listed once; listed more than once: {', '.join(repeated)}")
        return key_ids

    @field_validator("cimd_ca_file")
    @classmethod
    def _local_ca_only(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is None:
            return None
        # Deployed, documents are verified against the system trust store only: an extra CA
        # there would let whoever holds its key impersonate any client's document host.
        if not info.data.get("allow_loopback_documents"):
            raise ValueError(
                "an extra CA for client metadata documents is for `./dev local` only; it is refused unless "
                "TENANTRY_ALLOW_LOOPBACK_DOCUMENTS is true"
            )
        if not os.path.isfile(path):
            raise ValueError(f"{path!r} is not a readable file (a PEM CA bundle is expected)")
        return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
