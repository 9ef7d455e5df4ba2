"""SnapStart on published versions; the API invokes an alias, so every deploy's new version is what serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.constructs.functions import ALIAS
from tests.infra.conftest import Synth, _synth


@pytest.fixture(scope="module")
def without_snapstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield _synth(tmp_path_factory.mktemp("cdk-no-snapstart"), {"snapstart": "false"})


def _function(synth: Synth, name: str) -> tuple[str, dict[str, Any]]:
    logical = synth.logical_id(f"{name}/Function")
    return logical, synth.raw["Resources"][logical]["Properties"]


def _alias(synth: Synth, function_id: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (k, v["Properties"])
        for k, v in synth.resources("AWS::Lambda::Alias").items()
        if v["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    return found


def _mcp_integrations(synth: Synth) -> list[dict[str, Any]]:
    functions = {synth.logical_id(f"{n}/Function") for n in ("Mcp", "Premium") if synth.stack.node.try_find_child(n)}
    aliases = {_alias(synth, f)[0] for f in functions}
    found = []
    for integration in synth.resources("AWS::ApiGatewayV2::Integration").values():
        uri = json.dumps(integration["Properties"]["IntegrationUri"])
        if any(f'"{name}"' in uri for name in functions | aliases):
            found.append(integration["Properties"])
    return found


@pytest.mark.parametrize("name", ["Mcp", "Premium"])
def test_functions_snapstart_on_published_versions_behind_the_live_alias(custom: Synth, name: str) -> None:
    function_id, props = _function(custom, name)
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    _, alias = _alias(custom, function_id)
    assert alias["Name"] == ALIAS
    version_ref = alias["FunctionVersion"]["Fn::GetAtt"][0]
    version = custom.raw["Resources"][version_ref]
    assert version["Type"] == "AWS::Lambda::Version"
    assert version["Properties"]["FunctionName"] == {"Ref": function_id}
    # SnapStart cannot be combined with provisioned concurrency, EFS or more than 512 MB of /tmp.
    assert "ProvisionedConcurrencyConfig" not in alias
    assert "FileSystemConfigs" not in props
    assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512


def test_every_mcp_route_invokes_an_alias_never_latest(synth: Synth, custom: Synth) -> None:
    for stack in (synth, custom):
        integrations = _mcp_integrations(stack)
        assert integrations
        for integration in integrations:
            uri = integration["IntegrationUri"]
            assert set(uri) == {"Ref"}, uri  # an alias's Ref is its ARN; the function's Ref is its bare name
            assert stack.raw["Resources"][uri["Ref"]]["Type"] == "AWS::Lambda::Alias"


def test_api_gateway_may_invoke_the_alias(synth: Synth) -> None:
    alias_id, _ = _alias(synth, _function(synth, "Mcp")[0])
    permitted = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": alias_id}
    ]
    assert permitted and all(p["Principal"] == "apigateway.amazonaws.com" for p in permitted)


def test_context_switch_turns_snapstart_off_and_keeps_the_alias(without_snapstart: Synth) -> None:
    function_id, props = _function(without_snapstart, "Mcp")
    assert "SnapStart" not in props
    assert _alias(without_snapstart, function_id)[1]["Name"] == ALIAS
    assert _mcp_integrations(without_snapstart)


def test_the_authorization_server_restores_from_a_snapshot_behind_its_alias(synth: Synth) -> None:
    # API Gateway fetches discovery and the JWKS from it with a 1,500 ms timeout (docs/deploy.md).
    function_id, props = _function(synth, "Auth")
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias_id, alias = _alias(synth, function_id)
    assert alias["Name"] == ALIAS
    uris = [
        json.dumps(i["Properties"]["IntegrationUri"])
        for i in synth.resources("AWS::ApiGatewayV2::Integration").values()
    ]
    mine = [uri for uri in uris if f'"{function_id}"' in uri or f'"{alias_id}"' in uri]
    assert mine == [json.dumps({"Ref": alias_id})]  # one integration, the alias; never the function's $LATEST


def test_without_snapstart_the_authorization_server_keeps_its_alias(without_snapstart: Synth) -> None:
    function_id, props = _function(without_snapstart, "Auth")
    assert "SnapStart" not in props
    assert _alias(without_snapstart, function_id)[1]["Name"] == ALIAS
