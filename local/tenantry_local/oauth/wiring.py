"""Assemble the dev authorization server for the local platform, with the demo directory."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp

from tenantry_local.issuer import DevIssuer
from tenantry_local.oauth.app import oauth_app
from tenantry_local.oauth.clients import ClientRegistry
from tenantry_local.oauth.directory import DEMO_USERS, Directory
from tenantry_local.oauth.policy import DEFAULT_REDIRECT_HOSTS, RedirectPolicy
from tenantry_local.oauth.server import AS_PATHS, AuthorizationServer
from tenantry_local.seed import DEMO_TENANTS

__all__ = ["demo_authorization_server"]


def demo_authorization_server(
    issuer: DevIssuer,
    resource: str,
    tenant_claim: str = "tenant_id",
    redirect_hosts: Iterable[str] | None = None,
    scopes: tuple[str, ...] = ("mcp:tools",),
) -> tuple[AuthorizationServer, dict[str, ASGIApp]]:
    """The server and the emulator routes (path -> ASGI app) it answers on."""
    hosts = frozenset(h.lower() for h in redirect_hosts) if redirect_hosts is not None else DEFAULT_REDIRECT_HOSTS
    names = {demo.record.tenant_id: demo.record.display_name for demo in DEMO_TENANTS}
    server = AuthorizationServer(
        issuer=issuer,
        resource=resource,
        directory=Directory(DEMO_USERS, names),
        clients=ClientRegistry(RedirectPolicy(allowed_hosts=hosts), scopes),
        scopes=scopes,
        tenant_claim=tenant_claim,
    )
    app = oauth_app(server)
    return server, dict.fromkeys(sorted(AS_PATHS), app)
