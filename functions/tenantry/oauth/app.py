"""HTTP for the authorization server (Starlette), run by Lambda behind the HTTP API through Mangum.

`./dev local` runs this same app in an emulated Lambda container; only the identity
provider behind `/authorize` differs (the dev sign-in page instead of Cognito or another
OIDC provider).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tenantry.errors import OAuthError
from tenantry.oauth.pages import consent_page, content_security_policy, error_page, form_action_source
from tenantry.oauth.server import AS_METADATA_PATH, JWKS_PATH, OIDC_DISCOVERY_PATH, AuthorizationServer
from tenantry.oauth.signing import JWKS_MAX_AGE_SECONDS

__all__ = ["SECURE_SESSION_COOKIE", "SESSION_COOKIE", "OAuthLambdaApp", "RateLimits", "oauth_app", "session_cookie"]

# The sign-in cookie. Over https (every deployment) it carries the __Host- prefix: the browser then
# accepts it only with Secure, Path=/ and no Domain, so no sibling subdomain (a tenant's
# subdomain included) can plant or overwrite it. Over http, which only `./dev local` serves (on
# loopback), it has neither: Chromium takes a Secure cookie from http://127.0.0.1, but Python's
# cookie jar (httpx: the tests, `tenantry doctor`) never sends one back over http, and not every
# browser treats loopback http as secure for cookies (docs/oauth.md).
SESSION_COOKIE = "tenantry_signin"
SECURE_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_PAGE_HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
_MAX_FORM_BYTES = 64 * 1024
# A token request has at most 7 fields and the consent form 3: anything far past that is abuse,
# refused before it is parsed into a list (parse_qsl stops at the cap).
_MAX_FORM_FIELDS = 32
# A registration request is a few hundred bytes; the cap keeps the JSON parser's work bounded.
_MAX_JSON_BYTES = 16 * 1024


class RateLimits:
    """Requests per minute per source address (API Gateway's route throttles cap the total: docs/security.md)."""

    def __init__(self, register: int = 10, token: int = 60, authorize: int = 60) -> None:
        self.register = register
        self.token = token
        self.authorize = authorize


def _json_error(error: OAuthError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=_NO_STORE)


def session_cookie(issuer: str) -> tuple[str, bool]:
    """(the sign-in cookie's name, whether it is Secure) for this issuer URL."""
    secure = issuer.startswith("https://")
    return (SECURE_SESSION_COOKIE if secure else SESSION_COOKIE), secure


def _page_error(error: OAuthError) -> Response:
    # The error page has no form: form-action 'none'.
    headers = _PAGE_HEADERS | {"content-security-policy": content_security_policy()}
    return HTMLResponse(error_page(error), status_code=error.status, headers=headers)


async def _form(request: Request, what: str) -> list[tuple[str, str]]:
    """The url-encoded form; OAuthError(invalid_request) for another type, or too large a form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", f"the {what} must be sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise OAuthError("invalid_request", f"the {what} is larger than {_MAX_FORM_BYTES} bytes")
    try:
        return parse_qsl(
            body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS
        )
    except ValueError:
        raise OAuthError("invalid_request", f"the {what} has more than {_MAX_FORM_FIELDS} fields") from None


def _caller(request: Request) -> str:
    event = request.scope.get("aws.event") or {}
    source = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    if source:
        return str(source)
    return request.client.host if request.client else "unknown"


def oauth_app(server: AuthorizationServer, limits: RateLimits | None = None) -> Starlette:
    limits = limits or RateLimits()
    cookie_name, secure_cookie = session_cookie(server.url)

    def limited(endpoint: str, per_minute: int, request: Request) -> OAuthError | None:
        if server.store.hit_rate(endpoint, _caller(request), per_minute):
            return None
        server.audit(endpoint, "denied", f"rate limit of {per_minute}/minute reached", principal=_caller(request))
        return OAuthError("slow_down", f"too many {endpoint} requests from this address; wait a minute", 429)

    def refused(endpoint: str, error: OAuthError, principal: str = "") -> None:
        # Grouped by error code: a caller varying the request (each client_id a new description)
        # still makes one audit record per code and minute.
        server.audit(endpoint, "denied", error.description, principal=principal, kind=error.error)

    async def as_metadata(request: Request) -> Response:
        return JSONResponse(server.metadata(), headers={"cache-control": "max-age=300"})

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(server.openid_configuration(), headers={"cache-control": "max-age=300"})

    async def jwks(request: Request) -> Response:
        return JSONResponse(server.signer.jwks(), headers={"cache-control": f"max-age={JWKS_MAX_AGE_SECONDS}"})

    async def register(request: Request) -> Response:
        too_many = limited("register", limits.register, request)
        if too_many:
            return _json_error(too_many)
        body = await request.body()
        if len(body) > _MAX_JSON_BYTES:
            return _json_error(
                OAuthError(
                    "invalid_client_metadata", f"the registration request is larger than {_MAX_JSON_BYTES} bytes"
                )
            )
        try:
            metadata = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return _json_error(OAuthError("invalid_client_metadata", "the request body must be a JSON object"))
        try:
            registered = server.clients.register(metadata)
        except OAuthError as exc:
            refused("register", exc, _caller(request))
            return _json_error(exc)
        server.audit("register", "allowed", f"client {registered['client_id']}", principal=_caller(request))
        return JSONResponse(registered, status_code=201, headers=_NO_STORE)

    async def authorize(request: Request) -> Response:
        # Before anything else: a metadata document fetch is the costliest thing an anonymous caller
        # can make this function do, and a refused request writes no sign-in session.
        too_many = limited("authorize", limits.authorize, request)
        if too_many:
            return _page_error(too_many)
        params = list(request.query_params.multi_items())
        try:
            if len(params) > _MAX_FORM_FIELDS:
                raise OAuthError(
                    "invalid_request", f"the authorization request has more than {_MAX_FORM_FIELDS} fields"
                )
            pending = await server.authorize_request(params)
            session_id, upstream_url = await server.start(pending)
        except OAuthError as exc:
            refused("authorize", exc, _caller(request))
            return _redirect_or_page(exc)
        response = RedirectResponse(upstream_url, status_code=302, headers={"cache-control": "no-store"})
        response.set_cookie(
            cookie_name,
            session_id,
            max_age=server.lifetimes.session_seconds,
            httponly=True,
            secure=secure_cookie,
            samesite="lax",  # sent on the provider's top-level redirect back to /callback
            path="/",
        )
        return response

    async def callback(request: Request) -> Response:
        try:
            session = await server.callback(request.cookies.get(cookie_name), list(request.query_params.multi_items()))
        except OAuthError as exc:
            return _redirect_or_page(exc)
        # The form posts here ('self') and its answer redirects to the client: Chromium and Safari
        # check form-action on that redirect too, so the validated redirect URI's origin is listed,
        # on this response only (docs/oauth.md, "The pages in a browser").
        policy = content_security_policy(["'self'", form_action_source(session.redirect_uri)])
        return HTMLResponse(
            consent_page(session, server.tenant_names(session.tenants)),
            headers=_PAGE_HEADERS | {"content-security-policy": policy},
        )

    async def consent(request: Request) -> Response:
        try:
            form = await _form(request, "consent form")
        except OAuthError as exc:
            return _page_error(exc)
        try:
            location = server.consent(request.cookies.get(cookie_name), form)
        except OAuthError as exc:
            response = _redirect_or_page(exc)
        else:
            response = RedirectResponse(location, status_code=302, headers={"cache-control": "no-store"})
        response.delete_cookie(cookie_name, path="/", secure=secure_cookie, httponly=True, samesite="lax")
        return response

    async def token(request: Request) -> Response:
        too_many = limited("token", limits.token, request)
        if too_many:
            return _json_error(too_many)
        try:
            form = await _form(request, "token request")
        except OAuthError as exc:
            refused("token", exc, _caller(request))
            return _json_error(exc)
        try:
            return JSONResponse(await server.token(form), headers=_NO_STORE)
        except OAuthError as exc:
            refused("token", exc, dict(form).get("client_id", "")[:200])
            return _json_error(exc)

    def _redirect_or_page(error: OAuthError) -> Response:
        if error.redirect_uri is None:
            return _page_error(error)
        return RedirectResponse(server.error_redirect(error), status_code=302, headers={"cache-control": "no-store"})

    return Starlette(
        routes=[
            Route(AS_METADATA_PATH, as_metadata, methods=["GET"]),
            Route(OIDC_DISCOVERY_PATH, openid_configuration, methods=["GET"]),
            Route(JWKS_PATH, jwks, methods=["GET"]),
            Route("/register", register, methods=["POST"]),
            Route("/authorize", authorize, methods=["GET"]),
            Route("/callback", callback, methods=["GET"]),
            Route("/consent", consent, methods=["POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )


class OAuthLambdaApp:
    """Callable as a Lambda handler, like the MCP function's LambdaApp."""

    def __init__(self, server: AuthorizationServer, limits: RateLimits | None = None) -> None:
        self.server = server
        self._mangum = Mangum(oauth_app(server, limits), lifespan="off")
        logging.getLogger("mangum").setLevel(logging.WARNING)

    @classmethod
    def from_env(cls, build: Callable[[], AuthorizationServer]) -> OAuthLambdaApp:
        return cls(build())

    def before_snapshot(self) -> None:
        """SnapStart: init fetched nothing (no key, no document, no tenant), so nothing is in the snapshot to drop."""

    def after_restore(self) -> None:
        """SnapStart: many containers resume from one snapshot; each reseeds `random` from the OS.

        Codes, tokens and CSRF values come from `secrets` (the OS's generator, which a restore does not
        repeat); `random` is reseeded anyway, for botocore's retry jitter and anything added later.
        """
        random.seed()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._mangum(event, context)
        return result
