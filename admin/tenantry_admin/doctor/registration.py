"""Step 4: client registration, as ChatGPT would do it, and the cleanup after it.

A client ID metadata document (CIMD: the operator's, or the doctor's own served
on its loopback to a local authorization server) and RFC 7591 dynamic
registration; each accepted client is probed with an authorization request, and
a client the doctor registered is deleted again (RFC 7592) where the server allows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tenantry_admin.doctor.context import DoctorContext, authorize_params, excerpt, is_loopback, pkce
from tenantry_admin.doctor.net import OutsideOriginError, UnreachableError
from tenantry_admin.doctor.report import Status

__all__ = ["finish_cleanup", "register_clients"]


def register_clients(ctx: DoctorContext) -> None:
    """Step 4; each accepted client with a loopback redirect is left in ctx.clients for the sign-in."""
    assert ctx.meta is not None and ctx.as_url is not None
    if ctx.meta.get("client_id_metadata_document_supported") is True:
        _cimd(ctx)
    else:
        ctx.add(4, "client ID metadata document", "SKIP", "not advertised by the authorization server")
    if isinstance(ctx.meta.get("registration_endpoint"), str):
        _dcr(ctx, ctx.meta["registration_endpoint"])
    else:
        ctx.add(4, "dynamic registration", "SKIP", "no registration_endpoint advertised")


def _cimd(ctx: DoctorContext) -> None:
    assert ctx.as_url is not None
    title = "client ID metadata document"
    if ctx.options.client_metadata_url:
        url = ctx.options.client_metadata_url
        ctx.http.allow(url)  # the operator named it
        try:
            reply = ctx.get(url)
        except UnreachableError as exc:
            ctx.add(4, title, "FAIL", str(exc), expected=f"200 at {url}", got=str(exc))
            return
        document = reply.json()
        redirects = document.get("redirect_uris") if isinstance(document, dict) else None
        if reply.status != 200 or not isinstance(document, dict) or document.get("client_id") != url:
            ctx.add(
                4,
                title,
                "FAIL",
                f"{url} is not a client metadata document for itself",
                expected=f'200, a JSON object with "client_id": "{url}"',
                got=f"{reply.status} {reply.text(80)}",
                fix="host a JSON document whose client_id is its own URL, with redirect_uris",
            )
            return
        if not isinstance(redirects, list) or not redirects or not isinstance(redirects[0], str):
            ctx.add(4, title, "FAIL", "the document has no redirect_uris", got=excerpt(redirects))
            return
        _probe(ctx, title, url, redirects[0], "the operator's document")
        return
    if not is_loopback(ctx.as_url):
        ctx.add(
            4,
            title,
            "WARN",
            "skipped: the doctor can serve its own document only to a local authorization server",
            fix="host a client metadata document on https and pass --client-metadata-url URL",
        )
        return
    ctx.loopback.document = {
        "client_id": ctx.loopback.document_url,
        "client_name": "tenantry doctor",
        "redirect_uris": [ctx.loopback.redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    if _probe(ctx, title, ctx.loopback.document_url, ctx.loopback.redirect_uri, "the doctor's own document"):
        ctx.clients["cimd"] = (ctx.loopback.document_url, ctx.loopback.redirect_uri)


def _dcr(ctx: DoctorContext, endpoint: str) -> None:
    title = "dynamic registration"
    registered = _register(ctx, endpoint, ctx.loopback.redirect_uri)
    if isinstance(registered, str):
        ctx.add(
            4,
            title,
            "FAIL",
            registered,
            expected="201 with a client_id (RFC 7591)",
            got=registered,
            fix="check the registration endpoint and its redirect allow-list",
        )
        return
    if registered.get("error") == "invalid_redirect_uri":
        # Deployed servers may allow only https redirects on chatgpt.com: try ChatGPT's own form.
        chatgpt = "https://chatgpt.com/connector/oauth/tenantry-doctor"
        again = _register(ctx, endpoint, chatgpt)
        if isinstance(again, dict) and isinstance(again.get("client_id"), str):
            _remember_cleanup(ctx, again)
            ctx.add(
                4,
                title,
                "PASS",
                f"loopback redirects refused (normal deployed); ChatGPT's redirect {chatgpt} accepted",
            )
            return
        ctx.add(
            4,
            title,
            "FAIL",
            "ChatGPT's redirect URI is refused",
            expected=f"201 for redirect_uris [{chatgpt}]",
            got=excerpt(again),
            fix="allow the redirect host chatgpt.com on the registration endpoint (dcr_redirect_hosts)",
        )
        return
    client_id = registered.get("client_id")
    if not isinstance(client_id, str):
        ctx.add(4, title, "FAIL", "the registration answer has no client_id", got=excerpt(registered))
        return
    _remember_cleanup(ctx, registered)
    if _probe(ctx, title, client_id, ctx.loopback.redirect_uri, f"registered {client_id}"):
        ctx.clients["dcr"] = (client_id, ctx.loopback.redirect_uri)


def _register(ctx: DoctorContext, endpoint: str, redirect_uri: str) -> dict[str, Any] | str:
    metadata = {
        "client_name": "tenantry doctor (safe to delete)",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    try:
        reply = ctx.http.request("POST", endpoint, json=metadata, headers={"accept": "application/json"})
    except (UnreachableError, OutsideOriginError) as exc:
        return str(exc)
    document = reply.json()
    if reply.status in (200, 201) and isinstance(document, dict):
        return document
    if reply.status == 400 and isinstance(document, dict) and isinstance(document.get("error"), str):
        return document
    return f"HTTP {reply.status}: {reply.text(100)}"


def _remember_cleanup(ctx: DoctorContext, registered: dict[str, Any]) -> None:
    uri, token = registered.get("registration_client_uri"), registered.get("registration_access_token")
    if isinstance(uri, str) and isinstance(token, str):
        ctx.cleanup = (uri, token)
    ctx.registered_client = str(registered.get("client_id"))


def _probe(ctx: DoctorContext, title: str, client_id: str, redirect_uri: str, what: str) -> bool:
    """Send an authorization request for this client; accepted means a sign-in page (or a redirect to one)."""
    assert ctx.meta is not None
    _, challenge = pkce()
    params = authorize_params(ctx, client_id, redirect_uri, challenge, "doctor-probe")
    try:
        reply = ctx.http.request("GET", ctx.meta["authorization_endpoint"] + "?" + urlencode(params))
    except (UnreachableError, OutsideOriginError) as exc:
        ctx.add(4, title, "FAIL", str(exc), expected="a sign-in page", got=str(exc))
        return False
    location = reply.headers.get("location", "")
    fetched = f", document fetched {ctx.loopback.document_fetches}x" if what.startswith("the doctor") else ""
    if reply.status in (301, 302, 303, 307) and location.startswith(redirect_uri):
        answer = dict(parse_qsl(urlsplit(location).query))
        if "error" in answer:
            ctx.add(
                4,
                title,
                "FAIL",
                f"{what}: the authorization request was refused",
                expected="a sign-in page",
                got=f"{answer['error']}: {answer.get('error_description', '')}",
                fix="invalid_target means `resource` (the MCP URL) is not a resource this server issues tokens "
                "for; invalid_scope means the advertised scopes are not all grantable",
                ms=reply.ms,
            )
            return False
    if reply.status == 200 or reply.status in (301, 302, 303, 307):
        ctx.add(4, title, "PASS", f"{what}: authorization request accepted{fetched}", ms=reply.ms)
        return True
    ctx.add(
        4,
        title,
        "FAIL",
        f"{what}: the authorization request was refused",
        expected="a sign-in page (200) or a redirect to one",
        got=f"{reply.status} {reply.text(120)}",
        fix="the authorization server rejected the client; its message above says why",
        ms=reply.ms,
    )
    return False


def finish_cleanup(ctx: DoctorContext) -> None:
    """Delete the client step 4 registered, where the server offers RFC 7592; runs whatever failed before."""
    client = ctx.registered_client
    if client is None:
        return
    if ctx.cleanup is None:
        ctx.add(
            4,
            "registration cleanup",
            "PASS",
            f"{client} left registered: the server offers no RFC 7592 endpoint to delete it (it expires or "
            "stays idle per the server's policy)",
        )
        return
    uri, token = ctx.cleanup
    ctx.http.allow(uri)  # named by the authorization server's registration answer
    try:
        reply = ctx.http.request("DELETE", uri, headers={"authorization": f"Bearer {token}"})
    except (UnreachableError, OutsideOriginError) as exc:
        ctx.add(4, "registration cleanup", "WARN", f"could not delete {client}: {exc}")
        return
    status: Status = "PASS" if reply.status in (200, 204) else "WARN"
    ctx.add(4, "registration cleanup", status, f"DELETE {client}: HTTP {reply.status}", ms=reply.ms)
