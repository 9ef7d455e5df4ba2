"""The OAuth front of the Cognito user pool, on the API's origin (no authorizer on either route).

GET  /.well-known/oauth-authorization-server
    RFC 8414 metadata. Cognito publishes only OIDC discovery, without
    `code_challenge_methods_supported`, and strict MCP clients need both. The endpoints
    are Cognito's; registration is ours. No `client_id_metadata_document_supported`:
    Cognito cannot resolve metadata-document client ids.
POST /register
    RFC 7591 registration of public PKCE clients. Cognito's own open registration has no
    redirect-host allow-list, so this creates the app client itself (CreateUserPoolClient),
    only for https redirect URIs on TENANTRY_DCR_REDIRECT_HOSTS, with exactly the MCP scopes.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FrontSettings", "RegistrationError", "authorization_server_metadata", "handler", "register_client"]

METADATA_ROUTE = "GET /.well-known/oauth-authorization-server"
REGISTER_ROUTE = "POST /register"
MAX_REDIRECT_URIS = 10
_GRANTS = ("authorization_code", "refresh_token")
_CLIENT_NAME_UNSAFE = re.compile(r"[^\w\s+=,.@-]")


class RegistrationError(Exception):
    """An RFC 7591 error: `code` is the `error` value; nothing was created."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class FrontSettings:
    issuer: str  # the API origin: where clients found this document
    cognito_domain: str  # https://<prefix>.auth.<region>.amazoncognito.com
    jwks_uri: str
    user_pool_id: str
    scopes: tuple[str, ...]  # advertised, and the only scopes a registered client gets
    redirect_hosts: frozenset[str]

    @classmethod
    def from_env(cls, env: Any = os.environ) -> FrontSettings:
        return cls(
            issuer=env["TENANTRY_AS_ISSUER"].rstrip("/"),
            cognito_domain=env["TENANTRY_COGNITO_DOMAIN"].rstrip("/"),
            jwks_uri=env["TENANTRY_COGNITO_JWKS_URI"],
            user_pool_id=env["TENANTRY_USER_POOL_ID"],
            scopes=tuple(s for s in env["TENANTRY_SCOPES_SUPPORTED"].split(",") if s),
            redirect_hosts=frozenset(h.lower() for h in env["TENANTRY_DCR_REDIRECT_HOSTS"].split(",") if h),
        )


def authorization_server_metadata(settings: FrontSettings) -> dict[str, Any]:
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{settings.cognito_domain}/oauth2/authorize",
        "token_endpoint": f"{settings.cognito_domain}/oauth2/token",
        "revocation_endpoint": f"{settings.cognito_domain}/oauth2/revoke",
        "registration_endpoint": f"{settings.issuer}/register",
        "jwks_uri": settings.jwks_uri,
        "scopes_supported": list(settings.scopes),
        "response_types_supported": ["code"],
        "grant_types_supported": list(_GRANTS),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    }


def _redirect_uris(raw: Any, hosts: frozenset[str]) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(u, str) for u in raw):
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must be a non-empty list of URLs.")
    if len(raw) > MAX_REDIRECT_URIS:
        raise RegistrationError("invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect URIs.")
    for uri in raw:
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname or parts.fragment or "@" in parts.netloc or len(uri) > 1024:
            raise RegistrationError("invalid_redirect_uri", f"Not an https redirect URI without fragment: {uri!r}")
        if parts.hostname.lower() not in hosts:
            raise RegistrationError(
                "invalid_redirect_uri", f"Redirect host {parts.hostname!r} is not allowed on this server."
            )
    return list(dict.fromkeys(raw))


def _check_metadata(body: dict[str, Any], settings: FrontSettings) -> None:
    grants = body.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not set(grants) <= set(_GRANTS) or "authorization_code" not in grants:
        raise RegistrationError("invalid_client_metadata", "grant_types may be authorization_code and refresh_token.")
    if body.get("response_types", ["code"]) != ["code"]:
        raise RegistrationError("invalid_client_metadata", "response_types must be ['code'].")
    scope = body.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise RegistrationError("invalid_client_metadata", "scope must be a string.")
    # SDK 2.3 sends scope='""' after a 401 with scope="": treat it as no scope (docs/oauth.md).
    unknown = set((scope or "").replace('""', "").split()) - set(settings.scopes)
    if unknown:
        raise RegistrationError("invalid_client_metadata", f"Unknown scope(s): {' '.join(sorted(unknown))}.")


def register_client(body: Any, settings: FrontSettings, cognito: Any) -> dict[str, Any]:
    """Validate, then create a public code+PKCE app client with a managed-login style; the RFC 7591 answer."""
    if not isinstance(body, dict):
        raise RegistrationError("invalid_client_metadata", "The body must be a JSON object.")
    redirect_uris = _redirect_uris(body.get("redirect_uris"), settings.redirect_hosts)
    _check_metadata(body, settings)
    raw_name = body.get("client_name")
    name = _CLIENT_NAME_UNSAFE.sub("-", raw_name.strip())[:128] if isinstance(raw_name, str) else ""
    created = cognito.create_user_pool_client(
        UserPoolId=settings.user_pool_id,
        ClientName=name or "mcp-client",
        GenerateSecret=False,
        CallbackURLs=redirect_uris,
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=list(settings.scopes),
        SupportedIdentityProviders=["COGNITO"],
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        # The tokens carry only the MCP scopes, not aws.cognito.signin.user.admin, so a user cannot
        # change their own attributes (custom:active_tenant among them) with them.
    )["UserPoolClient"]
    client_id = created["ClientId"]
    styled = False
    try:
        # Managed login (v2) shows its pages only for app clients that have a style.
        cognito.create_managed_login_branding(
            UserPoolId=settings.user_pool_id, ClientId=client_id, UseCognitoProvidedValues=True
        )
        styled = True
    finally:
        if not styled:  # a client without a style could not sign anyone in: do not leave it behind
            cognito.delete_user_pool_client(UserPoolId=settings.user_pool_id, ClientId=client_id)
    return {
        "client_id": client_id,
        "client_id_issued_at": int(time.time()),
        "client_name": name or "mcp-client",
        "redirect_uris": redirect_uris,
        "grant_types": list(_GRANTS),
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": " ".join(settings.scopes),
    }


def _response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(payload),
    }


_settings: FrontSettings | None = None
_cognito: Any = None


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    global _settings, _cognito
    if _settings is None:
        _settings = FrontSettings.from_env()
    route = event.get("routeKey")
    if route == METADATA_ROUTE:
        response = _response(200, authorization_server_metadata(_settings))
        response["headers"]["cache-control"] = "public, max-age=300"
        return response
    if route != REGISTER_ROUTE:
        return _response(404, {"message": "Not Found"})
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64

        raw = base64.b64decode(raw).decode("utf-8", "replace")
    try:
        body = json.loads(raw)
    except ValueError:
        return _response(400, {"error": "invalid_client_metadata", "error_description": "The body is not JSON."})
    if _cognito is None:
        import boto3

        _cognito = boto3.client("cognito-idp")
    try:
        return _response(201, register_client(body, _settings, _cognito))
    except RegistrationError as error:
        return _response(400, {"error": error.code, "error_description": error.description})
