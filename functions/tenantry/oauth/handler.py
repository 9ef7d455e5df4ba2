"""Lambda entry point of the authorization server: `tenantry.oauth.handler.handler`.

The app is built here, at import, as the MCP function's is (tenantry/mcp_server/handler.py):
Lambda runs this in its init phase, so the first request only serves itself, and a
misconfigured deployment fails at init, naming the setting (OAuthSettings.from_env) rather
than answering its first caller with a 502. Building does no network call: the signing key's
public key, the upstream provider's discovery document and its client secret are fetched on
first use. Init runs without the cyclic garbage collector and freezes what it built
(tenantry/initphase.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenantry.initphase import init_phase

if TYPE_CHECKING:
    from tenantry.oauth.app import OAuthLambdaApp

__all__ = ["app", "handler"]


def _init() -> OAuthLambdaApp:
    # Imported here, inside the init phase, so the import work runs without the collector too.
    from tenantry.oauth.app import OAuthLambdaApp, RateLimits
    from tenantry.oauth.services import build_server
    from tenantry.settings import OAuthSettings

    settings = OAuthSettings.from_env()
    limits = RateLimits(settings.register_per_minute, settings.token_per_minute, settings.authorize_per_minute)
    return OAuthLambdaApp(build_server(settings), limits)


def _register(built: OAuthLambdaApp) -> OAuthLambdaApp:
    # SnapStart (infra/constructs/auth.py): a restore is what answers API Gateway's JWKS fetch on a
    # new container, well inside the authorizer's 1,500 ms, instead of ~1.4 s of imports.
    from tenantry.snapstart import register_hooks

    register_hooks(built)
    return built


with init_phase():
    app = _register(_init())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = app(event, context)
    return result
