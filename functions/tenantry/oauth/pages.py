"""The authorization server's two HTML pages: consent (with the tenant picker) and error, and their CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from html import escape
from urllib.parse import urlsplit

from tenantry.dal.oauth import SessionRecord
from tenantry.errors import OAuthError

__all__ = ["consent_page", "content_security_policy", "error_page", "form_action_source"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "label{display:block;margin:.4rem 0;padding:.6rem .8rem;border:1px solid #bbb;border-radius:.4rem}"
    "button{margin:.8rem .4rem 0 0;padding:.6rem 1.2rem;font-size:1rem;border-radius:.4rem;cursor:pointer}"
    ".muted{color:#666;font-size:.9rem}code{background:#f3f3f3;padding:0 .2rem}"
)
# The one inline stylesheet, allowed by its hash: injected markup can neither run script nor style.
_STYLE_SOURCE = "'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode() + "'"
# What CSP's host-source grammar can name: IPv6 literals ([::1]) and odd characters cannot be.
_CSP_HOST = re.compile(r"^[a-z0-9.-]+$")


def content_security_policy(form_action: Sequence[str] = ()) -> str:
    """The pages' policy: nothing loads or runs but their stylesheet; forms go only to `form_action`.

    Chromium and Safari check `form-action` on every redirect that follows a form post, so a
    page whose form ends in a redirect to the client must list the client's origin.
    """
    targets = " ".join(form_action) or "'none'"
    return (
        f"default-src 'none'; style-src {_STYLE_SOURCE}; form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def form_action_source(uri: str) -> str:
    """The CSP source for the origin of a (validated, http or https) redirect URI.

    A host CSP cannot name (an IPv6 loopback literal) gets its scheme instead: for that page
    only, forms may post to any origin of that scheme (docs/oauth.md).
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
        host = ""
    if scheme not in ("http", "https"):
        return "'self'"  # never reached (RedirectPolicy); fails closed rather than widen the policy
    if not _CSP_HOST.fullmatch(host):
        return f"{scheme}:"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def consent_page(session: SessionRecord, tenant_names: dict[str, str]) -> str:
    client = session.client_name or session.client_id
    redirect_host = urlsplit(session.redirect_uri).hostname or session.redirect_uri
    if len(session.tenants) == 1:
        only = session.tenants[0]
        choice = (
            f"<p>It will act for <b>{escape(tenant_names.get(only, only))}</b> (<code>{escape(only)}</code>).</p>"
            f'<input type="hidden" name="tenant" value="{escape(only)}">'
        )
    else:
        options = "".join(
            f'<label><input type="radio" name="tenant" value="{escape(tenant_id)}"{" checked" if i == 0 else ""}> '
            f"<b>{escape(tenant_names.get(tenant_id, tenant_id))}</b> <code>{escape(tenant_id)}</code></label>"
            for i, tenant_id in enumerate(session.tenants)
        )
        choice = (
            "<p>You belong to several tenants. Pick the one this connection acts for; it is fixed in the "
            "token, so connect again to switch.</p>" + options
        )
    body = (
        "<h1>Allow access?</h1>"
        f"<p>Signed in as <b>{escape(session.subject_name or session.subject or '')}</b>.</p>"
        f"<p><b>{escape(client)}</b> asks for <code>{escape(session.scope)}</code> on "
        f"<code>{escape(session.resource)}</code>.</p>"
        f'<form method="post" action="consent">{choice}'
        f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
        '<button type="submit" name="decision" value="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
        f'<p class="muted">After you decide you return to <b>{escape(redirect_host)}</b> '
        f"(<code>{escape(session.redirect_uri)}</code>). Client id: <code>{escape(session.client_id)}</code></p>"
    )
    return _document("Allow access?", body)


def error_page(error: OAuthError) -> str:
    body = (
        "<h1>Sign-in cannot continue</h1>"
        f"<p><code>{escape(error.error)}</code>: {escape(error.description)}</p>"
        '<p class="muted">The request was not sent back to the application because its client, redirect URI '
        "or sign-in session could not be verified.</p>"
    )
    return _document("Sign-in error", body)
