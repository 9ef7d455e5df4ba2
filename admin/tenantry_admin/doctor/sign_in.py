"""Step 5: sign in through a browser (--sign-in), redeem the code, and check the token as API Gateway will.

PKCE S256 and `resource` (RFC 8707) on the authorization request; the code comes
back to the doctor's loopback redirect (RFC 8252). The token must be a JWT whose
signature verifies against the advertised JWKS, with aud = the MCP URL, a tenant
claim, an exp in the future and the advertised scope. A token that passes is
used for step 6.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt

from tenantry_admin.doctor.context import DoctorContext, authorize_params, excerpt, pkce
from tenantry_admin.doctor.net import OutsideOriginError, UnreachableError

__all__ = ["sign_in"]


def sign_in(ctx: DoctorContext) -> None:
    """Step 5; a token that passes every check replaces ctx.options.token for step 6."""
    if not ctx.options.sign_in:
        ctx.add(5, "sign-in", "SKIP", "not requested (pass --sign-in to sign in through a browser)")
        return
    assert ctx.meta is not None
    kind = "cimd" if "cimd" in ctx.clients else "dcr" if "dcr" in ctx.clients else None
    if kind is None:
        ctx.add(
            5,
            "sign-in",
            "FAIL",
            "no client with a loopback redirect was accepted in step 4",
            expected="a CIMD or DCR client the doctor can receive the code for",
            got="none",
            fix="allow loopback redirect URIs (RFC 8252) for registration, or sign in with ChatGPT itself",
        )
        return
    client_id, redirect_uri = ctx.clients[kind]
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    url = (
        ctx.meta["authorization_endpoint"]
        + "?"
        + urlencode(authorize_params(ctx, client_id, redirect_uri, challenge, state))
    )
    started = time.perf_counter()
    ctx.browser(url)
    answer = ctx.loopback.wait_for_callback(ctx.options.sign_in_timeout)
    ms = (time.perf_counter() - started) * 1000
    title = f"authorization ({kind.upper()} client)"
    if answer is None:
        ctx.add(
            5,
            title,
            "FAIL",
            f"no redirect reached {redirect_uri} within {ctx.options.sign_in_timeout:g} s",
            fix="finish the sign-in in the browser window (or open the printed URL)",
        )
        return
    if answer.get("state") != state or "error" in answer or "code" not in answer:
        got = (
            f"{answer.get('error')}: {answer.get('error_description', '')}"
            if "error" in answer
            else f"state {answer.get('state')!r}, code {'present' if 'code' in answer else 'absent'}"
        )
        ctx.add(
            5,
            title,
            "FAIL",
            "the redirect did not carry a code for this request",
            expected="code and the same state",
            got=got,
            fix="access_denied: the user is not a member of an active tenant, or denied the request",
            ms=ms,
        )
        return
    if ctx.meta.get("authorization_response_iss_parameter_supported") and answer.get("iss") != ctx.as_url:
        ctx.add(
            5, title, "FAIL", "the redirect's iss is not the authorization server (RFC 9207)",
            expected=ctx.as_url, got=str(answer.get("iss")), ms=ms,
        )  # fmt: skip
        return
    ctx.add(5, title, "PASS", "code received on the loopback redirect", ms=ms)
    form = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
        "resource": ctx.url,
    }
    try:
        reply = ctx.http.request("POST", ctx.meta["token_endpoint"], data=form, headers={"accept": "application/json"})
    except (UnreachableError, OutsideOriginError) as exc:
        ctx.add(5, "token request", "FAIL", str(exc), got=str(exc))
        return
    tokens = reply.json()
    if reply.status != 200 or not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
        error = tokens if isinstance(tokens, dict) else reply.text(100)
        ctx.add(
            5,
            "token request",
            "FAIL",
            "the code was not redeemed (PKCE S256 and resource were sent)",
            expected="200 with an access_token",
            got=f"{reply.status} {excerpt(error)}",
            fix="invalid_target: the server does not accept resource=<MCP URL> (RFC 8707); invalid_grant: the "
            "code or verifier was refused",
            ms=reply.ms,
        )
        return
    ctx.add(5, "token request", "PASS", f"access token issued ({tokens.get('token_type', '?')})", ms=reply.ms)
    if _check_token(ctx, tokens["access_token"]):
        ctx.options = ctx.options.model_copy(update={"token": tokens["access_token"], "token_source": "the sign-in"})


def _check_token(ctx: DoctorContext, token: str) -> bool:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        ctx.add(
            5,
            "access token",
            "FAIL",
            f"not a JWT ({exc}): the HTTP API JWT authorizer accepts JWTs only",
            fix="issue JWT access tokens (RFC 9068)",
        )
        return False
    ok = True
    iss = claims.get("iss")
    verified = _verify_signature(ctx, token, header)
    if iss == ctx.as_url and verified:
        ctx.add(5, "token iss and signature", "PASS", f"iss {iss}, {header.get('alg')} key {header.get('kid')}")
    elif verified:
        ctx.add(
            5,
            "token iss and signature",
            "WARN",
            "iss differs from the authorization server; the JWT authorizer must trust this issuer, and "
            f"{iss}/.well-known/openid-configuration must be public",
            expected=ctx.as_url,
            got=str(iss),
        )
    else:
        ok = False
        ctx.add(
            5,
            "token iss and signature",
            "FAIL",
            "the token's signature does not verify against the advertised JWKS",
            expected=f"a {header.get('alg')} signature by a key in jwks_uri (kid {header.get('kid')})",
            got=f"iss {iss}",
            fix="publish the signing key in jwks_uri; the authorizer verifies with the issuer's JWKS",
        )
    audiences = claims.get("aud")
    audience_list = audiences if isinstance(audiences, list) else [audiences]
    if ctx.url in audience_list:
        ctx.add(5, "token aud", "PASS", f"aud is the MCP URL {ctx.url}")
    else:
        ok = False
        ctx.add(
            5,
            "token aud",
            "FAIL",
            "aud is not the MCP URL, so API Gateway's authorizer refuses the token (401 invalid audience)",
            expected=ctx.url,
            got=excerpt(audiences),
            fix="the authorization server must honour resource=<MCP URL> (RFC 8707) as the audience; with "
            "Cognito, a resource server whose identifier is exactly McpUrl",
        )
    tenant = claims.get(ctx.options.tenant_claim)
    if isinstance(tenant, str) and tenant:
        ctx.add(5, "token tenant", "PASS", f"{ctx.options.tenant_claim}={tenant}")
    else:
        ok = False
        ctx.add(
            5,
            "token tenant",
            "FAIL",
            f"no '{ctx.options.tenant_claim}' claim: the server cannot tell which tenant the user acts for",
            expected=f"{ctx.options.tenant_claim}=<tenant id>",
            got="absent",
            fix=(
                "the authorization server adds the tenant chosen at sign-in; "
                "the user needs a membership (tenantry members add)"
            ),
        )
    now = time.time()
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp > now:
        ctx.add(5, "token expiry", "PASS", f"expires in {int(exp - now)} s")
    else:
        ok = False
        ctx.add(5, "token expiry", "FAIL", "the token has no exp or is already expired", got=str(exp))
    granted = set(str(claims.get("scope") or "").split())
    scp = claims.get("scp")
    granted |= set(scp.split()) if isinstance(scp, str) else {str(s) for s in scp or []}
    if not ctx.scopes or granted & set(ctx.scopes):
        ctx.add(5, "token scope", "PASS", " ".join(sorted(granted)) or "(none asked)")
    else:
        ok = False
        ctx.add(
            5,
            "token scope",
            "FAIL",
            "the token lacks the advertised scope; the /mcp route answers 403 insufficient_scope",
            expected=" ".join(ctx.scopes),
            got=" ".join(sorted(granted)) or "(none)",
            fix="grant the advertised scope to registered clients",
        )
    return ok


def _verify_signature(ctx: DoctorContext, token: str, header: dict[str, Any]) -> bool:
    if ctx.jwks is None:
        return False
    try:
        keys = jwt.PyJWKSet.from_dict(ctx.jwks)
    except jwt.PyJWTError:
        return False
    for key in keys.keys:
        if header.get("kid") not in (None, key.key_id):
            continue
        try:
            jwt.decode(
                token,
                key.key,
                algorithms=[str(header.get("alg"))],
                options={"verify_aud": False, "verify_exp": False},
            )
            return True
        except jwt.PyJWTError:
            continue
    return False
