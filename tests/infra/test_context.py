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


def test_defaults_load_without_any_context() -> None:
    config = load_config(Node())
    assert config.uses_cognito  # no issuer: the stack's own user pool
    assert not config.uses_placeholder_issuer
    assert config.cells == 1
    assert config.audience == ()  # the MCP URL, decided by the stack
    assert config.authorization_servers == ()  # the API's origin, which serves the RFC 8414 document
    assert config.dcr_redirect_hosts == ("chatgpt.com",)
    assert config.auth_domain_prefix is None  # derived from the stack name and account


def test_an_external_issuer_turns_cognito_off_and_is_advertised() -> None:
    config = load_config(Node(issuer="https://idp.example.com/", scopes="api://mcp/tools"))
    assert not config.uses_cognito
    assert config.authorization_servers == ("https://idp.example.com/",)
    assert config.scopes == ("api://mcp/tools",)


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"issuer": "http://idp.example.com"}, "issuer"),
        ({"issuer": "not a url"}, "issuer"),
        ({"audience": "https://ok.example.com/mcp,bad value"}, "audience"),
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
        ({"scopes": "https://mcp.example.com/mcp/mcp:tools"}, "scopes"),
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
        "CDK_CONTEXT_JSON": json.dumps({"issuer": "ftp://idp.example.com"}),
        # Node 20's end-of-life banner from jsii is not ours to test.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "tenantry: context value 'issuer' must be an https URL without query or fragment "
        "(got 'ftp://idp.example.com'); set it with -c issuer=https://your-idp.example.com/"
    ], result.stderr
