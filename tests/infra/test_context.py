"""Context values: documented defaults that synthesize, and one readable line for a bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from infra.config import DEFAULTS, ContextError, load_config
from tests.infra.conftest import REPO


class Node:
    def __init__(self, **context: Any) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def test_cdk_json_documents_every_default() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    # Keys with a colon are CDK feature flags (tests/infra/test_feature_flags.py), not Tenantry settings.
    assert {k: v for k, v in context.items() if ":" not in k} == DEFAULTS


OIDC = {
    "oidc_issuer": "https://example.okta.com",
    "oidc_client_id": "0oa1tenantry",
    "oidc_client_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantry-okta-AbCdEf",
}


def test_defaults_load_without_any_context() -> None:
    config = load_config(Node())
    assert config.uses_cognito  # no upstream provider named: the stack's own user pool
    assert (config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret_arn) == (None, None, None)
    assert config.oidc_user_claim == "email"
    assert config.cells == 1
    assert config.scopes == ("mcp:tools",)
    assert config.dcr_redirect_hosts == ("chatgpt.com",)
    assert config.allowed_origins == ()  # no browser origin unless the operator names one
    assert config.auth_domain_prefix is None  # derived from the stack name and account


def test_an_upstream_oidc_provider_turns_cognito_off() -> None:
    config = load_config(Node(**OIDC, oidc_user_claim="preferred_username"))
    assert not config.uses_cognito
    assert config.oidc_issuer == "https://example.okta.com"
    assert config.oidc_client_id == "0oa1tenantry"
    assert config.oidc_client_secret_arn == OIDC["oidc_client_secret_arn"]
    assert config.oidc_user_claim == "preferred_username"


def test_memberships_come_from_the_members_table_unless_a_tenants_claim_is_named() -> None:
    config = load_config(Node())
    assert (config.oidc_tenants_claim, config.oidc_tenants_prefix, config.oidc_tenants_grant_days) == (None, "", 7)
    okta = load_config(
        Node(**OIDC, oidc_tenants_claim="groups", oidc_tenants_prefix="tenantry-", oidc_tenants_grant_days="3")
    )
    assert (okta.oidc_tenants_claim, okta.oidc_tenants_prefix, okta.oidc_tenants_grant_days) == (
        "groups",
        "tenantry-",
        3,
    )
    # An outside provider's claim may be anything it names, such as an Auth0 namespaced claim.
    auth0 = load_config(Node(**OIDC, oidc_tenants_claim="https://tenantry.example.com/tenants"))
    assert auth0.oidc_tenants_claim == "https://tenantry.example.com/tenants"


@pytest.mark.parametrize("missing", sorted(OIDC))
def test_an_upstream_provider_needs_all_three_values(missing: str) -> None:
    with pytest.raises(ContextError) as caught:
        load_config(Node(**{k: v for k, v in OIDC.items() if k != missing}))
    assert caught.value.key == missing


@pytest.mark.parametrize("old", ["issuer", "audience", "authorization_servers"])
def test_a_removed_key_is_refused_and_names_what_replaced_it(old: str) -> None:
    # Before the stack had its own authorization server these named an external token issuer;
    # silently ignoring one would deploy a different sign-in than the operator asked for.
    with pytest.raises(ContextError) as caught:
        load_config(Node(**{old: "https://idp.example.com/"}))
    assert caught.value.key == old
    assert "-c oidc_issuer=" in str(caught.value)


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({**OIDC, "oidc_issuer": "http://idp.example.com"}, "oidc_issuer"),
        ({**OIDC, "oidc_issuer": "not a url"}, "oidc_issuer"),
        ({**OIDC, "oidc_client_secret_arn": "arn:aws:kms:eu-west-1:123456789012:key/abc"}, "oidc_client_secret_arn"),
        ({**OIDC, "oidc_client_id": "has spaces"}, "oidc_client_id"),
        ({"domain": "Not_A_Domain"}, "domain"),
        ({"domain": "mcp.example.com"}, "certificate_arn"),
        ({"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, "domain"),
        ({"domain": "mcp.example.com", "hosted_zone_id": "Z0123456789ABCDEFGHIJ"}, "hosted_zone_name"),
        (
            {"domain": "mcp.example.com", "hosted_zone_id": "Z0123456789ABCDEFGHIJ", "hosted_zone_name": "other.org"},
            "hosted_zone_name",
        ),
        ({"cells": "0"}, "cells"),
        ({"cells": True}, "cells"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"tracing": "maybe"}, "tracing"),
        ({"alarm_email": "nobody"}, "alarm_email"),
        ({"name_prefix": "Tenantry_Prod"}, "name_prefix"),
        ({"auth_domain_prefix": "my_auth"}, "auth_domain_prefix"),
        ({"auth_domain_prefix": "acme-cognito-login"}, "auth_domain_prefix"),
        ({"dcr_redirect_hosts": "https://chatgpt.com/connector"}, "dcr_redirect_hosts"),
        ({"dcr_redirect_hosts": " , "}, "dcr_redirect_hosts"),
        ({"allowed_origins": "http://app.example.com"}, "allowed_origins"),
        ({"allowed_origins": "https://app.example.com/"}, "allowed_origins"),
        ({"allowed_origins": "app.example.com"}, "allowed_origins"),
        ({"allowed_origins": "*"}, "allowed_origins"),
        ({"allowed_origins": "https://app.example.com:99999"}, "allowed_origins"),
        ({"scopes": "https://mcp.example.com/mcp/mcp:tools"}, "scopes"),
        ({"signing_key_generation": "0"}, "signing_key_generation"),
        ({"signing_key_generation": "two"}, "signing_key_generation"),
        ({"signing_key_next": "later"}, "signing_key_next"),
        ({"widget_image_origins": "http://cdn.example.com"}, "widget_image_origins"),
        ({"widget_image_origins": "https://cdn.example.com/logos"}, "widget_image_origins"),
        ({"auth_reserved_concurrency": "-1"}, "auth_reserved_concurrency"),
        ({"deletion_protection": "sometimes"}, "deletion_protection"),
        ({"public_throttle_rate": "0"}, "public_throttle_rate"),
        ({"log_level": "WARN"}, "log_level"),  # EMF lines carry no level: WARN would drop the metrics
        ({"system_log_level": "ERROR"}, "system_log_level"),
        ({"success_log_sample": "1.5"}, "success_log_sample"),
        ({"success_log_sample": "nan"}, "success_log_sample"),
        ({"success_log_sample": "some"}, "success_log_sample"),
        ({"oidc_tenants_prefix": "tenantry-"}, "oidc_tenants_claim"),  # a prefix of no claim
        ({"oidc_tenants_claim": "my tenants"}, "oidc_tenants_claim"),
        ({"oidc_tenants_claim": "custom:tenants-of-this-user"}, "oidc_tenants_claim"),  # not a Cognito attribute
        ({**OIDC, "oidc_tenants_claim": "groups", "oidc_tenants_prefix": "a b"}, "oidc_tenants_prefix"),
        ({**OIDC, "oidc_tenants_claim": "groups", "oidc_tenants_grant_days": "91"}, "oidc_tenants_grant_days"),
    ],
)
def test_a_bad_value_names_the_key_and_how_to_set_it(context: dict[str, Any], key: str) -> None:
    with pytest.raises(ContextError) as caught:
        load_config(Node(**context))
    message = str(caught.value)
    assert caught.value.key == key
    assert "\n" not in message
    assert f"'{key}'" in message
    assert f"-c {key}=" in message


def test_synth_with_a_bad_value_prints_one_line_and_no_traceback() -> None:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**OIDC, "oidc_issuer": "ftp://idp.example.com"}),
        # Node 20's end-of-life banner from jsii is not ours to test.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "tenantry: context value 'oidc_issuer' must be an https URL without query or fragment "
        "(got 'ftp://idp.example.com'); set it with -c oidc_issuer=https://your-idp.example.com"
    ], result.stderr
