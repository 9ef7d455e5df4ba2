"""The two HTML pages of the dev authorization server: sign-in/consent and error."""

from __future__ import annotations

from html import escape

from tenantry_local.oauth.directory import Directory
from tenantry_local.oauth.errors import OAuthError
from tenantry_local.oauth.server import AuthorizeRequest

__all__ = ["error_page", "sign_in_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "button{display:block;width:100%;text-align:left;margin:.4rem 0;padding:.6rem .8rem;font-size:1rem;"
    "border:1px solid #bbb;border-radius:.4rem;background:#fafafa;cursor:pointer}"
    "button:hover{background:#eef}.muted{color:#666;font-size:.9rem}code{background:#f3f3f3;padding:0 .2rem}"
)


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def sign_in_page(request: AuthorizeRequest, directory: Directory) -> str:
    client = request.client.client_name or request.client.client_id
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in request.form_fields().items()
    )
    buttons = []
    for user in directory.users():
        if not user.tenants:
            label = f"{user.name} &lt;{escape(user.email)}&gt; <span class=muted>(member of no tenant)</span>"
            buttons.append(f'<button name="decision" value="{escape(user.email)}|">{label}</button>')
            continue
        for tenant_id in user.tenants:
            tenant = escape(directory.tenant_name(tenant_id))
            label = f"{escape(user.name)} &lt;{escape(user.email)}&gt; &rarr; <b>{tenant}</b>"
            buttons.append(f'<button name="decision" value="{escape(user.email)}|{escape(tenant_id)}">{label}</button>')
    body = (
        "<h1>Tenantry local sign-in</h1>"
        f"<p><b>{escape(client)}</b> asks for <code>{escape(request.scope)}</code> on "
        f"<code>{escape(request.resource)}</code>.</p>"
        "<p>Pick a demo user and the tenant this connection acts for. The tenant is fixed in the token; "
        "sign in again to switch.</p>"
        f'<form method="post" action="/authorize">{hidden}{"".join(buttons)}'
        '<button name="decision" value="deny">Deny</button></form>'
        f'<p class="muted">Local development only. After approval you return to {escape(request.redirect_uri)}</p>'
    )
    return _document("Tenantry local sign-in", body)


def error_page(error: OAuthError) -> str:
    body = (
        "<h1>Sign-in cannot continue</h1>"
        f"<p><code>{escape(error.error)}</code>: {escape(error.description)}</p>"
        '<p class="muted">The request was not sent back to the application because its client or '
        "redirect URI could not be verified.</p>"
    )
    return _document("Sign-in error", body)
