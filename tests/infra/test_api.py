"""The HTTP API: exactly the emulator's routes, the authorizer only where a token is needed, logs and limits."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.api import OAUTH_FRONT_ROUTES, REGISTER_THROTTLE
from tenantry.oauth.server import AS_PATHS
from tenantry_local.emulator import OAUTH_ROUTES, ROUTE_SCOPES, ROUTES
from tests.infra.conftest import Synth

# Deployed only with Cognito (the default); with an external issuer (the custom synth) that issuer serves them.
FRONT_ROUTES = {route: False for route in OAUTH_FRONT_ROUTES}
# NOT YET DEPLOYED (issue 12, infra half): the stack still routes only the Cognito front's two paths;
# the authorization server function's other routes exist locally only. Remove this when the stack
# routes OAUTH_ROUTES to the authorization server function.
MCP_ROUTES = {route: auth for route, auth in ROUTES.items() if route not in OAUTH_ROUTES}


def cognito_scopes(synth: Synth, path: str, scopes: tuple[str, ...]) -> list[Any]:
    """Cognito names a scope '<resource server identifier>/<name>', the identifier being the MCP URL."""
    api = synth.logical_id("Api/Api")
    return [{"Fn::Join": ["", [{"Fn::GetAtt": [api, "ApiEndpoint"]}, f"{path}/{name}"]]} for name in scopes]


def deployed_routes(synth: Synth) -> dict[tuple[str, str], bool]:
    (authorizer_id,) = synth.resources("AWS::ApiGatewayV2::Authorizer")
    deployed = {}
    for route in synth.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        method, path = props["RouteKey"].split(" ", 1)
        protected = props.get("AuthorizationType", "NONE") != "NONE"
        if protected:
            assert props["AuthorizationType"] == "JWT"
            assert props["AuthorizerId"] == {"Ref": authorizer_id}
            expected = ROUTE_SCOPES[("POST", "/mcp")]
            if synth.stack.node.try_find_child("Auth") is not None:
                assert props["AuthorizationScopes"] == cognito_scopes(synth, path, expected)
            else:
                assert tuple(props["AuthorizationScopes"]) == expected
        else:
            assert "AuthorizerId" not in props
            assert "AuthorizationScopes" not in props
        deployed[(method, path)] = protected
    return deployed


def test_routes_match_the_local_emulator_and_only_post_mcp_needs_a_token(synth: Synth) -> None:
    assert deployed_routes(synth) == MCP_ROUTES | FRONT_ROUTES
    assert FRONT_ROUTES.items() <= ROUTES.items()


def test_the_local_authorization_server_answers_the_oauth_front_routes() -> None:
    # Locally the authorization server function answers every path the deployed front answers.
    assert set(OAUTH_FRONT_ROUTES) <= OAUTH_ROUTES
    assert {path for _, path in OAUTH_ROUTES} == AS_PATHS


def test_registration_is_throttled_below_the_default_route_limits(synth: Synth) -> None:
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["RouteSettings"] == {"POST /register": REGISTER_THROTTLE}
    assert REGISTER_THROTTLE["ThrottlingRateLimit"] < stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"]
    # The stage's route settings name the route, so CloudFormation must create the route first.
    register = next(k for k, r in synth.resources("AWS::ApiGatewayV2::Route").items() if "register" in k)
    assert register in synth.raw["Resources"][synth.logical_id("Api/DefaultStage")].get("DependsOn", [])


def test_premium_path_adds_one_authorized_route_rewritten_to_mcp(custom: Synth) -> None:
    assert deployed_routes(custom) == {
        **MCP_ROUTES,
        ("POST", "/business/mcp"): True,
        ("GET", "/.well-known/oauth-protected-resource/business/mcp"): False,
    }
    premium = custom.logical_id("Premium/Live")  # the API invokes the function's live alias
    rewrites = sorted(
        i["Properties"]["RequestParameters"]["overwrite:path"]
        for i in custom.resources("AWS::ApiGatewayV2::Integration").values()
        if premium in json.dumps(i["Properties"]["IntegrationUri"])
    )
    # The call and its own RFC 9728 document, both answered by the premium function.
    assert rewrites == ["/.well-known/oauth-protected-resource/mcp", "/mcp"]
    (authorizer,) = custom.resources("AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["JwtConfiguration"]["Audience"] == [
        "https://mcp.example.com/mcp",
        "https://mcp.example.com/business/mcp",
    ]


def test_jwt_authorizer_checks_issuer_and_the_mcp_url_as_audience(synth: Synth, custom: Synth) -> None:
    (default,) = synth.resources("AWS::ApiGatewayV2::Authorizer").values()
    config = default["Properties"]["JwtConfiguration"]
    # By default the issuer is the stack's own Cognito user pool.
    pool = synth.logical_id("Auth/UserPool")
    assert config["Issuer"] == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [pool, "ProviderURL"]}]]}
    # Without a custom domain the audience is the execute-api URL + /mcp, same as TENANTRY_RESOURCE_URL.
    assert json.dumps(config["Audience"]).endswith('"/mcp"]]}]')
    assert default["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    (with_domain,) = custom.resources("AWS::ApiGatewayV2::Authorizer").values()
    assert with_domain["Properties"]["JwtConfiguration"]["Issuer"] == "https://auth.example.com/"


def test_default_stage_logs_json_with_tenant_claim_and_is_throttled(synth: Synth) -> None:
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    fields = json.loads(props["AccessLogSettings"]["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"
    assert fields["status"] == "$context.status"
    assert fields["latencyMs"] == "$context.responseLatency"
    assert fields["tenant"] == "$context.authorizer.claims.tenant_id"
    log_group = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synth.raw["Resources"][log_group]["Properties"]["RetentionInDays"] == 30


def test_custom_domain_serves_the_apex_and_every_tenant_subdomain(synth: Synth, custom: Synth) -> None:
    assert not synth.resources("AWS::ApiGatewayV2::DomainName")
    names = sorted(d["Properties"]["DomainName"] for d in custom.resources("AWS::ApiGatewayV2::DomainName").values())
    assert names == ["*.mcp.example.com", "mcp.example.com"]
    assert len(custom.resources("AWS::ApiGatewayV2::ApiMapping")) == 2
    (cert,) = custom.resources("AWS::CertificateManager::Certificate").values()
    assert cert["Properties"]["DomainName"] == "mcp.example.com"
    assert cert["Properties"]["SubjectAlternativeNames"] == ["*.mcp.example.com"]
    records = sorted(r["Properties"]["Name"] for r in custom.resources("AWS::Route53::RecordSet").values())
    assert records == ["*.mcp.example.com.", "mcp.example.com."]
