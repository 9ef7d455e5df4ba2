"""Deployment settings read from CDK context, each with a default that synthesizes offline.

Set a value with `cdk deploy -c key=value` (or `./dev synth -c key=value`), or in the
`context` block of cdk.json. A malformed value stops synth with one line that names
the key and shows how to set it; `infra/app.py` turns `ContextError` into that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from tenantry.routes import STAGE_THROTTLE

__all__ = ["DEFAULTS", "LOG_RETENTION_DAYS", "REMOVED", "ContextError", "DeployConfig", "load_config"]

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)

# Every context key the app reads, with its default. cdk.json repeats these (a test keeps them equal).
DEFAULTS: dict[str, Any] = {
    "name_prefix": "tenantry",
    "scopes": "mcp:tools",
    "tenant_claim": "tenant_id",
    # The stack's own authorization server issues every token (infra/constructs/auth.py). Users sign in
    # upstream: empty oidc_issuer = the stack's Cognito user pool; an https issuer = that OIDC provider,
    # through the one client named by oidc_client_id, its secret in Secrets Manager (oidc_client_secret_arn).
    "oidc_issuer": "",
    "oidc_client_id": "",
    "oidc_client_secret_arn": "",
    # The ID-token claim memberships are keyed by (`tenantry members add <value>`).
    "oidc_user_claim": "email",
    # Memberships from the identity provider (docs/oauth.md): the ID-token claim naming each user's tenant
    # ids (`custom:tenants`, `groups`, an Auth0 namespaced claim); empty = the members table decides.
    "oidc_tenants_claim": "",
    # Only the claim's values starting with this count, stripped of it (Okta groups `tenantry-<id>`).
    "oidc_tenants_prefix": "",
    # Days a sign-in allowed by the claim lasts (the claim is read only at sign-in).
    "oidc_tenants_grant_days": 7,
    # Cognito only: managed-login domain prefix (empty: "<stack name>-<account id>").
    "auth_domain_prefix": "",
    # Redirect URI hosts that DCR (POST /register) accepts (ChatGPT's connector callback host).
    "dcr_redirect_hosts": "chatgpt.com",
    # Browser origins the MCP endpoint serves (comma-separated https origins): the functions'
    # TENANTRY_ALLOWED_ORIGINS and the HTTP API's CORS allow-list. Empty: a request carrying any
    # Origin is refused (403); server-side clients such as ChatGPT's connector send none.
    "allowed_origins": "",
    # Access-token signing key rotation: raising it by one makes generation N+1's key sign (created now,
    # or published since signing_key_next) and keeps the previous generation's key published for
    # verification; older ones leave the stack (docs/deploy.md).
    "signing_key_generation": 1,
    # Stage the next rotation: true adds generation N+1's key, published in the JWKS but not signing,
    # so API Gateway's cached key set holds it before the deploy that raises the generation to N+1.
    "signing_key_next": False,
    "domain": "",
    "certificate_arn": "",
    "hosted_zone_id": "",
    "hosted_zone_name": "",
    "tenant_subdomains": True,
    "alarm_email": "",
    "log_retention_days": 30,
    # Off by default like the runtime (TENANTRY_TRACING): the tracer import costs ~0.3 s of cold start.
    "tracing": False,
    "cells": 1,
    # SnapStart on the MCP functions' published versions (the API invokes the `live` alias either way).
    # Off: every new container runs init itself; turn it off to use provisioned concurrency or EFS.
    "snapstart": True,
    "memory_mb": 512,
    # Seconds a container trusts its cached registry record. Every change of a tenant's record is
    # stamped on its usage items and met by its next admission write in any container, so this is
    # only the safety net for a stamp that failed (the runtime caps it at an hour).
    "registry_cache_seconds": 3600,
    # Lambda's advanced logging controls (JSON format). Application lines below this level are dropped
    # by Lambda before CloudWatch ingests them; EMF metric documents carry no level, which Lambda reads
    # as INFO, so anything above INFO would drop the metrics too. System lines: WARN keeps Lambda's
    # START / END / REPORT lines out (~350 B per call); INFO (or DEBUG) brings them back.
    "log_level": "INFO",
    "system_log_level": "WARN",
    # Share of successful tool calls the function logs (failures and refusals always); 1 logs them all.
    "success_log_sample": 0.05,
    "reserved_concurrency": 0,
    # The authorization server's reserved concurrency: its floor (sign-ins and refreshes still run when
    # the MCP functions use the rest of the account) and its ceiling (slow or abusive sign-in traffic
    # cannot take the MCP functions' share). 0 = unreserved (accounts with the default quota of 10).
    "auth_reserved_concurrency": 20,
    # Deletion protection on the tables and the user pool. It also blocks the rollback of a failed
    # creating deploy, so turn it on once the first deploy has succeeded (docs/deploy.md).
    "deletion_protection": False,
    # The customer widget's image origins (TENANTRY_WIDGET_IMAGE_ORIGINS): https origins, comma separated.
    "widget_image_origins": "",
    # > 0 deploys the premium path: a second function with this reserved concurrency at POST /business/mcp.
    "premium_reserved_concurrency": 0,
    "premium_plans": "business",
    # Opt-in, for tests/e2e only: one more principal that may assume the tenant role (same tag rules).
    "e2e_principal_arn": "",
    # The operator's role (admin CLI with --stack): may assume the tenant role under the same tag rules,
    # which offboarding and `tenantry secrets` need. Empty: only the function can.
    "operator_principal_arn": "",
    # The local emulator throttles with the same defaults (tenantry/routes.py).
    "throttle_rate": STAGE_THROTTLE.rate,
    "throttle_burst": STAGE_THROTTLE.burst,
    # The authorization server's public routes without a route throttle of their own (discovery, JWKS,
    # /authorize, /callback, /consent): each gets this rate and burst, well below the stage default.
    "public_throttle_rate": 20,
    "public_throttle_burst": 40,
    "alarm_error_rate_percent": 5,
    "alarm_p99_ms": 5000,
    # The isolation canary (docs/security.md): minutes between runs; 0 leaves the canary out of the stack.
    "canary_schedule_minutes": 5,
}

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CLAIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]{0,63}$")
# An ID-token claim naming tenants: Auth0's namespaced claims are URLs.
_TENANTS_CLAIM = re.compile(r"^[!-~]{1,256}$")
_TENANTS_PREFIX = re.compile(r"^[^\s,]{1,64}$")
# A Cognito custom attribute's name (after `custom:`): at most 20 characters.
_COGNITO_ATTRIBUTE = re.compile(r"^custom:[A-Za-z0-9_]{1,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{4,31}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]{1,512}$")
# Context keys of the time before the stack had its own authorization server: a value for one is refused
# with the key that replaces it, rather than ignored.
REMOVED = {
    "issuer": "oidc_issuer",
    "audience": "oidc_issuer",
    "authorization_servers": "oidc_issuer",
}
# Cognito domain prefixes: lower-case letters, digits and hyphens, not starting or ending with a hyphen.
_SCOPE = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")
_DOMAIN_PREFIX = re.compile(r"^(?!.*(aws|amazon|cognito))[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ContextError(ValueError):
    """A context value is missing or malformed; the message is one line for the person deploying."""

    def __init__(self, key: str, problem: str, example: str, set_key: str | None = None) -> None:
        super().__init__(f"tenantry: context value '{key}' {problem}; set it with -c {set_key or key}={example}")
        self.key = key


class _Node(Protocol):
    def try_get_context(self, key: str) -> Any: ...


@dataclass(frozen=True)
class DeployConfig:
    name_prefix: str
    scopes: tuple[str, ...]
    tenant_claim: str
    oidc_issuer: str | None  # None: the stack's Cognito user pool
    oidc_client_id: str | None
    oidc_client_secret_arn: str | None
    oidc_user_claim: str
    oidc_tenants_claim: str | None  # None: the members table decides memberships
    oidc_tenants_prefix: str
    oidc_tenants_grant_days: int
    auth_domain_prefix: str | None
    dcr_redirect_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    signing_key_generation: int
    signing_key_next: bool
    domain: str | None
    certificate_arn: str | None
    hosted_zone_id: str | None
    hosted_zone_name: str | None
    tenant_subdomains: bool
    alarm_email: str | None
    log_retention_days: int
    tracing: bool
    snapstart: bool
    cells: int
    memory_mb: int
    registry_cache_seconds: int
    log_level: str
    system_log_level: str
    success_log_sample: float
    reserved_concurrency: int
    auth_reserved_concurrency: int
    deletion_protection: bool
    widget_image_origins: tuple[str, ...]
    premium_reserved_concurrency: int
    premium_plans: tuple[str, ...]
    e2e_principal_arn: str | None
    operator_principal_arn: str | None
    throttle_rate: int
    throttle_burst: int
    public_throttle_rate: int
    public_throttle_burst: int
    alarm_error_rate_percent: float
    alarm_p99_ms: int
    canary_schedule_minutes: int = 5

    @property
    def uses_cognito(self) -> bool:
        """No upstream provider named: users sign in with the stack's own Cognito user pool."""
        return self.oidc_issuer is None


