"""Everything `tenantry local` runs, assembled in one place (also used by the tests)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from tenantry.dal.members import MembershipStore
from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry.oauth.app import OAuthLambdaApp, RateLimits
from tenantry.oauth.server import AuthorizationServer
from tenantry.oauth.services import build_server
from tenantry.routes import API_ROUTES
from tenantry.settings import OAuthSettings, Settings
from tenantry_local.authorizer import JwtAuthorizer
from tenantry_local.aws import create_bucket, create_secrets_key, create_signing_key, create_tables, embedded_aws
from tenantry_local.emulator import Container, Emulator, FunctionContainer, GatewayLimits
from tenantry_local.hosts import HostPolicy
from tenantry_local.issuer import DevIssuer
from tenantry_local.jwks import HttpKeySet
from tenantry_local.seed import DEMO_TENANTS, seed
from tenantry_local.signin import DEMO_USERS, SIGN_IN_PATH, DevIdentityProvider
from tenantry_local.throttle import RouteThrottles

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "INSPECTOR_ORIGINS",
    "LocalPlatform",
    "base_url_for",
    "running_platform",
]

DEFAULT_PORT = 8787
# The MCP Inspector's web UI (`npx @modelcontextprotocol/inspector` serves it on port 6274): its
# browser calls /mcp directly in its "Direct" connection mode, with this Origin.
INSPECTOR_ORIGINS = ("http://localhost:6274", "http://127.0.0.1:6274")
MOTO_ACCOUNT = "123456789012"
DEFAULT_STATE_DIR = Path(".tenantry")


def base_url_for(host: str, port: int) -> str:
    return f"http://{host}:{port}"


@dataclass
class LocalPlatform:
    base_url: str
    issuer: DevIssuer
    settings: Settings
    emulator: Emulator
    services: Services
    # Where the embedded moto listens: `tenantry tenants ...` finds it in local.json.
    aws_endpoint: str = field(default="", kw_only=True)
    # The authorization server (the deployed code, in its own emulated Lambda) and its settings.
    oauth: AuthorizationServer | None = None
    oauth_settings: OAuthSettings | None = None

    @property
    def mcp_url(self) -> str:
        return self.base_url + "/mcp"

    def token(self, tenant_id: str | None, **kwargs: Any) -> str:
        return self.issuer.mint(tenant_id, tenant_claim=self.settings.tenant_claim, **kwargs)

    def environment(self) -> dict[str, str]:
        """The TENANTRY_* environment a deployed function would get for these settings."""
        return _environment_of(self.settings)

    def describe(self) -> dict[str, Any]:
        """The document written to .tenantry/local.json."""
        return {
            "url": self.mcp_url,
            "issuer": self.issuer.issuer,
            "aws_endpoint": self.aws_endpoint,
            "environment": self.environment(),
            "oauth_environment": _environment_of(self.oauth_settings) if self.oauth_settings else {},
            "tenants": {
                demo.record.tenant_id: {
                    "token": self.token(demo.record.tenant_id, subject=f"owner@{demo.record.slug}"),
                    "plan": demo.record.plan,
                    "display_name": demo.record.display_name,
                }
                for demo in DEMO_TENANTS
            },
        }


def _environment_of(settings: Settings | OAuthSettings) -> dict[str, str]:
    env = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        # The spelling from_env parses back: lists comma-separated, booleans lower case.
        if isinstance(value, list):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        env["TENANTRY_" + name.upper()] = text
    return env


def _oauth_settings_for(
    base_url: str,
    settings: Settings,
    signing_key_arn: str,
    cimd_ca_file: str | None = None,
    tenants_claim: str | None = None,
) -> OAuthSettings:
    return OAuthSettings(
        issuer_url=base_url,
        oauth_resources=[settings.resource_url],
        oauth_table="tenantry-oauth",
        members_table="tenantry-members",
        registry_table=settings.registry_table,
        audit_table=settings.audit_table,
        signing_key_ids=[signing_key_arn],
        tenant_claim=settings.tenant_claim,
        scopes_supported=settings.scopes_supported,
        # Local MCP clients and tests serve their metadata documents on 127.0.0.1 over http.
        allow_loopback_documents=True,
        # MCP SDKs send a client_id URL only when it is https: a local client serving its document
        # with a self-signed certificate names its CA here (refused unless the switch above is on).
        cimd_ca_file=cimd_ca_file,
        # The MCP function's tenant subdomains: `http://<slug>.localhost:<port>/mcp` is a resource too.
        base_domain=settings.base_domain,
        # Generous: the test suite signs in many times from one address.
        register_per_minute=1000,
        token_per_minute=1000,
        authorize_per_minute=1000,
        oidc_tenants_claim=tenants_claim,
    )


def _quiet_libraries() -> None:
    # moto's werkzeug logs every AWS call; botocore announces where it found credentials.
    for name in ("werkzeug", "botocore", "boto3", "urllib3", "mcp", "httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _settings_for(base_url: str, secrets_key_arn: str, allowed_origins: list[str]) -> Settings:
    return Settings(
        registry_table="tenantry-tenants",
        data_table="tenantry-data",
        usage_table="tenantry-usage",
        audit_table="tenantry-audit",
        # Two pooled cells locally, so the cell placement is exercised too.
        cell_tables=["tenantry-data", "tenantry-data-cell-1"],
        silo_table_prefix="tenantry-silo-",
        # moto maps assumed-role credentials to the role's account: use moto's default one.
        tenant_role_arn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/tenantry-tenant-access",
        secrets_key_arn=secrets_key_arn,
        branding_bucket="tenantry-branding",
        resource_url=base_url + "/mcp",
        authorization_servers=[base_url],
        allow_loopback_webhooks=True,
        # http://<slug>.localhost:<port>/mcp confirms the token's tenant (*.localhost is loopback).
        base_domain="localhost",
        allowed_origins=allowed_origins,
    )


def _tables_for(settings: Settings) -> list[tuple[str, str]]:
    tables = [("registry", settings.registry_table), ("usage", settings.usage_table), ("audit", settings.audit_table)]
    tables += [("data", name) for name in settings.cells()]
    # Silo tables are created at onboarding; the demo's silo tenant gets its own here.
    tables += [
        ("data", settings.silo_table_prefix + demo.record.tenant_id)
        for demo in DEMO_TENANTS
        if demo.record.placement.mode == "silo"
    ]
    return tables


@contextmanager
def running_platform(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    state_dir: Path | None = DEFAULT_STATE_DIR,
    containers: int = 2,
    log_level: str = "warning",
    on_refusal: Any = None,
    redirect_hosts: list[str] | None = None,
    cimd_ca_file: str | None = None,
    allowed_origins: list[str] | None = None,
    *,
    advertise_resource_metadata: bool = False,
    throttle: bool = True,
    gateway_limits: GatewayLimits | None = None,
    tenants_claim: str | None = None,
) -> Iterator[LocalPlatform]:
    """Start moto, tables, seed data, the emulator and an HTTP server; stop them on exit.

    port=0 picks a free port. With state_dir=None nothing is written to disk (tests).
    cimd_ca_file: a PEM CA the authorization server trusts for https client metadata documents.
    allowed_origins: browser origins /mcp serves (TENANTRY_ALLOWED_ORIGINS); default the Inspector's.
    advertise_resource_metadata: name the RFC 9728 metadata in 401 challenges (local only).
    throttle: the stage's and the routes' throttles, as deployed (benchmarks turn them off).
    gateway_limits: Lambda's and API Gateway's payload, timeout and header limits (tests shrink them).
    tenants_claim: memberships from this claim of the dev sign-in's ID token (TENANTRY_OIDC_TENANTS_CLAIM).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"tenantry local: cannot listen on {host}:{port} ({exc.strerror}); try --port") from None
    bound_port = sock.getsockname()[1]
    _quiet_libraries()
    # EMF metric documents on stdout help nobody locally; alerts are printed from metric listeners.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    base_url = base_url_for(host, bound_port)
    with embedded_aws() as aws_endpoint:
        origins = list(INSPECTOR_ORIGINS) if allowed_origins is None else allowed_origins
        settings = _settings_for(base_url, create_secrets_key("alias/tenantry-secrets"), origins)
        create_tables(_tables_for(settings))
        create_bucket(settings.branding_bucket)
        oauth_settings = _oauth_settings_for(
            base_url, settings, create_signing_key("alias/tenantry-oauth-signing"), cimd_ca_file, tenants_claim
        )
        if redirect_hosts is not None:
            oauth_settings.dcr_redirect_hosts = [h.lower() for h in redirect_hosts]
        create_tables([("oauth", oauth_settings.oauth_table), ("members", oauth_settings.members_table)])
        apps = [LambdaApp(Services.create(settings)) for _ in range(max(1, containers))]
        services = apps[0].services
        seed(services.registry, services.customer_store, services.resolver.table_of)
        sign_in = DevIdentityProvider(base_url, tenants_claim=oauth_settings.oidc_tenants_claim)
        limits = RateLimits(
            oauth_settings.register_per_minute, oauth_settings.token_per_minute, oauth_settings.authorize_per_minute
        )
        oauth_app = OAuthLambdaApp(build_server(oauth_settings, upstream=sign_in), limits)
        oauth = oauth_app.server
        members = MembershipStore(services.dynamodb, oauth_settings.members_table)
        for user in DEMO_USERS:
            for tenant_id in user.tenants:
                members.add(user.email, tenant_id, added_by="seed")
        issuer = DevIssuer(base_url, settings.resource_url, oauth.signer)
        # As deployed: issuer = this authorization server, audience = the MCP URL, keys read from its
        # discovery document and JWKS over HTTP, with API Gateway's timeouts and cache.
        authorizer = JwtAuthorizer(issuer=oauth.url, audiences=(settings.resource_url,), keys=HttpKeySet(oauth.url))
        emulator = Emulator(
            authorizer,
            [Container(app) for app in apps],
            resource_metadata_url=base_url + "/.well-known/oauth-protected-resource/mcp",
            on_refusal=on_refusal,
            local_apps={SIGN_IN_PATH: sign_in.app()},
            oauth=FunctionContainer(oauth_app),
            limits=gateway_limits,
            throttles=RouteThrottles(API_ROUTES) if throttle else None,
            hosts=HostPolicy(base_url, settings.base_domain or ""),
            advertise_resource_metadata=advertise_resource_metadata,
        )
        platform = LocalPlatform(
            base_url,
            issuer,
            settings,
            emulator,
            services,
            oauth=oauth,
            oauth_settings=oauth_settings,
            aws_endpoint=aws_endpoint,
        )
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            (state_dir / "local.json").write_text(json.dumps(platform.describe(), indent=2) + "\n")
        server = uvicorn.Server(uvicorn.Config(emulator, log_level=log_level, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the local HTTP server failed to start")
                threading.Event().wait(0.02)
            yield platform
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            for container in emulator.containers:
                container.executor.shutdown(wait=False, cancel_futures=True)
            if emulator.oauth is not None:
                emulator.oauth.executor.shutdown(wait=False, cancel_futures=True)
            sock.close()
