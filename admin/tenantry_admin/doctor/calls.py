"""Step 6: MCP calls with a token: initialize, tools/list, get_tenant_profile, and a cross-tenant refusal.

A refused call names the likely cause from the status and the WWW-Authenticate
challenge (audience, expiry, issuer, scope, tenant).
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from tenantry_admin.doctor.context import (
    ACCEPT,
    FIX_HOST_CHECK,
    PROTOCOL_VERSION,
    DoctorContext,
    challenge_params,
    init_params,
)
from tenantry_admin.doctor.net import Reply, UnreachableError

__all__ = ["with_token"]

# A tenant id no real token names: a mismatched X-Tenant-ID must be refused (403).
_OTHER_TENANT = "doctor-probe-other-tenant"


def _rpc_payload(reply: Reply) -> Any:
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in reply.body.decode("utf-8", "replace").splitlines() if line[:5] == "data:"]
        try:
            return json.loads(data[-1]) if data else None
        except ValueError:
            return None
    return reply.json()


def with_token(ctx: DoctorContext) -> None:
    """Step 6, with the sign-in's token or the one given; runs unless step 1 found no MCP endpoint."""
    token = ctx.options.token
    if not token:
        ctx.add(
            6,
            "tool calls",
            "SKIP",
            "no token: pass --sign-in, or --token TOKEN (a token for this deployment)",
        )
        return
    source = ctx.options.token_source
    reply, payload = _rpc(ctx, token, "initialize", init_params(), 1)
    if reply is None:
        return
    ctx.first_call_ms = reply.ms
    result = payload.get("result") if isinstance(payload, dict) else None
    if reply.status != 200 or not isinstance(result, dict):
        _refused(ctx, "initialize", reply, payload, source)
        return
    ctx.protocol = str(result.get("protocolVersion") or PROTOCOL_VERSION)
    server = (result.get("serverInfo") or {}).get("name", "?")
    ctx.add(6, "initialize", "PASS", f"{server}, protocol {ctx.protocol} (token from {source})", ms=reply.ms)
    _rpc(ctx, token, "notifications/initialized", None, None)
    reply, payload = _rpc(ctx, token, "tools/list", {}, 2)
    if reply is None:
        return
    result = payload.get("result") if isinstance(payload, dict) else None
    tools = result.get("tools") if isinstance(result, dict) else None
    if reply.status != 200 or not isinstance(tools, list):
        _refused(ctx, "tools/list", reply, payload, source)
        return
    names = [str(t.get("name")) for t in tools if isinstance(t, dict)]
    ctx.add(6, "tools/list", "PASS", f"{len(names)} tool(s): {', '.join(names[:8])}", ms=reply.ms)
    if "get_tenant_profile" not in names:
        ctx.add(6, "get_tenant_profile", "WARN", "not offered to this tenant's plan; cross-tenant check skipped")
        return
    call = {"name": "get_tenant_profile", "arguments": {}}
    reply, payload = _rpc(ctx, token, "tools/call", call, 3)
    if reply is None:
        return
    result = payload.get("result") if isinstance(payload, dict) else None
    if reply.status != 200 or not isinstance(result, dict) or result.get("isError"):
        _refused(ctx, "get_tenant_profile", reply, payload, source)
        return
    structured = result.get("structuredContent")
    profile: dict[str, Any] = structured if isinstance(structured, dict) else {}
    tenant = str(profile.get("tenant_id", "?"))
    claimed = _token_tenant(ctx, token)
    if claimed is not None and tenant != claimed:
        ctx.add(
            6,
            "get_tenant_profile",
            "FAIL",
            "the profile is not the token's tenant",
            expected=claimed,
            got=tenant,
            fix="the tenant must come from the token's claim and nowhere else",
        )
        return
    name = profile.get("display_name", "")
    ctx.add(6, "get_tenant_profile", "PASS", f"tenant {tenant} ({name}, plan {profile.get('plan')})", ms=reply.ms)
    other = _OTHER_TENANT if tenant != _OTHER_TENANT else _OTHER_TENANT + "-2"
    reply, payload = _rpc(ctx, token, "tools/call", call, 4, {"x-tenant-id": other})
    if reply is None:
        return
    if reply.status == 403:
        ctx.add(6, "cross-tenant refusal", "PASS", f"X-Tenant-ID: {other} refused with 403", ms=reply.ms)
    else:
        ctx.add(
            6,
            "cross-tenant refusal",
            "FAIL",
            "a request whose X-Tenant-ID names another tenant was not refused",
            expected="403",
            got=f"{reply.status} {reply.text(100)}",
            fix="the gateway must refuse a tenant header that disagrees with the token (tenancy/resolver.py)",
            ms=reply.ms,
        )


def _token_tenant(ctx: DoctorContext, token: str) -> str | None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = claims.get(ctx.options.tenant_claim)
    return value if isinstance(value, str) else None


def _rpc(
    ctx: DoctorContext, token: str, method: str, params: Any, rpc_id: int | None, extra: dict[str, str] | None = None
) -> tuple[Reply | None, Any]:
    headers = {"authorization": f"Bearer {token}", "accept": ACCEPT, "content-type": "application/json"}
    if ctx.protocol:
        headers["mcp-protocol-version"] = ctx.protocol
    headers.update(extra or {})
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if rpc_id is not None:
        message["id"] = rpc_id
    if params is not None:
        message["params"] = params
    try:
        reply = ctx.http.request("POST", ctx.url, content=json.dumps(message), headers=headers)
    except UnreachableError as exc:
        ctx.add(6, method, "FAIL", str(exc), got=str(exc), fix="the endpoint stopped answering; re-run")
        return None, None
    return reply, _rpc_payload(reply)


def _refused(ctx: DoctorContext, what: str, reply: Reply, payload: Any, source: str) -> None:
    challenge = challenge_params(reply.headers.get("www-authenticate", ""))
    description = challenge.get("error_description", "")
    rpc_error = payload.get("error") if isinstance(payload, dict) else None
    message = rpc_error.get("message") if isinstance(rpc_error, dict) else None
    got = f"{reply.status} {description or message or reply.text(100)}"
    if reply.status == 421:
        fix = FIX_HOST_CHECK
    elif reply.status == 401 and "audience" in description:
        fix = (
            f"the token's aud is not an audience of the authorizer: tokens must carry aud = {ctx.url} "
            "(the authorization server must honour resource=<MCP URL>; Cognito: a resource server with "
            "identifier McpUrl)"
        )
    elif reply.status == 401 and "expired" in description:
        fix = f"the token from {source} expired: sign in again (--sign-in) or pass a fresh --token"
    elif reply.status == 401 and "issuer" in description:
        fix = "the authorizer trusts another issuer than the token's iss: align the authorizer's issuer"
    elif reply.status == 401:
        fix = "the authorizer could not verify the token: check its issuer's JWKS holds the signing key"
    elif reply.status == 403 and challenge.get("error") == "insufficient_scope":
        fix = "the token lacks the route's scope: grant the advertised scope to clients"
    elif reply.status == 403:
        fix = "the tenant is not onboarded, suspended, or the host names another tenant (tenantry tenants show)"
    elif reply.status >= 500:
        fix = "the function failed: read its logs (CloudWatch) for this request"
    else:
        fix = "see the answer above"
    ctx.add(6, what, "FAIL", f"refused with the token from {source}", expected="200", got=got, fix=fix)