def _text(raw: Any) -> str:
    return "" if raw is None else str(raw).strip()


def _https_url(key: str, raw: Any) -> str:
    value = _text(raw)
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or " " in value:
        raise ContextError(key, f"must be an https URL without query or fragment (got {value!r})", _example(key))
    return value


def _int(key: str, raw: Any, low: int, high: int) -> int:
    if isinstance(raw, bool):
        raise ContextError(key, f"must be a whole number from {low} to {high} (got {raw!r})", str(DEFAULTS[key]))
    try:
        value = int(_text(raw))
    except ValueError:
        raise ContextError(
            key, f"must be a whole number from {low} to {high} (got {raw!r})", str(DEFAULTS[key])
        ) from None
    if not low <= value <= high:
        raise ContextError(key, f"must be a whole number from {low} to {high} (got {value})", str(DEFAULTS[key]))
    return value


def _bool(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = _text(raw).lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise ContextError(key, f"must be true or false (got {raw!r})", "true")


APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO")  # WARN and above would drop the EMF metrics
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")


def _share(key: str, raw: Any) -> float:
    try:
        value = float(_text(raw)) if not isinstance(raw, bool) else -1.0
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ContextError(key, f"must be a number from 0 to 1 (got {raw!r})", str(DEFAULTS[key]))
    return value


def _choice(key: str, raw: Any, allowed: tuple[str, ...]) -> str:
    value = _text(raw).upper()
    if value not in allowed:
        raise ContextError(key, f"must be one of {', '.join(allowed)} (got {raw!r})", str(DEFAULTS[key]))
    return value


def _optional(key: str, raw: Any, pattern: re.Pattern[str], what: str, lower: bool = False) -> str | None:
    value = _text(raw)
    if lower:
        value = value.lower()
    if not value:
        return None
    if not pattern.match(value):
        raise ContextError(key, f"must be {what} (got {value!r})", _example(key))
    return value


_EXAMPLES = {
    "oidc_issuer": "https://your-idp.example.com",
    "oidc_client_id": "tenantry",
    "oidc_client_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenantry-oidc-AbCdEf",
    "oidc_user_claim": "email",
    "oidc_tenants_claim": "custom:tenants",
    "oidc_tenants_prefix": "tenantry-",
    "domain": "mcp.example.com",
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "hosted_zone_name": "example.com",
    "alarm_email": "oncall@example.com",
    "e2e_principal_arn": "arn:aws:iam::123456789012:role/tenantry-e2e",
    "operator_principal_arn": "arn:aws:iam::123456789012:role/tenantry-operator",
    "name_prefix": "tenantry",
    "tenant_claim": "tenant_id",
    "scopes": "mcp:tools",
    "auth_domain_prefix": "tenantry-auth-example",
    "dcr_redirect_hosts": "chatgpt.com",
    "allowed_origins": "https://app.example.com",
}


def _example(key: str) -> str:
    return _EXAMPLES.get(key, str(DEFAULTS.get(key, "...")))


def load_config(node: _Node) -> DeployConfig:
    """Read and check every context value; raise ContextError on the first bad one."""

    def get(key: str) -> Any:
        value = node.try_get_context(key)
        return DEFAULTS[key] if value is None else value

    for old, new in REMOVED.items():
        if _text(node.try_get_context(old)):
            raise ContextError(
                old,
                "is no longer read (the stack's own authorization server issues the tokens; remove it). "
                "To sign users in with your own identity provider, name it with oidc_issuer, oidc_client_id "
                "and oidc_client_secret_arn (docs/deploy.md)",
                _example(new),
                set_key=new,
            )

    name_prefix = _optional("name_prefix", get("name_prefix"), _NAME, "3-32 lower-case letters, digits or dashes")
    if name_prefix is None:
        raise ContextError("name_prefix", "must not be empty", "tenantry")
    claim = _optional("tenant_claim", get("tenant_claim"), _CLAIM, "a JWT claim name")
    if claim is None:
        raise ContextError("tenant_claim", "must not be empty", "tenant_id")
    scopes = tuple(s for s in _text(get("scopes")).replace(",", " ").split() if s)
    if not scopes:
        raise ContextError("scopes", "must name at least one scope", "mcp:tools")
    if any(not _SCOPE.match(s) for s in scopes):
        # The route's AuthorizationScopes, the token's `scope` and the metadata all use these names as they are.
        raise ContextError(
            "scopes", f"must be bare scope names such as mcp:tools (got {' '.join(scopes)!r})", "mcp:tools"
        )
    oidc = _oidc(get)
    tenants_claim = _optional("oidc_tenants_claim", get("oidc_tenants_claim"), _TENANTS_CLAIM, "an ID-token claim name")
    tenants_prefix = _optional(
        "oidc_tenants_prefix", get("oidc_tenants_prefix"), _TENANTS_PREFIX, "a prefix without spaces or commas"
    )
    if tenants_prefix and not tenants_claim:
        raise ContextError("oidc_tenants_claim", "is required with oidc_tenants_prefix", "groups")
    cognito_attribute = tenants_claim and oidc[0] is None and tenants_claim.startswith("custom:")
    # The stack's own pool: the app client is given read access to this custom attribute.
    if cognito_attribute and not _COGNITO_ATTRIBUTE.match(tenants_claim or ""):
        raise ContextError(
            "oidc_tenants_claim",
            f"must name a Cognito custom attribute of at most 20 letters, digits or _ (got {tenants_claim!r})",
            "custom:tenants",
        )

    domain = _optional("domain", get("domain"), _DOMAIN, "a DNS name such as mcp.example.com", lower=True)
    certificate_arn = _optional("certificate_arn", get("certificate_arn"), _CERT_ARN, "an ACM certificate ARN")
    zone_id = _optional("hosted_zone_id", get("hosted_zone_id"), _ZONE_ID, "a Route 53 hosted zone id")
    zone_name = _optional("hosted_zone_name", get("hosted_zone_name"), _DOMAIN, "the hosted zone's DNS name", True)
    if (certificate_arn or zone_id or zone_name) and not domain:
        raise ContextError("domain", "is required when a certificate or hosted zone is given", _example("domain"))
    if domain and not certificate_arn and not zone_id:
        raise ContextError(
            "certificate_arn",
            f"(or hosted_zone_id) is required for the custom domain {domain}",
            _example("certificate_arn"),
        )
    if bool(zone_id) != bool(zone_name):
        missing = "hosted_zone_name" if zone_id else "hosted_zone_id"
        raise ContextError(missing, "is required with the other hosted zone value", _example(missing))
    if domain and zone_name and not (domain == zone_name or domain.endswith("." + zone_name)):
        raise ContextError("hosted_zone_name", f"must be {domain} or a parent of it (got {zone_name!r})", domain)

    retention = _int("log_retention_days", get("log_retention_days"), 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise ContextError(
            "log_retention_days",
            f"must be one of CloudWatch's periods {', '.join(map(str, LOG_RETENTION_DAYS))} (got {retention})",
            "30",
        )
    throttle_rate = _int("throttle_rate", get("throttle_rate"), 1, 100_000)
    throttle_burst = _int("throttle_burst", get("throttle_burst"), 1, 100_000)

    return DeployConfig(
        name_prefix=name_prefix,
        scopes=scopes,
        tenant_claim=claim,
        oidc_issuer=oidc[0],
        oidc_client_id=oidc[1],
        oidc_client_secret_arn=oidc[2],
        oidc_user_claim=_optional("oidc_user_claim", get("oidc_user_claim"), _CLAIM, "a JWT claim name") or "email",
        oidc_tenants_claim=tenants_claim,
        oidc_tenants_prefix=tenants_prefix or "",
        oidc_tenants_grant_days=_int("oidc_tenants_grant_days", get("oidc_tenants_grant_days"), 1, 90),
        auth_domain_prefix=_optional(
            "auth_domain_prefix",
            get("auth_domain_prefix"),
            _DOMAIN_PREFIX,
            "1-63 lower-case letters, digits or hyphens, without 'aws', 'amazon' or 'cognito'",
            lower=True,
        ),
        dcr_redirect_hosts=_hosts(get("dcr_redirect_hosts")),
        allowed_origins=_origins(get("allowed_origins")),
        signing_key_generation=_int("signing_key_generation", get("signing_key_generation"), 1, 1000),
        signing_key_next=_bool("signing_key_next", get("signing_key_next")),
        domain=domain,
        certificate_arn=certificate_arn,
        hosted_zone_id=zone_id,
        hosted_zone_name=zone_name,
        tenant_subdomains=_bool("tenant_subdomains", get("tenant_subdomains")),
        alarm_email=_optional("alarm_email", get("alarm_email"), _EMAIL, "an email address"),
        log_retention_days=retention,
        tracing=_bool("tracing", get("tracing")),
        snapstart=_bool("snapstart", get("snapstart")),
        cells=_int("cells", get("cells"), 1, 64),
        memory_mb=_int("memory_mb", get("memory_mb"), 128, 10240),
        registry_cache_seconds=_int("registry_cache_seconds", get("registry_cache_seconds"), 0, 3600),
        log_level=_choice("log_level", get("log_level"), APPLICATION_LOG_LEVELS),
        system_log_level=_choice("system_log_level", get("system_log_level"), SYSTEM_LOG_LEVELS),
        success_log_sample=_share("success_log_sample", get("success_log_sample")),
        reserved_concurrency=_int("reserved_concurrency", get("reserved_concurrency"), 0, 10_000),
        auth_reserved_concurrency=_int("auth_reserved_concurrency", get("auth_reserved_concurrency"), 0, 1_000),
        deletion_protection=_bool("deletion_protection", get("deletion_protection")),
        widget_image_origins=_image_origins(get("widget_image_origins")),
        premium_reserved_concurrency=_int(
            "premium_reserved_concurrency", get("premium_reserved_concurrency"), 0, 10_000
        ),
        premium_plans=_plans(get("premium_plans")),
        e2e_principal_arn=_optional(
            "e2e_principal_arn", get("e2e_principal_arn"), _IAM_PRINCIPAL, "an IAM role or user ARN"
        ),
        operator_principal_arn=_optional(
            "operator_principal_arn", get("operator_principal_arn"), _IAM_PRINCIPAL, "an IAM role or user ARN"
        ),
        throttle_rate=throttle_rate,
        throttle_burst=throttle_burst,
        public_throttle_rate=_int("public_throttle_rate", get("public_throttle_rate"), 1, 100_000),
        public_throttle_burst=_int("public_throttle_burst", get("public_throttle_burst"), 1, 100_000),
        alarm_error_rate_percent=float(_int("alarm_error_rate_percent", get("alarm_error_rate_percent"), 1, 100)),
        alarm_p99_ms=_int("alarm_p99_ms", get("alarm_p99_ms"), 50, 30_000),
        canary_schedule_minutes=_int("canary_schedule_minutes", get("canary_schedule_minutes"), 0, 1440),
    )


def _oidc(get: Any) -> tuple[str | None, str | None, str | None]:
    """(issuer, client id, client secret ARN) of the upstream provider: all three, or none (Cognito)."""
    issuer = _https_url("oidc_issuer", get("oidc_issuer")) if _text(get("oidc_issuer")) else None
    client_id = _optional("oidc_client_id", get("oidc_client_id"), _CLIENT_ID, "an OAuth client id")
    secret_arn = _optional(
        "oidc_client_secret_arn", get("oidc_client_secret_arn"), _SECRET_ARN, "a Secrets Manager secret ARN"
    )
    given = {"oidc_issuer": issuer, "oidc_client_id": client_id, "oidc_client_secret_arn": secret_arn}
    missing = [key for key, value in given.items() if value is None]
    if len(missing) in (1, 2):
        raise ContextError(
            missing[0],
            "is required with the other oidc_* values (or leave all three empty for Cognito)",
            _example(missing[0]),
        )
    return issuer, client_id, secret_arn


def _hosts(raw: Any) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in _text(raw).split(",") if h.strip())
    bad = [h for h in hosts if not _DOMAIN.match(h)]
    if not hosts or bad:
        raise ContextError(
            "dcr_redirect_hosts", f"must list DNS host names, comma separated (got {raw!r})", "chatgpt.com"
        )
    return hosts


_ORIGIN = re.compile(r"^https://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


def _image_origins(raw: Any) -> tuple[str, ...]:
    # The function refuses anything else at init (Settings.widget_image_origins); refuse it at synth instead.
    origins = tuple(o.strip() for o in _text(raw).split(",") if o.strip())
    bad = [o for o in origins if not _ORIGIN.match(o)]
    if bad:
        raise ContextError(
            "widget_image_origins",
            f"must list https origins without a path, comma separated (got {bad[0]!r})",
            "https://cdn.example.com",
        )
    return origins


def _origins(raw: Any) -> tuple[str, ...]:
    """https origins (scheme, host, optional port; no path): what a browser sends as Origin."""
    origins = tuple(o.strip().lower() for o in _text(raw).split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            host = ""
        if parts.scheme != "https" or not _DOMAIN.match(host) or parts.path or parts.query or parts.fragment:
            raise ContextError(
                "allowed_origins",
                f"must list https origins such as https://app.example.com, comma separated (got {origin!r})",
                "https://app.example.com",
            )
    return origins


_PLANS = ("free", "starter", "professional", "business")


def _plans(raw: Any) -> tuple[str, ...]:
    plans = tuple(p.strip() for p in _text(raw).split(",") if p.strip())
    unknown = [p for p in plans if p not in _PLANS]
    if not plans or unknown:
        raise ContextError("premium_plans", f"must list plans from {', '.join(_PLANS)} (got {raw!r})", "business")
    return plans
