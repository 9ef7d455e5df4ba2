"""`tenantry local` and `tenantry token`: the laptop platform's commands (registered by tenantry_admin.cli)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _cmd_local(args: argparse.Namespace) -> int:
    from tenantry_local.platform import running_platform

    if args.cimd_ca_file is not None and not Path(args.cimd_ca_file).is_file():
        print(f"tenantry local: --cimd-ca-file {args.cimd_ca_file}: no such file (a PEM CA bundle)", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_refusal(message: str) -> None:
        print(f"[gateway] {message}", flush=True)

    from tenantry.observability import add_metric_listener

    # Deployed, a CloudWatch alarm on this metric pages someone; locally it is printed.
    alerting = {"CrossTenantDenied", "Refused"}
    add_metric_listener(lambda name, _: print(f"[alert] {name}", flush=True) if name in alerting else None)

    with running_platform(
        host=args.host,
        port=args.port,
        state_dir=Path(args.state_dir),
        containers=args.containers,
        on_refusal=on_refusal,
        redirect_hosts=args.redirect_host,
        cimd_ca_file=args.cimd_ca_file,
        allowed_origins=args.allow_origin,
        advertise_resource_metadata=args.advertise_resource_metadata,
        tenants_claim=args.tenants_claim,
    ) as platform:
        info = platform.describe()
        print(f"Tenantry local MCP server: {info['url']}")
        print(f"Issuer: {info['issuer']}   (JWKS at {platform.base_url}/.well-known/jwks.json)")
        if platform.oauth is not None:
            hosts = ", ".join(sorted(platform.oauth.clients.policy.allowed_hosts)) or "none"
            print(
                f"OAuth (the deployed authorization server): {platform.base_url}/.well-known/oauth-authorization-server"
            )
            print(f"  authorize {platform.base_url}/authorize   token {platform.base_url}/token")
            print(f"  register  {platform.base_url}/register   (redirect hosts: {hosts}, plus loopback)")
            source = (
                f"the ID token's '{args.tenants_claim}' claim (TENANTRY_OIDC_TENANTS_CLAIM)"
                if args.tenants_claim
                else "`tenantry members list`"
            )
            print(f"  sign-in: the dev sign-in page (demo users); tenants from {source}.")
            print("  Subdomains: http://<slug>.localhost:<port>/mcp")
        print("Demo tenants and bearer tokens (valid 12 h; `tenantry token --tenant ID` for more):")
        for tenant_id, tenant in info["tenants"].items():
            print(f"\n  {tenant_id}  ({tenant['display_name']}, plan {tenant['plan']})")
            print(f"  Authorization: Bearer {tenant['token']}")
        print(f"\nWritten to {Path(args.state_dir) / 'local.json'}. Ctrl-C stops the server.", flush=True)
        # Ctrl-C and SIGTERM both stop cleanly; SIGINT is set explicitly because a shell that
        # starts us in the background hands us SIGINT ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("\nStopping.", flush=True)
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from tenantry.oauth.signing import KmsSigner
    from tenantry_local.aws import local_client
    from tenantry_local.issuer import DevIssuer

    described = Path(args.state_dir) / "local.json"
    info: dict[str, Any] = json.loads(described.read_text()) if described.exists() else {}
    oauth = info.get("oauth_environment") or {}
    key_ids = [k for k in str(oauth.get("TENANTRY_SIGNING_KEY_IDS", "")).split(",") if k]
    if not info.get("aws_endpoint") or not key_ids:
        # Tokens are signed by the running server's KMS key (moto, in memory): no server, no key.
        print("tenantry token: no running local server found; start `./dev local` first", file=sys.stderr)
        return 2
    if not args.any_tenant:
        problem = _unknown_tenant(info, args.tenant)
        if problem:
            print(f"tenantry token: {problem}", file=sys.stderr)
            return 2
    signer = KmsSigner(local_client("kms", info["aws_endpoint"]), key_ids)
    issuer = DevIssuer(info["issuer"], info["url"], signer)
    print(issuer.mint(args.tenant, subject=args.subject, ttl_seconds=args.ttl))
    return 0


def _unknown_tenant(info: dict[str, Any], tenant_id: str) -> str | None:
    """Why a token for `tenant_id` would be refused by the running local server, or None."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tenantry.tenancy.registry import TenantRegistry
    from tenantry_local.aws import local_client

    endpoint, environment = info.get("aws_endpoint"), info.get("environment") or {}
    table = environment.get("TENANTRY_REGISTRY_TABLE")
    if not endpoint or not table:
        return "no running local server found (start `./dev local`), or pass --any-tenant to mint anyway"
    try:
        record = TenantRegistry(local_client("dynamodb", endpoint), table).load(tenant_id)
    except (BotoCoreError, ClientError):
        return f"the local server is not answering at {endpoint}; start `./dev local` (or pass --any-tenant)"
    if record is None:
        return (
            f"no tenant '{tenant_id}' in the local registry; create it with `./dev tenantry tenants create` "
            "(or pass --any-tenant to mint anyway)"
        )
    if record.status != "active":
        print(
            f"tenantry token: note: {tenant_id} is {record.status}; the server will refuse this token", file=sys.stderr
        )
    return None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `local` and `token` to the `tenantry` parser."""
    local = sub.add_parser("local", help="run the local MCP server (API Gateway + Lambda + AWS emulated)")
    local.add_argument("--port", type=int, default=8787, help="port to listen on (default: 8787)")
    local.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    local.add_argument("--containers", type=int, default=2, help="warm Lambda containers to emulate (default: 2)")
    local.add_argument(
        "--redirect-host",
        action="append",
        metavar="HOST",
        help="host allowed in OAuth redirect URIs at registration; repeat for more (default: chatgpt.com)",
    )
    local.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="browser Origin /mcp serves (TENANTRY_ALLOWED_ORIGINS); repeat for more (default: the MCP "
        "Inspector's, http://localhost:6274 and http://127.0.0.1:6274; requests without Origin always pass)",
    )
    local.add_argument(
        "--cimd-ca-file",
        metavar="PEM",
        help="CA certificate(s) the authorization server trusts, besides the system store, for https client "
        "metadata documents a local client serves (e.g. with a self-signed certificate)",
    )
    local.add_argument(
        "--advertise-resource-metadata",
        action="store_true",
        help="local only: name the RFC 9728 metadata URL in 401 challenges (the deployed JWT authorizer "
        "never does; clients find it at the well-known path)",
    )
    local.add_argument(
        "--tenants-claim",
        metavar="CLAIM",
        help="take each user's tenants from this claim of the dev sign-in's ID token, as "
        "TENANTRY_OIDC_TENANTS_CLAIM does deployed (docs/oauth.md), instead of the members table",
    )
    local.set_defaults(func=_cmd_local)

    token = sub.add_parser(
        "token",
        help="mint a dev bearer token for a tenant of the running local server",
        description="Mint a bearer token signed by the running local server's signing key (KMS in moto). "
        "The tenant must exist in the running "
        "local server's registry (demo tenants and any created with `tenantry tenants create`).",
    )
    token.add_argument("--tenant", required=True, help="tenant id, e.g. ironworks-gym")
    token.add_argument("--subject", default="dev-user", help="the token's sub claim (default: dev-user)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default: 3600)")
    token.add_argument(
        "--any-tenant",
        action="store_true",
        help="mint without asking the local registry (e.g. to test refusals of unknown tenants)",
    )
    token.set_defaults(func=_cmd_token)
