"""HTTP for the dev authorization server (Starlette), served by the emulator on the MCP origin."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tenantry_local.oauth.errors import OAuthError
from tenantry_local.oauth.pages import error_page, sign_in_page
from tenantry_local.oauth.server import AS_METADATA_PATH, OIDC_DISCOVERY_PATH, AuthorizationServer

__all__ = ["oauth_app"]

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_PAGE_HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
_MAX_FORM_BYTES = 64 * 1024


def _json_error(error: OAuthError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=_NO_STORE)


async def _form(request: Request) -> list[tuple[str, str]] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return None
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def oauth_app(server: AuthorizationServer) -> Starlette:
    async def as_metadata(request: Request) -> Response:
        return JSONResponse(server.metadata())

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(server.openid_configuration())

    async def register(request: Request) -> Response:
        try:
            metadata = json.loads(await request.body())
        except ValueError:
            return _json_error(OAuthError("invalid_client_metadata", "the request body must be a JSON object"))
        try:
            return JSONResponse(server.clients.register(metadata), status_code=201, headers=_NO_STORE)
        except OAuthError as exc:
            return _json_error(exc)

    async def authorize(request: Request) -> Response:
        if request.method == "POST":
            form = await _form(request)
            if form is None:
                return _page_error(OAuthError("invalid_request", "the sign-in form must be sent url-encoded"))
            params = form
        else:
            params = list(request.query_params.multi_items())
        try:
            pending = await server.authorize_request(params)
            if request.method == "POST":
                decision = dict(params).get("decision", "deny")
                if decision == "deny":
                    raise OAuthError(
                        "access_denied",
                        "the user denied access",
                        redirect_uri=pending.redirect_uri,
                        state=pending.state,
                    )
                email, _, tenant_id = decision.partition("|")
                return RedirectResponse(server.approve(pending, email, tenant_id or None), status_code=302)
            automatic = server.auto_decision(pending)
            if automatic is not None:
                return RedirectResponse(automatic, status_code=302)
            return HTMLResponse(sign_in_page(pending, server.directory), headers=_PAGE_HEADERS)
        except OAuthError as exc:
            if exc.redirect_uri is None:
                return _page_error(exc)
            return RedirectResponse(server.error_redirect(exc), status_code=302)

    async def token(request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return _json_error(
                OAuthError("invalid_request", "the token request must be application/x-www-form-urlencoded")
            )
        try:
            return JSONResponse(await server.token(form), headers=_NO_STORE)
        except OAuthError as exc:
            return _json_error(exc)

    def _page_error(error: OAuthError) -> Response:
        return HTMLResponse(error_page(error), status_code=error.status, headers=_PAGE_HEADERS)

    return Starlette(
        routes=[
            Route(AS_METADATA_PATH, as_metadata, methods=["GET"]),
            Route(OIDC_DISCOVERY_PATH, openid_configuration, methods=["GET"]),
            Route("/register", register, methods=["POST"]),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )
