"""Synthesize the CDK app once per test session (synth costs ~15 s and ~1 GB), then read the template.

`stack` is the default deployment (cdk.json context); `custom` adds a custom domain with
tenant subdomains, three cells, an alarm email, tracing, the premium function, an outside
OpenID provider for sign-in, a rotated token signing key (generation 2, with generation 3's
key staged), deletion protection, widget image origins and another authorization-server
reservation, and leaves the isolation canary out, to cover the optional paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import TenantryStack

REPO = Path(__file__).resolve().parents[2]
CUSTOM_CONTEXT = {
    # Users sign in with an outside OpenID provider instead of the stack's Cognito pool.
    "oidc_issuer": "https://login.example.com",
    "oidc_client_id": "tenantry-as",
    "oidc_client_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenantry-oidc-AbCdEf",
    "domain": "mcp.example.com",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "hosted_zone_name": "example.com",
    "cells": 3,
    "alarm_email": "oncall@example.com",
    "log_retention_days": 90,
    "tracing": "true",
    "reserved_concurrency": 50,
    "premium_reserved_concurrency": 20,
    "e2e_principal_arn": "arn:aws:iam::123456789012:role/tenantry-e2e",
    "operator_principal_arn": "arn:aws:iam::123456789012:role/tenantry-operator",
    # One rotation: a new key signs, generation 1's key is still published, generation 3's is staged
    # (published, not signing) for the next one.
    "signing_key_generation": 2,
    "signing_key_next": "true",
    # Past the first deploy: the tables and the user pool refuse deletes (docs/deploy.md).
    "deletion_protection": "true",
    "auth_reserved_concurrency": 30,
    "widget_image_origins": "https://cdn.example.com,https://logos.example.org:8443",
    # A web client the operator serves from its own origin (and a second one, upper case as typed).
    "allowed_origins": "https://app.example.com, https://Admin.Example.com:8443",
    # The isolation canary left out (the default stack has it every 5 minutes).
    "canary_schedule_minutes": 0,
    # Memberships from the provider's groups claim, Okta style (docs/oauth.md).
    "oidc_tenants_claim": "groups",
    "oidc_tenants_prefix": "tenantry-",
    "oidc_tenants_grant_days": 3,
}


@dataclass
class Synth:
    app: App
    stack: TenantryStack
    template: Template
    raw: dict[str, Any]
    path: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct_path: str) -> str:
        """Logical id of the CloudFormation resource at a construct path like 'Data/Registry'."""
        node = self.stack.node.find_child(construct_path.split("/")[0])
        for part in construct_path.split("/")[1:]:
            node = node.node.find_child(part)
        return self.stack.resolve(self.stack.get_logical_id(node.node.default_child))  # type: ignore[no-any-return]


def _synth(tmp: Path, context: dict[str, Any]) -> Synth:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    # Staging copies the 70 MB layer into the assembly; the template is identical without it.
    app = App(outdir=str(tmp), context={**cdk_json["context"], **context, "aws:cdk:disable-asset-staging": True})
    app, stack = build_app(app)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    raw = artifact.template
    return Synth(app, stack, Template.from_json(raw), raw, Path(artifact.template_full_path))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield _synth(tmp_path_factory.mktemp("cdk-default"), {})


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield _synth(tmp_path_factory.mktemp("cdk-custom"), CUSTOM_CONTEXT)
