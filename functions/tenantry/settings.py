"""Runtime settings, read once per container from the environment."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError

__all__ = ["Settings", "SettingsError", "get_settings"]

_PREFIX = "TENANTRY_"


class SettingsError(Exception):
    """The environment does not describe a runnable deployment."""


class Settings(BaseModel):
    """What the function needs to know about its deployment.

    Every field maps to an environment variable `TENANTRY_<FIELD>` (upper case).
    """

    registry_table: str = "tenantry-tenants"
    data_table: str = "tenantry-data"
    # The JWT claim that carries the tenant id. API Gateway passes claims through
    # as strings, so the claim must be a string claim.
    tenant_claim: str = "tenant_id"
    # Optional base domain for per-tenant subdomains (acme.mcp.example.com): when
    # set, a Host of `<slug>.<base_domain>` must name the token's tenant.
    base_domain: str | None = None
    # Public URL of the MCP endpoint; it is also the audience tokens must carry.
    resource_url: str | None = None
    authorization_servers: list[str] = Field(default_factory=list)
    scopes_supported: list[str] = Field(default_factory=lambda: ["mcp:tools"])
    usage_table: str = "tenantry-usage"
    audit_table: str = "tenantry-audit"
    # The role tenant data is reached through, assumed with a tenant_id session tag.
    tenant_role_arn: str = "arn:aws:iam::000000000000:role/tenantry-tenant-access"
    tenant_credentials_seconds: int = Field(default=900, ge=900, le=43200)
    tenant_credentials_max: int = Field(default=512, ge=1)
    # Pooled cell tables, cell 0 first; empty means the data table is the only cell.
    cell_tables: list[str] = Field(default_factory=list)
    silo_table_prefix: str = "tenantry-silo-"
    secrets_key_arn: str | None = None
    branding_bucket: str = "tenantry-branding"
    audit_retention_days: int = Field(default=400, ge=1)
    # Locally a webhook receiver runs on 127.0.0.1 over http; deployed, only https.
    allow_loopback_webhooks: bool = False
    # The premium function (reserved concurrency) serves only these plans; empty = every plan.
    serve_plans: list[str] = Field(default_factory=list)
    # X-Ray through powertools Tracer; off by default (its import costs ~0.3 s of cold start).
    tracing: bool = False
    registry_cache_seconds: float = Field(default=300.0, ge=0)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    page_size_max: int = Field(default=100, gt=0, le=1000)

    def cells(self) -> list[str]:
        return self.cell_tables or [self.data_table]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
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
                f"{_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
