"""The decision table: concrete AWS requests against the template's policies, and what IAM must say.

Each Case is one request (who, what action, on which ARN, with which request context) and the
decision the isolation design requires. `simulation()` turns it into the evaluator's input from a
StackPolicies (the synthesized template, or a mutated copy of it), so the same table can be run
against a broken policy and show that it catches the break.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.infra.iam.model import ACCOUNT, PolicyNotFound, StackPolicies

REPO = Path(__file__).resolve().parents[3]
EVALUATE = Path(__file__).with_name("evaluate.mjs")
EVALUATOR_PACKAGE = REPO / "node_modules" / "@cloud-copilot" / "iam-simulate"

OWN, OTHER, PREFIXED = "acme", "globex", "acme-eu"  # PREFIXED starts with OWN: no prefix confusion
TAG = "aws:PrincipalTag/tenant_id"
KMS_USE = ("kms:Encrypt", "kms:Decrypt")
# GenerateDataKey: the secret store encrypts directly, never envelope, so no session may.
KMS_NEVER = (
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
)
ROW_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query")
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
# Listing the tenant's prefix: current objects, and every version (offboarding deletes them all).
LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")
# Whoever can sign with the token key can mint a token for any tenant.
SIGNING = ("kms:Sign", "kms:GetPublicKey")

Expect = Literal["allow", "deny"]
Service = Literal["dynamodb", "kms", "s3", "sts"]


@dataclass(frozen=True)
class Target:
    """What a request names: a table, key, bucket, object or role, by logical id (plus a name part)."""

    kind: Literal["table", "silo", "key", "bucket", "object", "role"]
    logical_id: str = ""
    name: str = ""  # silo tenant id, or object key


@dataclass(frozen=True)
class Who:
    """A session of a role in the template (logical id), or an outside principal ARN."""

    role: str = ""
    external_arn: str = ""
    tenant: str | None = None  # the session's tenant_id principal tag

    @property
    def label(self) -> str:
        base = self.role or self.external_arn.rsplit("/", 1)[-1]
        return f"{base}[{self.tenant}]" if self.tenant is not None else base


@dataclass(frozen=True)
class Case:
    id: str
    service: Service
    who: Who
    action: str
    target: Target
    context: dict[str, Any] = field(default_factory=dict, hash=False)
    expect: Expect = "deny"
    cross_tenant: bool = False  # a request for data that is not the session's own tenant's


@dataclass(frozen=True)
class Layout:
    """Which logical ids play which part (found from construct paths by the caller)."""

    tenant_role: str
    execution_role: str
    pooled_tables: tuple[str, ...]
    other_tables: tuple[str, ...]  # registry, usage, audit: never the tenant role's
    key: str
    bucket: str
    silo_prefix: str
    outside_principals: tuple[str, ...] = ()  # ARNs the trust policy names besides the function role
    signing_key: str = ""  # the access-token signing key (RSA, SIGN_VERIFY)
    signing_role: str = ""  # the authorization server's role, the only one that may sign
    # After a rotation (signing_key_generation >= 2): the previous key, published but never signing.
    previous_signing_key: str = ""
    # With signing_key_next: the next generation's key, published ahead of signing and not signing yet.
    next_signing_key: str = ""
    # The isolation canary's role: trusted by the tenant role under the function role's tag rules.
    canary_role: str = ""


def cases(layout: Layout, other_roles: tuple[str, ...]) -> list[Case]:
    table: list[Case] = []

    def add(service: Service, who: Who, action: str, target: Target, expect: Expect, cross: bool, **ctx: Any) -> None:
        what = target.name or target.logical_id
        keys = ",".join(f"{k}={v}" for k, v in sorted(ctx.items()))
        case_id = f"{service}|{who.label}|{action}|{target.kind}:{what}|{keys}"
        if any(c.id == case_id for c in table):
            raise AssertionError(f"duplicate case {case_id}")
        table.append(Case(case_id, service, who, action, target, dict(ctx), expect, cross))

    me = Who(role=layout.tenant_role, tenant=OWN)
    untagged = Who(role=layout.tenant_role)
    function = Who(role=layout.execution_role)
    others = [Who(role=r) for r in other_roles]

    # DynamoDB: rows keyed by the session's own tenant only, on pooled and silo tables.
    for table_id in layout.pooled_tables:
        t = Target("table", table_id)
        for action in ROW_ACTIONS:
            add("dynamodb", me, action, t, "allow", False, **{"dynamodb:LeadingKeys": [OWN]})
            add("dynamodb", me, action, t, "deny", True, **{"dynamodb:LeadingKeys": [OTHER]})
            add("dynamodb", me, action, t, "deny", True, **{"dynamodb:LeadingKeys": [PREFIXED]})
            add("dynamodb", me, action, t, "deny", True, **{"dynamodb:LeadingKeys": [OWN, OTHER]})
            add("dynamodb", untagged, action, t, "deny", True, **{"dynamodb:LeadingKeys": [OWN]})
        # Multi-key and key-less requests.
        for action in ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"):
            add("dynamodb", me, action, t, "deny", True, **{"dynamodb:LeadingKeys": [OWN, OTHER]})
        add("dynamodb", me, "dynamodb:Scan", t, "deny", True)
        add("dynamodb", me, "dynamodb:Query", t, "deny", True)  # no LeadingKeys in the context at all
        add("dynamodb", me, "dynamodb:PartiQLSelect", t, "deny", True)
        for who in [function, *others]:
            add("dynamodb", who, "dynamodb:GetItem", t, "deny", True, **{"dynamodb:LeadingKeys": [OWN]})
            add("dynamodb", who, "dynamodb:Scan", t, "deny", True)
    for action in ROW_ACTIONS:
        add("dynamodb", me, action, Target("silo", name=OWN), "allow", False, **{"dynamodb:LeadingKeys": [OWN]})
        for tenant in (OTHER, PREFIXED):
            silo = Target("silo", name=tenant)
            add("dynamodb", me, action, silo, "deny", True, **{"dynamodb:LeadingKeys": [OWN]})
            add("dynamodb", me, action, silo, "deny", True, **{"dynamodb:LeadingKeys": [tenant]})
    add("dynamodb", me, "dynamodb:Scan", Target("silo", name=OWN), "deny", True)
    # A move's copy (tenants move): batches of the session's own keys, into a cell or its own silo.
    batch = "dynamodb:BatchWriteItem"
    for target in [*(Target("table", table_id) for table_id in layout.pooled_tables), Target("silo", name=OWN)]:
        add("dynamodb", me, batch, target, "allow", False, **{"dynamodb:LeadingKeys": [OWN]})
        add("dynamodb", me, batch, target, "deny", True, **{"dynamodb:LeadingKeys": [OTHER]})
        add("dynamodb", untagged, batch, target, "deny", True, **{"dynamodb:LeadingKeys": [OWN]})
    for tenant in (OTHER, PREFIXED):
        add("dynamodb", me, batch, Target("silo", name=tenant), "deny", True, **{"dynamodb:LeadingKeys": [OWN]})
    add(
        "dynamodb",
        function,
        "dynamodb:GetItem",
        Target("silo", name=OWN),
        "deny",
        True,
        **{"dynamodb:LeadingKeys": [OWN]},
    )
    for table_id in layout.other_tables:
        add(
            "dynamodb",
            me,
            "dynamodb:GetItem",
            Target("table", table_id),
            "deny",
            True,
            **{"dynamodb:LeadingKeys": [OWN]},
        )
        add(
            "dynamodb",
            me,
            "dynamodb:Query",
            Target("table", table_id),
            "deny",
            True,
            **{"dynamodb:LeadingKeys": [OTHER]},
        )

    # KMS: the session's own encryption context only; never another tenant's, never none.
    key = Target("key", layout.key)
    ec = "kms:EncryptionContext:tenant_id"
    for action in KMS_USE:
        add("kms", me, action, key, "allow", False, **{ec: OWN})
        add("kms", me, action, key, "deny", True, **{ec: OTHER})
        add("kms", me, action, key, "deny", True, **{ec: PREFIXED})
        add("kms", me, action, key, "deny", True, **{ec: ""})
        add("kms", me, action, key, "deny", True)  # no encryption context
        add("kms", untagged, action, key, "deny", True, **{ec: OWN})
        add("kms", untagged, action, key, "deny", True)
        for who in [function, *others]:
            add("kms", who, action, key, "deny", True, **{ec: OWN})
            add("kms", who, action, key, "deny", True)
    for action in KMS_NEVER:
        add("kms", me, action, key, "deny", True, **{ec: OWN})

    # The token signing key: the authorization server's role signs; no other role, tagged or not.
    if layout.signing_key:
        signing_key = Target("key", layout.signing_key)
        server = Who(role=layout.signing_role)
        for action in SIGNING:
            add("kms", server, action, signing_key, "allow", False)
            for who in [function, me, untagged, *(o for o in others if o.role != layout.signing_role)]:
                add("kms", who, action, signing_key, "deny", True)
    # The previous generation's key and the staged next one: the server reads their public keys (JWKS)
    # and cannot sign with either; no other role may do either.
    for published_key in (layout.previous_signing_key, layout.next_signing_key):
        if not published_key:
            continue
        published = Target("key", published_key)
        server = Who(role=layout.signing_role)
        add("kms", server, "kms:GetPublicKey", published, "allow", False)
        add("kms", server, "kms:Sign", published, "deny", False)
        for action in SIGNING:
            for who in [function, me, untagged, *(o for o in others if o.role != layout.signing_role)]:
                add("kms", who, action, published, "deny", True)

    # S3: objects and listings under tenants/<own tenant>/ only.
    for action in OBJECT_ACTIONS:
        add("s3", me, action, Target("object", layout.bucket, f"tenants/{OWN}/logo.png"), "allow", False)
        for name in (f"tenants/{OTHER}/logo.png", f"tenants/{PREFIXED}/logo.png", "tenants/logo.png", "logo.png"):
            add("s3", me, action, Target("object", layout.bucket, name), "deny", True)
        add("s3", untagged, action, Target("object", layout.bucket, f"tenants/{OWN}/logo.png"), "deny", True)
        for who in [function, *others]:
            add("s3", who, action, Target("object", layout.bucket, f"tenants/{OWN}/logo.png"), "deny", True)
    bucket = Target("bucket", layout.bucket)
    for listing in LIST_ACTIONS:
        add("s3", me, listing, bucket, "allow", False, **{"s3:prefix": f"tenants/{OWN}/"})
        add("s3", me, listing, bucket, "allow", False, **{"s3:prefix": f"tenants/{OWN}/2024/"})
        for prefix in (f"tenants/{OTHER}/", f"tenants/{PREFIXED}/", "tenants/", f"tenants/{OWN}", ""):
            add("s3", me, listing, bucket, "deny", True, **{"s3:prefix": prefix})
        add("s3", me, listing, bucket, "deny", True)  # no prefix: the whole bucket
        add("s3", untagged, listing, bucket, "deny", True, **{"s3:prefix": f"tenants/{OWN}/"})
        for who in [function, *others]:
            add("s3", who, listing, bucket, "deny", True, **{"s3:prefix": f"tenants/{OWN}/"})

    # STS: only the function role (and opted-in outside principals) may become a tenant, with exactly a
    # non-empty tenant_id tag.
    role = Target("role", layout.tenant_role)
    tags = {"aws:RequestTag/tenant_id": OWN, "aws:TagKeys": ["tenant_id"]}
    canary = [Who(role=layout.canary_role)] if layout.canary_role else []
    callers = [function, *canary] + [Who(external_arn=arn) for arn in layout.outside_principals]
    for who in callers:
        for action in ("sts:AssumeRole", "sts:TagSession"):
            add("sts", who, action, role, "allow", False, **tags)
            add("sts", who, action, role, "deny", True)  # untagged
            add("sts", who, action, role, "deny", True, **{**tags, "aws:RequestTag/tenant_id": ""})
            for wildcard in ("*", f"{OWN[:3]}*", "?", "${aws:username}"):  # a tag that could match many
                add("sts", who, action, role, "deny", True, **{**tags, "aws:RequestTag/tenant_id": wildcard})
            add("sts", who, action, role, "deny", True, **{**tags, "aws:TagKeys": ["tenant_id", "plan"]})
            add("sts", who, action, role, "deny", True, **{"aws:RequestTag/plan": OWN, "aws:TagKeys": ["plan"]})
    for who in [*(o for o in others if o not in canary), me, untagged]:
        add("sts", who, "sts:AssumeRole", role, "deny", True, **tags)
    return table


def simulation(model: StackPolicies, layout: Layout, case: Case) -> dict[str, Any]:
    """The evaluator's input for one case, from the (possibly mutated) template's policies."""
    context: dict[str, Any] = {"aws:SecureTransport": "true", "aws:PrincipalAccount": ACCOUNT, **case.context}
    if case.who.role:
        role = model.role(case.who.role)
        principal = role.session_arn("tenantry")
        context["aws:PrincipalArn"] = role.arn
        identity = role.identity
        if case.who.tenant is not None:
            context[TAG] = case.who.tenant
    else:
        principal = case.who.external_arn
        context["aws:PrincipalArn"] = principal
        # An outside principal's own permissions are not in this template: give it the widest
        # identity policy, so only the trust policy decides.
        identity = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}]
    target = case.target
    resource_policy: dict[str, Any] | None
    if target.kind == "table":
        arn = model.table_arn(target.logical_id)
        resource_policy = model.table_policies.get(target.logical_id)
    elif target.kind == "silo":
        arn = model.tables[layout.pooled_tables[0]].rsplit("/", 1)[0] + f"/{layout.silo_prefix}{target.name}"
        resource_policy = None  # created by the operator CLI, outside this template
    elif target.kind == "key":
        arn, resource_policy = model.key(target.logical_id)
    elif target.kind in {"bucket", "object"}:
        name, resource_policy = model.bucket(target.logical_id)
        arn = f"arn:aws:s3:::{name}" + (f"/{target.name}" if target.kind == "object" else "")
    else:
        tenant_role = model.role(target.logical_id)
        arn, resource_policy = tenant_role.arn, tenant_role.trust
    simulated: dict[str, Any] = {
        "request": {
            "principal": principal,
            "action": case.action,
            "resource": {"resource": arn, "accountId": ACCOUNT},
            "contextVariables": context,
        },
        "identityPolicies": [{"name": f"identity-{i}", "policy": p} for i, p in enumerate(identity)],
    }
    if resource_policy is not None:
        simulated["resourcePolicy"] = resource_policy
    return simulated


def evaluate(batch: dict[str, dict[str, Any]]) -> dict[str, str]:
    """One Node process for the whole batch (id -> simulation); returns id -> decision."""
    node = shutil.which("node")
    if node is None or not EVALUATOR_PACKAGE.is_dir():
        raise PolicyNotFound(
            "the IAM policy evaluator is not installed: run `npm ci` (or ./dev test, which does) with Node 20+"
        )
    payload = json.dumps({"cases": [{"id": k, "simulation": v} for k, v in batch.items()]})
    result = subprocess.run(
        [node, str(EVALUATE)],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"evaluate.mjs failed: {result.stderr.strip()[-2000:]}")
    decisions: dict[str, str] = json.loads(result.stdout)["decisions"]
    missing = set(batch) - set(decisions)
    if missing:
        raise RuntimeError(f"the evaluator returned no decision for {sorted(missing)[:3]}")
    return decisions


def verdict(decision: str) -> Expect | str:
    """'allow' or 'deny' for a decision; anything else (an evaluator error) is returned as is."""
    if decision == "Allowed":
        return "allow"
    if decision in {"ImplicitlyDenied", "ExplicitlyDenied"}:
        return "deny"
    return decision
