"""`tenantry doctor`: walk a deployment's discovery and sign-in chain as an MCP client does.

Written against the standards, not against either authorization server's code:
RFC 9728 (protected resource metadata), RFC 8414 and OpenID discovery, JWKS,
RFC 7591 (dynamic client registration), client ID metadata documents (CIMD),
RFC 8707 (`resource`), PKCE S256. Each check is one line with PASS, FAIL, WARN
or SKIP; a failure says what was expected, what came back and the likely fix.
docs/chatgpt.md explains every check and the `--json` output.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import jwt
from pydantic import BaseModel, Field, ValidationError, field_validator

from tenantry_admin.doctor_http import FencedHttp, Loopback, OutsideOriginError, Reply, UnreachableError

__all__ = ["STEPS", "Browser", "Check", "DoctorOptions", "DoctorReport", "diagnose", "register", "render"]

STEPS = {
    1: "challenge",
    2: "protected resource",
    3: "authorization server",
    4: "client registration",
    5: "sign-in",
    6: "with a token",
    7: "timing",
}
Status = Literal["PASS", "FAIL", "WARN", "SKIP"]
# Opens (or shows) the authorize URL; the person signs in and their browser lands on the doctor's loopback.
Browser = Callable[[str], None]

_ACCEPT = "application/json, text/event-stream"
_PROTOCOL_VERSION = "2025-06-18"
# A tenant id no real token names: a mismatched X-Tenant-ID must be refused (403).
_OTHER_TENANT = "doctor-probe-other-tenant"
_FIX_HOST_CHECK = (
    "the MCP SDK's DNS-rebinding protection is on and checks the Host header; behind API Gateway the Host is the "
    "API's domain. Build the app with TransportSecuritySettings(enable_dns_rebinding_protection=False) "
    "(docs/upstream-notes.md)"
)
_FIX_PATH = (
    "give clients the stack's McpUrl exactly: /mcp at the end, no trailing slash, no stage name (a named stage "
    "puts every route under /<stage>/; use $default or a custom domain mapped on the empty path)"
)


class Check(BaseModel):
    step: int
    title: str
    status: Status
    detail: str = ""
    expected: str | None = None
    got: str | None = None
    fix: str | None = None
    ms: float | None = None


class DoctorReport(BaseModel):
    url: str
    ok: bool
    checks: list[Check]
    first_call_ms: float | None = None
    total_ms: float


class DoctorOptions(BaseModel):
    url: str
    token: str | None = None
    token_source: str = "--token"
    sign_in: bool = False
    client_metadata_url: str | None = None
    tenant_claim: str = "tenant_id"
    timeout: float = Field(default=10.0, gt=0, le=120)
    sign_in_timeout: float = Field(default=300.0, gt=0, le=3600)

    @field_validator("url", "client_metadata_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value[:80]}' is not an http(s) URL (e.g. https://mcp.example.com/mcp)")
        if parts.query or parts.fragment:
            raise ValueError(f"'{value[:80]}' carries a query or fragment; give the MCP URL alone")
        return value


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def _secure(url: object) -> bool:
    return isinstance(url, str) and (url.startswith("https://") or (url.startswith("http://") and _is_loopback(url)))


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _challenge_params(header: str) -> dict[str, str]:
    return {key.lower(): value for key, value in re.findall(r'([A-Za-z_]+)="([^"]*)"', header)}


def _rpc_payload(reply: Reply) -> Any:
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in reply.body.decode("utf-8", "replace").splitlines() if line[:5] == "data:"]
        try:
            return json.loads(data[-1]) if data else None
        except ValueError:
            return None
    return reply.json()


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


def _excerpt(value: Any, limit: int = 120) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Doctor:
    def __init__(self, options: DoctorOptions, http: FencedHttp, loopback: Loopback, browser: Browser) -> None:
        self.options = options
        self.url = options.url
        self.http = http
        self.loopback = loopback
        self.browser = browser
        self.checks: list[Check] = []
        self.prm: dict[str, Any] | None = None
        self.scopes: list[str] = []
        self.as_url: str | None = None
        self.meta: dict[str, Any] | None = None
        self.jwks: dict[str, Any] | None = None
        self.clients: dict[str, tuple[str, str]] = {}  # kind -> (client_id, loopback redirect URI)
        self.cleanup: tuple[str, str] | None = None  # (registration_client_uri, registration_access_token)
        self.first_call_ms: float | None = None
        self._protocol: str | None = None
        self.metadata_pointer: str | None = None  # the 401's resource_metadata
        self.registered_client: str | None = None  # a DCR client to clean up

    # -- recording ------------------------------------------------------------------------------
    def add(self, step: int, title: str, status: Status, detail: str = "", **extra: Any) -> Check:
        check = Check(step=step, title=title, status=status, detail=detail, **extra)
        self.checks.append(check)
        return check

    def skip_steps(self, steps: range, reason: str) -> None:
        for step in steps:
            self.add(step, STEPS[step], "SKIP", reason)

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.http.request("GET", url, headers={"accept": "application/json"}, **kwargs)

    # -- the walk -------------------------------------------------------------------------------
    def run(self) -> None:
        blocked = self.step_challenge()
        if blocked:
            self.skip_steps(range(2, 7), f"not run: {blocked} (step 1)")
            return
        if self.step_resource():
            if self.step_authorization_server():
                self.step_registration()
                self.step_sign_in()
            else:
                self.skip_steps(range(4, 6), "not run: no usable authorization server metadata (step 3)")
        else:
            self.skip_steps(range(3, 6), "not run: no usable protected resource metadata (step 2)")
        self.step_with_token()

    # -- 1. the unauthenticated call ------------------------------------------------------------
    def step_challenge(self) -> str | None:
        """Why the walk cannot go on, or None when it can."""
        if not _secure(self.url):
            self.add(
                1,
                "URL scheme",
                "FAIL",
                "ChatGPT connects to https URLs only",
                expected="https://…/mcp",
                got=self.url,
                fix="use the stack's McpUrl output (https); plain http works only on loopback for local testing",
            )
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": self._init_params()}
        title = "POST /mcp without a token"
        try:
            reply = self.http.request("POST", self.url, json=body, headers={"accept": _ACCEPT})
        except UnreachableError as exc:
            fix = (
                "check the certificate covers this host (a custom domain needs its ACM certificate and API mapping); "
                "WRONG_VERSION_NUMBER means the server speaks plain http (use http:// for a local server)"
                if "TLS" in str(exc)
                else "check the URL's host and port; for ./dev local, start it first"
            )
            self.add(1, title, "FAIL", str(exc), expected="an HTTP answer: 401", fix=fix)
            return "the MCP URL gave no HTTP answer"
        expected = "401 with a WWW-Authenticate challenge"
        if reply.status == 401:
            self.add(1, title, "PASS", "401 Unauthorized", ms=reply.ms)
        elif reply.status == 200:
            self.add(
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
            self.add(1, title, "FAIL", "421 Misdirected Request", expected=expected, got="421", fix=_FIX_HOST_CHECK)
        elif reply.status == 404:
            self.add(
                1, title, "FAIL", "nothing is served at this path: not an MCP URL", expected=expected,
                got=f"404 {reply.text(80)}", fix=_FIX_PATH, ms=reply.ms,
            )  # fmt: skip
        else:
            self.add(
                1, title, "FAIL", f"HTTP {reply.status}: not an MCP endpoint behind a JWT authorizer",
                expected=expected, got=f"{reply.status} {reply.text(80)}", fix=_FIX_PATH, ms=reply.ms,
            )  # fmt: skip
        if reply.status == 401:
            header = reply.headers.get("www-authenticate", "")
            params = _challenge_params(header)
            if not header.lower().startswith("bearer"):
                self.add(
                    1,
                    "WWW-Authenticate",
                    "WARN",
                    "no Bearer challenge; clients fall back to the well-known paths",
                    got=header or "(absent)",
                )
            elif "resource_metadata" in params:
                self.metadata_pointer = params["resource_metadata"]
                self.add(1, "WWW-Authenticate", "PASS", f"Bearer, resource_metadata={self.metadata_pointer}")
            else:
                self.add(
                    1,
                    "WWW-Authenticate",
                    "WARN",
                    "Bearer without resource_metadata (API Gateway's JWT authorizer cannot add it); "
                    "clients fall back to the well-known paths, checked next",
                )
        if reply.status not in (200, 401):
            return "the URL does not answer as an MCP endpoint"
        return None

    def _init_params(self) -> dict[str, Any]:
        return {
            "protocolVersion": _PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "tenantry-doctor", "version": "1"},
        }

    # -- 2. the protected resource document ----------------------------------------------------
    def step_resource(self) -> bool:
        parts = urlsplit(self.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        suffixed = origin + "/.well-known/oauth-protected-resource" + parts.path.rstrip("/")
        root = origin + "/.well-known/oauth-protected-resource"
        candidates: list[tuple[str, str]] = []
        pointer = self.metadata_pointer
        if pointer and pointer not in (suffixed, root):
            candidates.append(("resource_metadata pointer", pointer))
        candidates += [("well-known " + urlsplit(suffixed).path, suffixed), ("well-known " + urlsplit(root).path, root)]
        found: list[tuple[str, dict[str, Any]]] = []
        failures: list[tuple[str, str, str]] = []
        for label, url in candidates:
            try:
                reply = self.get(url)
            except (UnreachableError, OutsideOriginError) as exc:
                failures.append((label, url, str(exc)))
                continue
            document = reply.json()
            if reply.status == 200 and isinstance(document, dict) and "resource" in document:
                found.append((url, document))
                self.add(1, label, "PASS", f"200, resource={document['resource']}", ms=reply.ms)
            else:
                failures.append((label, url, f"{reply.status} {reply.text(80)}"))
        for label, url, got in failures:
            named = pointer is not None and url == pointer
            self.add(
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
        self.prm = found[0][1]
        # Every copy must agree: a client that falls back to another path reads that one.
        wrong = [(url, doc.get("resource")) for url, doc in found if doc.get("resource") != self.url]
        if not wrong:
            self.add(2, "resource", "PASS", f"equals the MCP URL {self.url}")
        else:
            url, resource = wrong[0]
            self.add(
                2,
                "resource",
                "FAIL",
                f"{_resource_mismatch(self.url, str(resource))} (in {urlsplit(url).path})",
                expected=self.url,
                got=str(resource),
                fix="set the resource URL (TENANTRY_RESOURCE_URL, the stack's McpUrl) to exactly the URL clients "
                "are given, or give clients the URL the document names",
            )
        servers = self.prm.get("authorization_servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
            self.add(
                2,
                "authorization_servers",
                "FAIL",
                "the document names no authorization server",
                expected='["https://<authorization server>"]',
                got=_excerpt(servers),
                fix="set TENANTRY_AUTHORIZATION_SERVERS (the stack does this from its auth construct)",
            )
            return False
        self.as_url = servers[0]
        if not _secure(self.as_url):
            self.add(
                2,
                "authorization_servers",
                "FAIL",
                "the authorization server is not on https",
                expected="https://…",
                got=self.as_url,
                fix="publish the authorization server on https",
            )
            return False
        self.http.allow(self.as_url)
        more = f" (clients use the first of {len(servers)})" if len(servers) > 1 else ""
        self.add(2, "authorization_servers", "PASS", f"{self.as_url}{more}")
        scopes = self.prm.get("scopes_supported")
        if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes) and scopes:
            self.scopes = [str(s) for s in scopes]
            self.add(2, "scopes_supported", "PASS", " ".join(self.scopes))
        else:
            self.add(
                2,
                "scopes_supported",
                "WARN",
                "no scopes advertised: clients will request none, and the /mcp route requires its scope",
                got=_excerpt(scopes),
                fix="advertise the route's scope (mcp:tools, or its Cognito name) in TENANTRY_SCOPES_SUPPORTED",
            )
        return True

    # -- 3. the authorization server -------------------------------------------------------------
    def step_authorization_server(self) -> bool:
        assert self.as_url is not None
        parts = urlsplit(self.as_url)
        origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
        rfc8414_url = origin + "/.well-known/oauth-authorization-server" + path
        oidc_url = self.as_url.rstrip("/") + "/.well-known/openid-configuration"
        documents: dict[str, dict[str, Any]] = {}
        for label, url in (("RFC 8414 metadata", rfc8414_url), ("OpenID discovery", oidc_url)):
            try:
                reply = self.get(url)
            except (UnreachableError, OutsideOriginError) as exc:
                self.add(3, label, "FAIL", str(exc), expected=f"200 at {url}", got=str(exc))
                continue
            document = reply.json()
            if reply.status != 200 or not isinstance(document, dict):
                documents_missing = label == "OpenID discovery"
                self.add(
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
                        else "serve RFC 8414 metadata at this path (the well-known segment goes before the issuer's "
                        "path)"
                    ),
                    ms=reply.ms,
                )
                continue
            if document.get("issuer") != self.as_url:
                self.add(
                    3,
                    label,
                    "FAIL",
                    "issuer does not match the authorization server URL the resource names",
                    expected=self.as_url,
                    got=_excerpt(document.get("issuer")),
                    fix="the metadata's issuer must equal the authorization_servers entry character for character",
                    ms=reply.ms,
                )
                continue
            documents[label] = document
            self.add(3, label, "PASS", f"issuer {self.as_url}", ms=reply.ms)
        if not documents:
            return False
        self.meta = documents.get("RFC 8414 metadata") or documents["OpenID discovery"]
        meta = self.meta
        for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
            if isinstance(meta.get(name), str) and meta[name]:
                self.http.allow(meta[name])  # the authorization server names them
        self._check_endpoints(meta)
        methods = meta.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" in methods:
            self.add(3, "PKCE", "PASS", "S256 advertised")
        else:
            self.add(
                3,
                "PKCE",
                "FAIL",
                "S256 is not in code_challenge_methods_supported; MCP clients refuse to sign in without it",
                expected='code_challenge_methods_supported containing "S256"',
                got=_excerpt(methods),
                fix="advertise S256 in the authorization server metadata (and require it at /authorize)",
            )
        cimd = meta.get("client_id_metadata_document_supported") is True
        dcr = isinstance(meta.get("registration_endpoint"), str)
        if cimd or dcr:
            ways = [w for w, on in (("client ID metadata documents", cimd), ("dynamic registration", dcr)) if on]
            self.add(3, "client registration", "PASS", " and ".join(ways))
        else:
            self.add(
                3,
                "client registration",
                "FAIL",
                "neither client_id_metadata_document_supported nor registration_endpoint: ChatGPT cannot register",
                expected="client_id_metadata_document_supported: true, or a registration_endpoint",
                got="neither",
                fix="enable CIMD or dynamic client registration on the authorization server",
            )
        advertised = meta.get("scopes_supported")
        if self.scopes and isinstance(advertised, list):
            missing = [s for s in self.scopes if s not in advertised]
            extra = [s for s in advertised if s not in self.scopes]
            if missing or extra:
                self.add(
                    3,
                    "scopes_supported",
                    "WARN",
                    "differs from the resource's; ChatGPT requests every advertised scope",
                    expected=" ".join(self.scopes),
                    got=" ".join(str(s) for s in advertised),
                    fix="advertise the same scope(s) in both documents",
                )
            else:
                self.add(3, "scopes_supported", "PASS", "same as the resource's")
        self._check_jwks(meta.get("jwks_uri"))
        return all(c.status != "FAIL" for c in self.checks if c.step == 3 and c.title in ("endpoints", "PKCE"))

    def _check_endpoints(self, meta: dict[str, Any]) -> None:
        problems = []
        for name in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(meta.get(name), str):
                problems.append(f"{name} is missing")
        for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
            value = meta.get(name)
            if value is not None and not _secure(value):
                problems.append(f"{name} is not https ({_excerpt(value, 60)})")
        if "code" not in meta.get("response_types_supported", ["code"]):
            problems.append("response_types_supported lacks code")
        if "authorization_code" not in meta.get("grant_types_supported", ["authorization_code"]):
            problems.append("grant_types_supported lacks authorization_code")
        if problems:
            self.add(
                3,
                "endpoints",
                "FAIL",
                "; ".join(problems),
                expected="https authorization and token endpoints for the code flow",
                got="; ".join(problems),
                fix="publish every endpoint on https and advertise the authorization code flow",
            )
        else:
            self.add(3, "endpoints", "PASS", "authorize and token endpoints on https (or loopback)")

    def _check_jwks(self, jwks_uri: Any) -> None:
        title = "JWKS"
        fix = "the HTTP API JWT authorizer needs a public JWKS of RSA keys (RS256/384/512) at jwks_uri"
        if not isinstance(jwks_uri, str):
            self.add(3, title, "FAIL", "no jwks_uri", expected="jwks_uri", got="absent", fix=fix)
            return
        try:
            reply = self.get(jwks_uri)
        except (UnreachableError, OutsideOriginError) as exc:
            self.add(3, title, "FAIL", str(exc), expected=f"200 at {jwks_uri}", got=str(exc), fix=fix)
            return
        document = reply.json()
        keys = document.get("keys") if isinstance(document, dict) else None
        if reply.status != 200 or not isinstance(keys, list) or not keys:
            self.add(
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
            self.add(
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
        self.jwks = document
        self.add(3, title, "PASS", f"{len(keys)} RSA key(s)", ms=reply.ms)

    # -- 4. client registration ------------------------------------------------------------------
    def step_registration(self) -> None:
        assert self.meta is not None and self.as_url is not None
        if self.meta.get("client_id_metadata_document_supported") is True:
            self._cimd()
        else:
            self.add(4, "client ID metadata document", "SKIP", "not advertised by the authorization server")
        if isinstance(self.meta.get("registration_endpoint"), str):
            self._dcr(self.meta["registration_endpoint"])
        else:
            self.add(4, "dynamic registration", "SKIP", "no registration_endpoint advertised")

    def _cimd(self) -> None:
        assert self.as_url is not None
        title = "client ID metadata document"
        if self.options.client_metadata_url:
            url = self.options.client_metadata_url
            self.http.allow(url)  # the operator named it
            try:
                reply = self.get(url)
            except UnreachableError as exc:
                self.add(4, title, "FAIL", str(exc), expected=f"200 at {url}", got=str(exc))
                return
            document = reply.json()
            redirects = document.get("redirect_uris") if isinstance(document, dict) else None
            if reply.status != 200 or not isinstance(document, dict) or document.get("client_id") != url:
                self.add(
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
                self.add(4, title, "FAIL", "the document has no redirect_uris", got=_excerpt(redirects))
                return
            self._probe(title, url, redirects[0], "the operator's document")
            return
        if not _is_loopback(self.as_url):
            self.add(
                4,
                title,
                "WARN",
                "skipped: the doctor can serve its own document only to a local authorization server",
                fix="host a client metadata document on https and pass --client-metadata-url URL",
            )
            return
        self.loopback.document = {
            "client_id": self.loopback.document_url,
            "client_name": "tenantry doctor",
            "redirect_uris": [self.loopback.redirect_uri],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        if self._probe(title, self.loopback.document_url, self.loopback.redirect_uri, "the doctor's own document"):
            self.clients["cimd"] = (self.loopback.document_url, self.loopback.redirect_uri)

    def _dcr(self, endpoint: str) -> None:
        title = "dynamic registration"
        registered = self._register(endpoint, self.loopback.redirect_uri)
        if isinstance(registered, str):
            self.add(
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
            again = self._register(endpoint, chatgpt)
            if isinstance(again, dict) and isinstance(again.get("client_id"), str):
                self._remember_cleanup(again)
                self.add(
                    4,
                    title,
                    "PASS",
                    f"loopback redirects refused (normal deployed); ChatGPT's redirect {chatgpt} accepted",
                )
                return
            self.add(
                4,
                title,
                "FAIL",
                "ChatGPT's redirect URI is refused",
                expected=f"201 for redirect_uris [{chatgpt}]",
                got=_excerpt(again),
                fix="allow the redirect host chatgpt.com on the registration endpoint (dcr_redirect_hosts)",
            )
            return
        client_id = registered.get("client_id")
        if not isinstance(client_id, str):
            self.add(4, title, "FAIL", "the registration answer has no client_id", got=_excerpt(registered))
            return
        self._remember_cleanup(registered)
        if self._probe(title, client_id, self.loopback.redirect_uri, f"registered {client_id}"):
            self.clients["dcr"] = (client_id, self.loopback.redirect_uri)

    def _register(self, endpoint: str, redirect_uri: str) -> dict[str, Any] | str:
        metadata = {
            "client_name": "tenantry doctor (safe to delete)",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        try:
            reply = self.http.request("POST", endpoint, json=metadata, headers={"accept": "application/json"})
        except (UnreachableError, OutsideOriginError) as exc:
            return str(exc)
        document = reply.json()
        if reply.status in (200, 201) and isinstance(document, dict):
            return document
        if reply.status == 400 and isinstance(document, dict) and isinstance(document.get("error"), str):
            return document
        return f"HTTP {reply.status}: {reply.text(100)}"

    def _remember_cleanup(self, registered: dict[str, Any]) -> None:
        uri, token = registered.get("registration_client_uri"), registered.get("registration_access_token")
        if isinstance(uri, str) and isinstance(token, str):
            self.cleanup = (uri, token)
        self.registered_client = str(registered.get("client_id"))

    def _probe(self, title: str, client_id: str, redirect_uri: str, what: str) -> bool:
        """Send an authorization request for this client; accepted means a sign-in page (or a redirect to one)."""
        assert self.meta is not None
        _, challenge = _pkce()
        params = self._authorize_params(client_id, redirect_uri, challenge, "doctor-probe")
        try:
            reply = self.http.request("GET", self.meta["authorization_endpoint"] + "?" + urlencode(params))
        except (UnreachableError, OutsideOriginError) as exc:
            self.add(4, title, "FAIL", str(exc), expected="a sign-in page", got=str(exc))
            return False
        location = reply.headers.get("location", "")
        fetched = f", document fetched {self.loopback.document_fetches}x" if what.startswith("the doctor") else ""
        if reply.status in (301, 302, 303, 307) and location.startswith(redirect_uri):
            answer = dict(parse_qsl(urlsplit(location).query))
            if "error" in answer:
                self.add(
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
            self.add(4, title, "PASS", f"{what}: authorization request accepted{fetched}", ms=reply.ms)
            return True
        self.add(
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

    def _authorize_params(self, client_id: str, redirect_uri: str, challenge: str, state: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": self.url,
        }
        if self.scopes:
            params["scope"] = " ".join(self.scopes)
        return params

    def finish_cleanup(self) -> None:
        client = self.registered_client
        if client is None:
            return
        if self.cleanup is None:
            self.add(
                4,
                "registration cleanup",
                "PASS",
                f"{client} left registered: the server offers no RFC 7592 endpoint to delete it (it expires or "
                "stays idle per the server's policy)",
            )
            return
        uri, token = self.cleanup
        self.http.allow(uri)  # named by the authorization server's registration answer
        try:
            reply = self.http.request("DELETE", uri, headers={"authorization": f"Bearer {token}"})
        except (UnreachableError, OutsideOriginError) as exc:
            self.add(4, "registration cleanup", "WARN", f"could not delete {client}: {exc}")
            return
        status: Status = "PASS" if reply.status in (200, 204) else "WARN"
        self.add(4, "registration cleanup", status, f"DELETE {client}: HTTP {reply.status}", ms=reply.ms)

    # -- 5. interactive sign-in ------------------------------------------------------------------
    def step_sign_in(self) -> None:
        if not self.options.sign_in:
            self.add(5, "sign-in", "SKIP", "not requested (pass --sign-in to sign in through a browser)")
            return
        assert self.meta is not None
        kind = "cimd" if "cimd" in self.clients else "dcr" if "dcr" in self.clients else None
        if kind is None:
            self.add(
                5,
                "sign-in",
                "FAIL",
                "no client with a loopback redirect was accepted in step 4",
                expected="a CIMD or DCR client the doctor can receive the code for",
                got="none",
                fix="allow loopback redirect URIs (RFC 8252) for registration, or sign in with ChatGPT itself",
            )
            return
        client_id, redirect_uri = self.clients[kind]
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(16)
        url = (
            self.meta["authorization_endpoint"]
            + "?"
            + urlencode(self._authorize_params(client_id, redirect_uri, challenge, state))
        )
        started = time.perf_counter()
        self.browser(url)
        answer = self.loopback.wait_for_callback(self.options.sign_in_timeout)
        ms = (time.perf_counter() - started) * 1000
        title = f"authorization ({kind.upper()} client)"
        if answer is None:
            self.add(
                5,
                title,
                "FAIL",
                f"no redirect reached {redirect_uri} within {self.options.sign_in_timeout:g} s",
                fix="finish the sign-in in the browser window (or open the printed URL)",
            )
            return
        if answer.get("state") != state or "error" in answer or "code" not in answer:
            got = (
                f"{answer.get('error')}: {answer.get('error_description', '')}"
                if "error" in answer
                else f"state {answer.get('state')!r}, code {'present' if 'code' in answer else 'absent'}"
            )
            self.add(
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
        if self.meta.get("authorization_response_iss_parameter_supported") and answer.get("iss") != self.as_url:
            self.add(
                5, title, "FAIL", "the redirect's iss is not the authorization server (RFC 9207)",
                expected=self.as_url, got=str(answer.get("iss")), ms=ms,
            )  # fmt: skip
            return
        self.add(5, title, "PASS", "code received on the loopback redirect", ms=ms)
        form = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": self.url,
        }
        try:
            reply = self.http.request(
                "POST", self.meta["token_endpoint"], data=form, headers={"accept": "application/json"}
            )
        except (UnreachableError, OutsideOriginError) as exc:
            self.add(5, "token request", "FAIL", str(exc), got=str(exc))
            return
        tokens = reply.json()
        if reply.status != 200 or not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
            error = tokens if isinstance(tokens, dict) else reply.text(100)
            self.add(
                5,
                "token request",
                "FAIL",
                "the code was not redeemed (PKCE S256 and resource were sent)",
                expected="200 with an access_token",
                got=f"{reply.status} {_excerpt(error)}",
                fix="invalid_target: the server does not accept resource=<MCP URL> (RFC 8707); invalid_grant: the "
                "code or verifier was refused",
                ms=reply.ms,
            )
            return
        self.add(5, "token request", "PASS", f"access token issued ({tokens.get('token_type', '?')})", ms=reply.ms)
        if self._check_token(tokens["access_token"]):
            self.options = self.options.model_copy(
                update={"token": tokens["access_token"], "token_source": "the sign-in"}
            )

    def _check_token(self, token: str) -> bool:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            self.add(
                5,
                "access token",
                "FAIL",
                f"not a JWT ({exc}): the HTTP API JWT authorizer accepts JWTs only",
                fix="issue JWT access tokens (RFC 9068)",
            )
            return False
        ok = True
        iss = claims.get("iss")
        verified = self._verify_signature(token, header)
        if iss == self.as_url and verified:
            self.add(5, "token iss and signature", "PASS", f"iss {iss}, {header.get('alg')} key {header.get('kid')}")
        elif verified:
            self.add(
                5,
                "token iss and signature",
                "WARN",
                "iss differs from the authorization server; the JWT authorizer must trust this issuer, and "
                f"{iss}/.well-known/openid-configuration must be public",
                expected=self.as_url,
                got=str(iss),
            )
        else:
            ok = False
            self.add(
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
        if self.url in audience_list:
            self.add(5, "token aud", "PASS", f"aud is the MCP URL {self.url}")
        else:
            ok = False
            self.add(
                5,
                "token aud",
                "FAIL",
                "aud is not the MCP URL, so API Gateway's authorizer refuses the token (401 invalid audience)",
                expected=self.url,
                got=_excerpt(audiences),
                fix="the authorization server must honour resource=<MCP URL> (RFC 8707) as the audience; with "
                "Cognito, a resource server whose identifier is exactly McpUrl",
            )
        tenant = claims.get(self.options.tenant_claim)
        if isinstance(tenant, str) and tenant:
            self.add(5, "token tenant", "PASS", f"{self.options.tenant_claim}={tenant}")
        else:
            ok = False
            self.add(
                5,
                "token tenant",
                "FAIL",
                f"no '{self.options.tenant_claim}' claim: the server cannot tell which tenant the user acts for",
                expected=f"{self.options.tenant_claim}=<tenant id>",
                got="absent",
                fix=(
                    "the authorization server adds the tenant chosen at sign-in; "
                    "the user needs a membership (tenantry members add)"
                ),
            )
        now = time.time()
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp > now:
            self.add(5, "token expiry", "PASS", f"expires in {int(exp - now)} s")
        else:
            ok = False
            self.add(5, "token expiry", "FAIL", "the token has no exp or is already expired", got=str(exp))
        granted = set(str(claims.get("scope") or "").split())
        scp = claims.get("scp")
        granted |= set(scp.split()) if isinstance(scp, str) else {str(s) for s in scp or []}
        if not self.scopes or granted & set(self.scopes):
            self.add(5, "token scope", "PASS", " ".join(sorted(granted)) or "(none asked)")
        else:
            ok = False
            self.add(
                5,
                "token scope",
                "FAIL",
                "the token lacks the advertised scope; the /mcp route answers 403 insufficient_scope",
                expected=" ".join(self.scopes),
                got=" ".join(sorted(granted)) or "(none)",
                fix="grant the advertised scope to registered clients",
            )
        return ok

    def _verify_signature(self, token: str, header: dict[str, Any]) -> bool:
        if self.jwks is None:
            return False
        try:
            keys = jwt.PyJWKSet.from_dict(self.jwks)
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

    # -- 6. with a token -------------------------------------------------------------------------
    def step_with_token(self) -> None:
        token = self.options.token
        if not token:
            self.add(
                6,
                "tool calls",
                "SKIP",
                "no token: pass --sign-in, or --token TOKEN (a token for this deployment)",
            )
            return
        source = self.options.token_source
        reply, payload = self._rpc(token, "initialize", self._init_params(), 1)
        if reply is None:
            return
        self.first_call_ms = reply.ms
        result = payload.get("result") if isinstance(payload, dict) else None
        if reply.status != 200 or not isinstance(result, dict):
            self._refused("initialize", reply, payload, source)
            return
        self._protocol = str(result.get("protocolVersion") or _PROTOCOL_VERSION)
        server = (result.get("serverInfo") or {}).get("name", "?")
        self.add(6, "initialize", "PASS", f"{server}, protocol {self._protocol} (token from {source})", ms=reply.ms)
        self._rpc(token, "notifications/initialized", None, None)
        reply, payload = self._rpc(token, "tools/list", {}, 2)
        if reply is None:
            return
        result = payload.get("result") if isinstance(payload, dict) else None
        tools = result.get("tools") if isinstance(result, dict) else None
        if reply.status != 200 or not isinstance(tools, list):
            self._refused("tools/list", reply, payload, source)
            return
        names = [str(t.get("name")) for t in tools if isinstance(t, dict)]
        self.add(6, "tools/list", "PASS", f"{len(names)} tool(s): {', '.join(names[:8])}", ms=reply.ms)
        if "get_tenant_profile" not in names:
            self.add(6, "get_tenant_profile", "WARN", "not offered to this tenant's plan; cross-tenant check skipped")
            return
        call = {"name": "get_tenant_profile", "arguments": {}}
        reply, payload = self._rpc(token, "tools/call", call, 3)
        if reply is None:
            return
        result = payload.get("result") if isinstance(payload, dict) else None
        if reply.status != 200 or not isinstance(result, dict) or result.get("isError"):
            self._refused("get_tenant_profile", reply, payload, source)
            return
        structured = result.get("structuredContent")
        profile: dict[str, Any] = structured if isinstance(structured, dict) else {}
        tenant = str(profile.get("tenant_id", "?"))
        claimed = self._token_tenant(token)
        if claimed is not None and tenant != claimed:
            self.add(
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
        self.add(6, "get_tenant_profile", "PASS", f"tenant {tenant} ({name}, plan {profile.get('plan')})", ms=reply.ms)
        other = _OTHER_TENANT if tenant != _OTHER_TENANT else _OTHER_TENANT + "-2"
        reply, payload = self._rpc(token, "tools/call", call, 4, {"x-tenant-id": other})
        if reply is None:
            return
        if reply.status == 403:
            self.add(6, "cross-tenant refusal", "PASS", f"X-Tenant-ID: {other} refused with 403", ms=reply.ms)
        else:
            self.add(
                6,
                "cross-tenant refusal",
                "FAIL",
                "a request whose X-Tenant-ID names another tenant was not refused",
                expected="403",
                got=f"{reply.status} {reply.text(100)}",
                fix="the gateway must refuse a tenant header that disagrees with the token (tenancy/resolver.py)",
                ms=reply.ms,
            )

    def _token_tenant(self, token: str) -> str | None:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        value = claims.get(self.options.tenant_claim)
        return value if isinstance(value, str) else None

    def _rpc(
        self, token: str, method: str, params: Any, rpc_id: int | None, extra: dict[str, str] | None = None
    ) -> tuple[Reply | None, Any]:
        headers = {"authorization": f"Bearer {token}", "accept": _ACCEPT, "content-type": "application/json"}
        if self._protocol:
            headers["mcp-protocol-version"] = self._protocol
        headers.update(extra or {})
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if rpc_id is not None:
            message["id"] = rpc_id
        if params is not None:
            message["params"] = params
        try:
            reply = self.http.request("POST", self.url, content=json.dumps(message), headers=headers)
        except UnreachableError as exc:
            self.add(6, method, "FAIL", str(exc), got=str(exc), fix="the endpoint stopped answering; re-run")
            return None, None
        return reply, _rpc_payload(reply)

    def _refused(self, what: str, reply: Reply, payload: Any, source: str) -> None:
        challenge = _challenge_params(reply.headers.get("www-authenticate", ""))
        description = challenge.get("error_description", "")
        rpc_error = payload.get("error") if isinstance(payload, dict) else None
        message = rpc_error.get("message") if isinstance(rpc_error, dict) else None
        got = f"{reply.status} {description or message or reply.text(100)}"
        if reply.status == 421:
            fix = _FIX_HOST_CHECK
        elif reply.status == 401 and "audience" in description:
            fix = (
                f"the token's aud is not an audience of the authorizer: tokens must carry aud = {self.url} "
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
        self.add(6, what, "FAIL", f"refused with the token from {source}", expected="200", got=got, fix=fix)

    # -- 7. timing -------------------------------------------------------------------------------
    def timing(self, total_ms: float) -> None:
        timed = [c for c in self.checks if c.ms is not None and c.step != 5]
        slowest = max(timed, key=lambda c: c.ms or 0.0, default=None)
        parts = [f"total {total_ms:.0f} ms"]
        if self.first_call_ms is not None:
            parts.append(f"first authenticated call {self.first_call_ms:.0f} ms (a cold start shows here)")
        if slowest is not None:
            parts.append(f"slowest: {slowest.title} {slowest.ms:.0f} ms")
        # Informational: figures depend on the network and on cold starts, never a verdict.
        self.add(7, "timing", "PASS", "; ".join(parts), ms=total_ms)


def _print_url(url: str) -> None:
    print(f"Sign in at this URL (the doctor waits for the redirect):\n  {url}", file=sys.stderr)


def open_browser(url: str) -> None:
    _print_url(url)
    webbrowser.open(url)


def diagnose(
    options: DoctorOptions, browser: Browser = open_browser, transport: httpx2.BaseTransport | None = None
) -> DoctorReport:
    """Walk every step against options.url; `transport` lets tests put a rewriting proxy in the way."""
    started = time.perf_counter()
    http = FencedHttp(options.timeout, transport)
    http.allow(options.url)
    doctor: _Doctor | None = None
    try:
        with Loopback().running() as loopback:
            http.allow(loopback.base_url)
            doctor = _Doctor(options, http, loopback, browser)
            try:
                doctor.run()
            finally:
                doctor.finish_cleanup()
    finally:
        http.close()
    total = (time.perf_counter() - started) * 1000
    doctor.timing(total)
    order = {id(c): i for i, c in enumerate(doctor.checks)}
    checks = sorted(doctor.checks, key=lambda c: (c.step, order[id(c)]))
    return DoctorReport(
        url=options.url,
        ok=all(c.status != "FAIL" for c in checks),
        checks=checks,
        first_call_ms=doctor.first_call_ms,
        total_ms=round(total, 1),
    )


def render(report: DoctorReport) -> str:
    lines = [f"tenantry doctor: {report.url}"]
    step = 0
    for check in report.checks:
        if check.step != step:
            step = check.step
            lines.append(f"{step}. {STEPS[step]}")
        ms = f" ({check.ms:.0f} ms)" if check.ms is not None and check.step != 7 else ""
        lines.append(f"  {check.status:<4}  {check.title}: {check.detail}{ms}")
        if check.status in ("FAIL", "WARN"):
            for label, value in (("expected", check.expected), ("got", check.got), ("fix", check.fix)):
                if value and value != check.detail:
                    lines.append(f"          {label + ':':<9} {' '.join(value.split())}")
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in ("PASS", "WARN", "FAIL", "SKIP")}
    verdict = "ready for ChatGPT" if report.ok else "not ready: fix the first FAIL above and run again"
    lines.append(
        f"{counts['PASS']} passed, {counts['WARN']} warning(s), {counts['FAIL']} failed, {counts['SKIP']} skipped: "
        + verdict
    )
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------------
class DoctorInputError(Exception):
    """The command line cannot name a target; one line for the operator."""


def _stack_url(stack: str, region: str | None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(region_name=region)
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise DoctorInputError(f"Cannot read stack {stack}: {' '.join(str(exc).split())}") from None
    outputs = {o.get("OutputKey"): o.get("OutputValue") for o in stacks[0].get("Outputs", [])}
    url = outputs.get("McpUrl")
    if not url:
        raise DoctorInputError(f"Stack {stack} has no McpUrl output; is it a Tenantry stack?")
    return str(url)


def _local_target(state_dir: Path) -> tuple[str, str | None]:
    described = state_dir / "local.json"
    try:
        info = json.loads(described.read_text())
    except FileNotFoundError:
        raise DoctorInputError(
            f"No URL given and no local server state in {described}: pass the MCP URL, --stack NAME, "
            "or start `tenantry local`."
        ) from None
    except ValueError:
        raise DoctorInputError(f"{described} is not JSON; restart `tenantry local`.") from None
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str):
        raise DoctorInputError(f"{described} names no URL; restart `tenantry local`.")
    tenants = info.get("tenants") if isinstance(info.get("tenants"), dict) else {}
    tokens = [t.get("token") for t in tenants.values() if isinstance(t, dict) and isinstance(t.get("token"), str)]
    return url, (tokens[0] if tokens else None)


def _command(args: argparse.Namespace) -> int:
    try:
        token, source = args.token, "--token"
        if args.url and args.stack:
            raise DoctorInputError("Give either a URL or --stack NAME, not both.")
        if args.url:
            url = args.url
        elif args.stack:
            url = _stack_url(args.stack, args.region)
        else:
            url, local_token = _local_target(Path(args.state_dir))
            if token is None and local_token is not None:
                token, source = local_token, "the local server's demo token"
        options = DoctorOptions(
            url=url,
            token=token,
            token_source=source,
            sign_in=args.sign_in,
            client_metadata_url=args.client_metadata_url,
            tenant_claim=args.tenant_claim,
            timeout=args.timeout,
            sign_in_timeout=args.sign_in_timeout,
        )
    except DoctorInputError as exc:
        print(f"tenantry: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        print(f"tenantry: {where}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    browser: Browser = _print_url if args.no_browser else open_browser
    try:
        report = diagnose(options, browser)
    except KeyboardInterrupt:
        print("tenantry: interrupted", file=sys.stderr)
        return 130
    print(report.model_dump_json(indent=2) if args.json else render(report))
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor` to the `tenantry` parser."""
    help = "check a deployment the way ChatGPT will, and name the step that fails"
    p = sub.add_parser("doctor", help=help, description=help + " (docs/chatgpt.md)")
    p.add_argument("url", nargs="?", help="the MCP URL (default: the running local server)")
    p.add_argument("--stack", help="a deployed stack's name: check its McpUrl output")
    p.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--sign-in", action="store_true", help="sign in through a browser (step 5) and use that token")
    p.add_argument("--no-browser", action="store_true", help="with --sign-in, print the URL instead of opening it")
    p.add_argument("--token", help="an access token for step 6 (locally: a demo token by default)")
    p.add_argument("--client-metadata-url", metavar="URL", help="a hosted client metadata document to test CIMD with")
    p.add_argument("--tenant-claim", default="tenant_id", help="the token claim naming the tenant (default tenant_id)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")
    p.add_argument("--sign-in-timeout", type=float, default=300.0, help="seconds to wait for sign-in (default 300)")
    p.set_defaults(func=_command)
