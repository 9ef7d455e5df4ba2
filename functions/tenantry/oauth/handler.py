"""Lambda entry point of the authorization server: `tenantry.oauth.handler.handler`."""

from __future__ import annotations

from typing import Any

_app: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app
    if _app is None:  # once per container
        from tenantry.oauth.app import OAuthLambdaApp, RateLimits
        from tenantry.oauth.services import build_server
        from tenantry.settings import OAuthSettings

        settings = OAuthSettings.from_env()
        _app = OAuthLambdaApp(
            build_server(settings), RateLimits(settings.register_per_minute, settings.token_per_minute)
        )
    result: dict[str, Any] = _app(event, context)
    return result
