"""The authorization server's Lambda entry point builds its app at import, as a new container does.

The module is imported afresh with the environment the stack gives the function (the local
platform's OAuth settings, plus the upstream provider's three settings the deployed server needs),
and serves an API Gateway payload-2.0 event. A missing or malformed setting fails the import,
naming it: on Lambda that is a failed init, not a 502 for the first caller.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tenantry.oauth.app import OAuthLambdaApp
from tenantry.settings import SettingsError
from tenantry_local.apigw import build_event, parse_response
from tenantry_local.emulator import _FakeLambdaContext
from tenantry_local.platform import LocalPlatform

HANDLER_MODULE = "tenantry.oauth.handler"
# Deployed, users sign in upstream (Cognito or the provider named in cdk.json); nothing is fetched
# from it until someone signs in, so placeholders serve discovery.
UPSTREAM = {
    "TENANTRY_OIDC_ISSUER": "https://login.example.com",
    "TENANTRY_OIDC_CLIENT_ID": "tenantry-as",
    "TENANTRY_OIDC_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenantry-oidc-AbCdEf",
}


@pytest.fixture
def function_environment(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The deployed function's TENANTRY_* environment, set for the test; the module forgotten around it."""
    environment = platform.describe()["oauth_environment"] | UPSTREAM
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, HANDLER_MODULE, raising=False)
    yield environment
    sys.modules.pop(HANDLER_MODULE, None)


def _get(path: str) -> dict[str, Any]:
    return build_event(
        method="GET",
        path=path,
        query="",
        headers=[("accept", "application/json"), ("host", "127.0.0.1")],
        body=b"",
        source_ip="127.0.0.1",
        route_key=f"GET {path}",
        claims=None,
    )


def test_import_builds_the_app_and_it_serves_discovery_and_the_jwks(
    function_environment: dict[str, str], platform: LocalPlatform
) -> None:
    module = importlib.import_module(HANDLER_MODULE)
    # Built by the import (Lambda's init phase), before any invocation.
    assert isinstance(module.app, OAuthLambdaApp)
    built = module.app

    response = parse_response(module.handler(_get("/.well-known/oauth-authorization-server"), _FakeLambdaContext("r")))
    assert response.status == 200, response.body
    metadata = json.loads(response.body)
    assert metadata["issuer"] == platform.base_url
    assert metadata["jwks_uri"] == platform.base_url + "/.well-known/jwks.json"

    # The JWKS comes from KMS (the embedded moto) with the function's own signing key id.
    response = parse_response(module.handler(_get("/.well-known/jwks.json"), _FakeLambdaContext("r")))
    assert response.status == 200, response.body
    assert json.loads(response.body) == platform.oauth.signer.jwks()
    assert module.app is built, "the handler rebuilt its app on a warm call"


@pytest.mark.parametrize(
    ("remove", "setting"),
    [
        ("TENANTRY_SIGNING_KEY_IDS", "TENANTRY_SIGNING_KEY_IDS: required, not set"),
        ("TENANTRY_OAUTH_TABLE", "TENANTRY_OAUTH_TABLE: required, not set"),
        # Present in OAuthSettings as optional (./dev local has its own sign-in), required deployed.
        ("TENANTRY_OIDC_ISSUER", "TENANTRY_OIDC_ISSUER"),
    ],
)
def test_a_missing_setting_fails_the_import_naming_it(
    function_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, remove: str, setting: str
) -> None:
    monkeypatch.delenv(remove)
    with pytest.raises(SettingsError) as caught:
        importlib.import_module(HANDLER_MODULE)
    assert setting in str(caught.value)
    assert HANDLER_MODULE not in sys.modules  # a failed init leaves no half-built module behind


def test_a_signing_key_listed_twice_fails_the_import_naming_the_setting(
    function_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = function_environment["TENANTRY_SIGNING_KEY_IDS"]
    monkeypatch.setenv("TENANTRY_SIGNING_KEY_IDS", f"{key},{key}")
    with pytest.raises(SettingsError) as caught:
        importlib.import_module(HANDLER_MODULE)
    assert "TENANTRY_SIGNING_KEY_IDS" in str(caught.value) and "more than once" in str(caught.value)


def test_init_registers_snapstart_hooks_and_a_restored_container_serves_the_jwks(
    function_environment: dict[str, str], platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SnapStart (infra/constructs/auth.py): the JWKS API Gateway fetches is served by a restore, not an init."""
    import random
    import types

    from tenantry.snapstart import RUNTIME_HOOKS_MODULE

    before: list[Any] = []
    after: list[Any] = []
    runtime = types.ModuleType(RUNTIME_HOOKS_MODULE)
    runtime.register_before_snapshot = before.append  # type: ignore[attr-defined]
    runtime.register_after_restore = after.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, RUNTIME_HOOKS_MODULE, runtime)
    module = importlib.import_module(HANDLER_MODULE)
    assert before == [module.app.before_snapshot]
    assert after == [module.app.after_restore]

    for hook in before:  # the snapshot
        hook()
    random.seed(7)
    snapshot_draw = random.random()
    random.seed(7)  # every container resumes with the snapshot's generator state
    for hook in after:
        hook()
    assert random.random() != snapshot_draw, "a restore must reseed random, or containers share its sequence"
    response = parse_response(module.handler(_get("/.well-known/jwks.json"), _FakeLambdaContext("r")))
    assert response.status == 200, response.body
    assert json.loads(response.body) == platform.oauth.signer.jwks()


def test_the_tenants_claim_settings_reach_the_built_server(
    function_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantry.oauth.claim_tenants import TenantsClaim

    module = importlib.import_module(HANDLER_MODULE)
    assert module.app.server.tenants_claim is None  # unset: the members table decides
    sys.modules.pop(HANDLER_MODULE)
    monkeypatch.setenv("TENANTRY_OIDC_TENANTS_CLAIM", "groups")
    monkeypatch.setenv("TENANTRY_OIDC_TENANTS_PREFIX", "tenantry-")
    monkeypatch.setenv("TENANTRY_OIDC_TENANTS_GRANT_DAYS", "2")
    server = importlib.import_module(HANDLER_MODULE).app.server
    assert server.tenants_claim == TenantsClaim("groups", "tenantry-")
    assert server.membership == "idp_claim"
    assert server.lifetimes.claim_absolute_seconds == 2 * 86400
