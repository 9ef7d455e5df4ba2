"""Steps 1-3: the unauthenticated call, the protected resource document, the authorization server.

RFC 9728 (protected resource metadata), RFC 8414 and OpenID discovery, JWKS.
Each step records its checks on the context and leaves what it found (the
resource document, the authorization server's URL, metadata and JWKS) for the
steps after it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tenantry_admin.doctor.context import (
    ACCEPT,
    FIX_HOST_CHECK,
    DoctorContext,
    challenge_params,
    excerpt,
    init_params,
    secure,
)
from tenantry_admin.doctor.net import OutsideOriginError, UnreachableError

__all__ = ["authorization_server", "challenge", "resource"]

_FIX_PATH = (
    "give clients the stack's McpUrl exactly: /mcp at the end, no trailing slash, no stage name (a named stage "
    "puts every route under /<stage>/; use $default or a custom domain mapped on the empty path)"
)


def _resource_mismatch(expected: str, got: str) -> str:
    """Which part of the resource URL differs, in words."""
    want, have = urlsplit(expected), urlsplit(got)
    if want.scheme != have.scheme:
        return f"the scheme differs ({have.scheme} instead of {want.scheme})"
    if want.netloc.lower() != have.netloc.lower():
        return f"the host differs ({have.netloc} instead of {want.netloc}: custom domain vs execute-api URL?)"
    if want.path.rstrip("/") == have.path.rstrip("/"):
        return "only a trailing slash differs, and clients compare the URL character for character"
    if have.path.endswith(want.path) or want.path.endswith(have.path):
        return f"the path differs ({have.path} instead of {want.path}: a stage prefix?)"
    return f"the path differs ({have.path} instead of {want.path})"


def challenge(ctx: DoctorContext) -> str | None:
    """Why the walk cannot go on, or None when it can."""
    if not secure(ctx.url):
        ctx.add(
            1,
            "URL scheme",
            "FAIL",
            "ChatGPT connects to https URLs only",
            expected="https://…/mcp",
            got=ctx.url,
            fix="use the stack's McpUrl output (https); plain http works only on loopback for local testing",
        )
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init_params()}
    title = "POST /mcp without a token"
    try:
        reply = ctx.http.request("POST", ctx.url, json=body, headers={"accept": ACCEPT})
    except UnreachableError as exc:
        fix = (
            "check the certificate covers this host (a custom domain needs its ACM certificate and API mapping); "
            "WRONG_VERSION_NUMBER means the server speaks plain http (use http:// for a local server)"
            if "TLS" in str(exc)
            else "check the URL's host and port; for ./dev local, start it first"
        )
        ctx.add(1, title, "FAIL", str(exc), expected="an HTTP answer: 401", fix=fix)
        return "the MCP URL gave no HTTP answer"
    expected = "401 with a WWW-Authenticate challenge"
    if reply.status == 401:
        ctx.add(1, title, "PASS", "401 Unauthorized", ms=reply.ms)
    elif reply.status == 200:
        ctx.add(
            1,
            title,
            "FAIL",
            "answered without a token",
            expected=expected,
            got=f"200 {reply.text(80)}",
            fix="the POST /mcp route has no JWT authorizer: attach it (infra/constructs/api.py) and redeploy",
            ms=reply.ms,
        )
    elif reply.status == 421:
        ctx.add(1, title, "FAIL", "421 Misdirected Request", expected=expected, got="421", fix=FIX_HOST_CHECK)
    elif reply.status == 404:
        ctx.add(
            1, title, "FAIL", "nothing is served at this path: not an MCP URL", expected=expected,
            got=f"404 {reply.text(80)}", fix=_FIX_PATH, ms=reply.ms,
        )  # fmt: skip
    else:
        ctx.add(
            1, title, "FAIL", f"HTTP {reply.status}: not an MCP endpoint behind a JWT authorizer",
            expected=expected, got=f"{reply.status} {reply.text(80)}", fix=_FIX_PATH, ms=reply.ms,
        )  # fmt: skip
    if reply.status == 401:
        header = reply.headers.get("www-authenticate", "")
        params = challenge_params(header)
        if not header.lower().startswith("bearer"):
            ctx.add(
                1,
                "WWW-Authenticate",
                "WARN",
                "no Bearer challenge; clients fall back to the well-known paths",
                got=header or "(absent)",
            )
        elif "resource_metadata" in params:
            ctx.metadata_pointer = params["resource_metadata"]
            ctx.add(1, "WWW-Authenticate", "PASS", f"Bearer, resource_metadata={ctx.metadata_pointer}")
        else:
            ctx.add(
                1,
                "WWW-Authenticate",
                "WARN",
                "Bearer without resource_metadata (API Gateway's JWT authorizer cannot add it); "
                "clients fall back to the well-known paths, checked next",
            )
    if reply.status not in (200, 401):
        return "the URL does not answer as an MCP endpoint"
    return None


def resource(ctx: DoctorContext) -> bool:
    """Step 2; True when the document names a usable authorization server (left on ctx.as_url)."""
    parts = urlsplit(ctx.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    suffixed = origin + "/.well-known/oauth-protected-resource" + parts.path.rstrip("/")
    root = origin + "/.well-known/oauth-protected-resource"
    candidates: list[tuple[str, str]] = []
    pointer = ctx.metadata_pointer
    if pointer and pointer not in (suffixed, root):
        candidates.append(("resource_metadata pointer", pointer))
    candidates += [("well-known " + urlsplit(suffixed).path, suffixed), ("well-known " + urlsplit(root).path, root)]
    found: list[tuple[str, dict[str, Any]]] = []
    failures: list[tuple[str, str, str]] = []
    for label, url in candidates:
        try:
            reply = ctx.get(url)
        except (UnreachableError, OutsideOriginError) as exc:
            failures.append((label, url, str(exc)))
            continue
        document = reply.json()
        if reply.status == 200 and isinstance(document, dict) and "resource" in document:
            found.append((url, document))
            ctx.add(1, label, "PASS", f"200, resource={document['resource']}", ms=reply.ms)
        else:
            failures.append((label, url, f"{reply.status} {reply.text(80)}"))
    for label, url, got in failures:
        named = pointer is not None and url == pointer
        ctx.add(
            1,
            label,
            "FAIL" if (named or not found) else "WARN",
            f"no protected resource metadata at {url}",
            expected="200 with a JSON object carrying `resource` (RFC 9728)",
            got=got,
            fix="serve GET /.well-known/oauth-protected-resource and /.well-known/oauth-protected-resource/mcp "
            "as public routes at the domain root (no stage prefix, no authorizer)",
        )
    if not found:
        return False
    # The document a client reads first: the pointer's, then the path-suffixed one, then the root's.
    ctx.prm = found[0][1]
    # Every copy must agree: a client that falls back to another path reads that one.
    wrong = [(url, doc.get("resource")) for url, doc in found if doc.get("resource") != ctx.url]
    if not wrong:
        ctx.add(2, "resource", "PASS", f"equals the MCP URL {ctx.url}")
    else:
        url, resource = wrong[0]
        ctx.add(
            2,
            "resource",
            "FAIL",
            f"{_resource_mismatch(ctx.url, str(resource))} (in {urlsplit(url).path})",
            expected=ctx.url,
            got=str(resource),
            fix="set the resource URL (TENANTRY_RESOURCE_URL, the stack's McpUrl) to exactly the URL clients "
            "are given, or give clients the URL the document names",
        )
    servers = ctx.prm.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        ctx.add(
            2,
            "authorization_servers",
            "FAIL",
            "the document names no authorization server",
            expected='["https://<authorization server>"]',
            got=excerpt(servers),
            fix="set TENANTRY_AUTHORIZATION_SERVERS (the stack does this from its auth construct)",
        )
        return False
    ctx.as_url = servers[0]
    if not secure(ctx.as_url):
        ctx.add(
            2,
            "authorization_servers",
            "FAIL",
            "the authorization server is not on https",
            expected="https://…",
            got=ctx.as_url,
            fix="publish the authorization server on https",
        )
        return False
    ctx.http.allow(ctx.as_url)
    more = f" (clients use the first of {len(servers)})" if len(servers) > 1 else ""
    ctx.add(2, "authorization_servers", "PASS", f"{ctx.as_url}{more}")
    scopes = ctx.prm.get("scopes_supported")
    if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes) and scopes:
        ctx.scopes = [str(s) for s in scopes]
        ctx.add(2, "scopes_supported", "PASS", " ".join(ctx.scopes))
    else:
        ctx.add(
            2,
            "scopes_supported",
            "WARN",
            "no scopes advertised: clients will request none, and the /mcp route requires its scope",
            got=excerpt(scopes),
            fix="advertise the route's scope (mcp:tools, or its Cognito name) in TENANTRY_SCOPES_SUPPORTED",
        )
    return True


def authorization_server(ctx: DoctorContext) -> bool:
    """Step 3; True when its endpoints and PKCE are usable for registration and sign-in (metadata on ctx.meta)."""
    assert ctx.as_url is not None
    parts = urlsplit(ctx.as_url)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    rfc8414_url = origin + "/.well-known/oauth-authorization-server" + path
    oidc_url = ctx.as_url.rstrip("/") + "/.well-known/openid-configuration"
    documents: dict[str, dict[str, Any]] = {}
    for label, url in (("RFC 8414 metadata", rfc8414_url), ("OpenID discovery", oidc_url)):
        try:
            reply = ctx.get(url)
        except (UnreachableError, OutsideOriginError) as exc:
            ctx.add(3, label, "FAIL", str(exc), expected=f"200 at {url}", got=str(exc))
            continue
        document = reply.json()
        if reply.status != 200 or not isinstance(document, dict):
            documents_missing = label == "OpenID discovery"
            ctx.add(
                3,
                label,
                "WARN" if documents_missing else "FAIL",
                f"no document at {url}",
                expected="200 with a JSON object",
                got=f"{reply.status} {reply.text(80)}",
                fix=(
                    "the HTTP API JWT authorizer reads <token issuer>/.well-known/openid-configuration: serve it "
                    "there if tokens carry this issuer (Cognito serves its own)"
                    if documents_missing
                    else "serve RFC 8414 metadata at this path (the well-known segment goes before the issuer's path)"
                ),
                ms=reply.ms,
            )
            continue
        if document.get("issuer") != ctx.as_url:
            ctx.add(
                3,
                label,
                "FAIL",
                "issuer does not match the authorization server URL the resource names",
                expected=ctx.as_url,
                got=excerpt(document.get("issuer")),
                fix="the metadata's issuer must equal the authorization_servers entry character for character",
                ms=reply.ms,
            )
            continue
        documents[label] = document
        ctx.add(3, label, "PASS", f"issuer {ctx.as_url}", ms=reply.ms)
    if not documents:
        return False
    ctx.meta = documents.get("RFC 8414 metadata") or documents["OpenID discovery"]
    meta = ctx.meta
    for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
        if isinstance(meta.get(name), str) and meta[name]:
            ctx.http.allow(meta[name])  # the authorization server names them
    _check_endpoints(ctx, meta)
    methods = meta.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" in methods:
        ctx.add(3, "PKCE", "PASS", "S256 advertised")
    else:
        ctx.add(
            3,
            "PKCE",
            "FAIL",
            "S256 is not in code_challenge_methods_supported; MCP clients refuse to sign in without it",
            expected='code_challenge_methods_supported containing "S256"',
            got=excerpt(methods),
            fix="advertise S256 in the authorization server metadata (and require it at /authorize)",
        )
    cimd = meta.get("client_id_metadata_document_supported") is True
    dcr = isinstance(meta.get("registration_endpoint"), str)
    if cimd or dcr:
        ways = [w for w, on in (("client ID metadata documents", cimd), ("dynamic registration", dcr)) if on]
        ctx.add(3, "client registration", "PASS", " and ".join(ways))
    else:
        ctx.add(
            3,
            "client registration",
            "FAIL",
            "neither client_id_metadata_document_supported nor registration_endpoint: ChatGPT cannot register",
            expected="client_id_metadata_document_supported: true, or a registration_endpoint",
            got="neither",
            fix="enable CIMD or dynamic client registration on the authorization server",
        )
    advertised = meta.get("scopes_supported")
    if ctx.scopes and isinstance(advertised, list):
        missing = [s for s in ctx.scopes if s not in advertised]
        extra = [s for s in advertised if s not in ctx.scopes]
        if missing or extra:
            ctx.add(
                3,
                "scopes_supported",
                "WARN",
                "differs from the resource's; ChatGPT requests every advertised scope",
                expected=" ".join(ctx.scopes),
                got=" ".join(str(s) for s in advertised),
                fix="advertise the same scope(s) in both documents",
            )
        else:
            ctx.add(3, "scopes_supported", "PASS", "same as the resource's")
    _check_jwks(ctx, meta.get("jwks_uri"))
    return all(c.status != "FAIL" for c in ctx.checks if c.step == 3 and c.title in ("endpoints", "PKCE"))


def _check_endpoints(ctx: DoctorContext, meta: dict[str, Any]) -> None:
    problems = []
    for name in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(meta.get(name), str):
            problems.append(f"{name} is missing")
    for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
        value = meta.get(name)
        if value is not None and not secure(value):
            problems.append(f"{name} is not https ({excerpt(value, 60)})")
    if "code" not in meta.get("response_types_supported", ["code"]):
        problems.append("response_types_supported lacks code")
    if "authorization_code" not in meta.get("grant_types_supported", ["authorization_code"]):
        problems.append("grant_types_supported lacks authorization_code")
    if problems:
        ctx.add(
            3,
            "endpoints",
            "FAIL",
            "; ".join(problems),
            expected="https authorization and token endpoints for the code flow",
            got="; ".join(problems),
            fix="publish every endpoint on https and advertise the authorization code flow",
        )
    else:
        ctx.add(3, "endpoints", "PASS", "authorize and token endpoints on https (or loopback)")


def _check_jwks(ctx: DoctorContext, jwks_uri: Any) -> None:
    title = "JWKS"
    fix = "the HTTP API JWT authorizer needs a public JWKS of RSA keys (RS256/384/512) at jwks_uri"
    if not isinstance(jwks_uri, str):
        ctx.add(3, title, "FAIL", "no jwks_uri", expected="jwks_uri", got="absent", fix=fix)
        return
    try:
        reply = ctx.get(jwks_uri)
    except (UnreachableError, OutsideOriginError) as exc:
        ctx.add(3, title, "FAIL", str(exc), expected=f"200 at {jwks_uri}", got=str(exc), fix=fix)
        return
    document = reply.json()
    keys = document.get("keys") if isinstance(document, dict) else None
    if reply.status != 200 or not isinstance(keys, list) or not keys:
        ctx.add(
            3,
            title,
            "FAIL",
            f"the authorizer cannot read {jwks_uri}",
            expected='200 with {"keys": [...]}',
            got=f"{reply.status} {reply.text(80)}",
            fix=fix,
            ms=reply.ms,
        )
        return
    wrong = [k for k in keys if not isinstance(k, dict) or k.get("kty") != "RSA"]
    wrong += [k for k in keys if isinstance(k, dict) and k.get("alg") not in (None, "RS256", "RS384", "RS512")]
    if wrong:
        kinds = sorted({f"{k.get('kty')}/{k.get('alg')}" if isinstance(k, dict) else "?" for k in wrong})
        ctx.add(
            3,
            title,
            "FAIL",
            f"non-RSA key(s) {', '.join(kinds)}: the HTTP API JWT authorizer accepts RSA keys only",
            expected="kty RSA, alg RS256/RS384/RS512",
            got=", ".join(kinds),
            fix="sign tokens with an RSA key (KMS RSA_2048 with RSASSA_PKCS1_V1_5_SHA_256 gives RS256)",
            ms=reply.ms,
        )
        return
    ctx.jwks = document
    ctx.add(3, title, "PASS", f"{len(keys)} RSA key(s)", ms=reply.ms)
