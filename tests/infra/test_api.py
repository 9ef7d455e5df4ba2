"""The HTTP API: exactly the emulator's routes, the authorizer only where a token is needed, logs and limits."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from starlette.routing import Route

from infra.constructs.api import route_settings
from tenantry.oauth.app import oauth_app
from tenantry.oauth.server import AS_PATHS
from tenantry.routes import API_ROUTES, JWKS_PATH, OIDC_DISCOVERY_PATH, Throttle
from tenantry_local.emulator import OAUTH_ROUTES, ROUTE_SCOPES, ROUTES
from tests.infra.conftest import Synth


def authorizers(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.resources("AWS::ApiGatewayV2::Authorizer")


def deployed_routes(synth: Synth) -> dict[tuple[str, str], bool]:
    deployed = {}
    for route in synth.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        method, path = props["RouteKey"].split(" ", 1)
        protected = props.get("AuthorizationType", "NONE") != "NONE"
        if protected:
            assert props["AuthorizationType"] == "JWT"
            assert props["AuthorizerId"]["Ref"] in authorizers(synth)
            # The scope names the stack's own server puts in `scope`, as they are.
            assert tuple(props["AuthorizationScopes"]) == ROUTE_SCOPES[("POST", "/mcp")]
        else:
            assert "AuthorizerId" not in props
            assert "AuthorizationScopes" not in props
        deployed[(method, path)] = protected
    return deployed


def test_routes_match_the_local_emulator_and_only_post_mcp_needs_a_token(synth: Synth) -> None:
    # The shared route list, authorization server included, is exactly what the stack deploys ...
    assert deployed_routes(synth) == {route.key: route.authorized for route in API_ROUTES}
    # ... and exactly what the emulator routes.
    assert deployed_routes(synth) == ROUTES
    assert ROUTES[("POST", "/mcp")] is True
    assert not any(ROUTES[route] for route in OAUTH_ROUTES)


def test_the_deployed_authorization_server_routes_are_the_ones_its_app_serves() -> None:
    assert {path for _, path in OAUTH_ROUTES} == AS_PATHS
    # The Starlette app's own route table (building it reads only the server's URL).
    app = oauth_app(SimpleNamespace(url="https://mcp.example.com"))  # type: ignore[arg-type]
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"  # Starlette adds HEAD to every GET; API Gateway routes only what is listed
    }
    assert served == OAUTH_ROUTES


def test_the_authorization_server_routes_reach_its_function_without_an_authorizer(synth: Synth) -> None:
    # The function's live alias (SnapStart restores it), never $LATEST: tests/infra/test_snapstart.py.
    targets = (synth.logical_id("Auth/Function"), synth.logical_id("Auth/Live"))
    integrations = {
        k
        for k, i in synth.resources("AWS::ApiGatewayV2::Integration").items()
        if any(f'"{target}"' in json.dumps(i) for target in targets)
    }
    assert len(integrations) == 1
    routes = {
        tuple(r["Properties"]["RouteKey"].split(" ", 1)): r["Properties"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
        if any(i in json.dumps(r["Properties"]["Target"]) for i in integrations)
    }
    assert set(routes) == OAUTH_ROUTES
    assert all(r.get("AuthorizationType", "NONE") == "NONE" for r in routes.values())
    # POST /mcp keeps its authorizer and goes to the MCP function.
    (mcp,) = [
        r["Properties"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == "POST /mcp"
    ]
    assert mcp["AuthorizationType"] == "JWT"


def test_every_public_authorization_server_route_is_throttled_below_the_default_route_limits(synth: Synth) -> None:
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    public = Throttle(rate=20, burst=40)
    expected = route_settings([r for r in API_ROUTES if r.function == "oauth"], public)
    assert stage["Properties"]["RouteSettings"] == expected
    # Registration and tokens keep their own caps; every other route of the server gets the public one.
    oauth = [r for r in API_ROUTES if r.function == "oauth"]
    assert set(expected) == {f"{r.method} {r.path}" for r in oauth}
    assert expected["POST /register"] == {"ThrottlingRateLimit": 2, "ThrottlingBurstLimit": 5}
    assert expected["POST /token"] == {"ThrottlingRateLimit": 25, "ThrottlingBurstLimit": 50}
    assert expected["GET /authorize"] == {"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}
    default = stage["Properties"]["DefaultRouteSettings"]
    for limits in expected.values():
        assert limits["ThrottlingRateLimit"] < default["ThrottlingRateLimit"]
        assert limits["ThrottlingBurstLimit"] < default["ThrottlingBurstLimit"]
    # The stage's route settings name the routes, so CloudFormation must create them first.
    depends = synth.raw["Resources"][synth.logical_id("Api/DefaultStage")].get("DependsOn", [])
    routes = synth.resources("AWS::ApiGatewayV2::Route")
    for route in oauth:
        (logical,) = [k for k, r in routes.items() if r["Properties"]["RouteKey"] == f"{route.method} {route.path}"]
        assert logical in depends, route


def test_the_jwt_authorizers_come_after_the_stage_and_the_discovery_routes(synth: Synth, custom: Synth) -> None:
    # API Gateway reads the issuer's discovery document and JWKS through this same API.
    for variant in (synth, custom):
        routes = variant.resources("AWS::ApiGatewayV2::Route")
        needed = {
            k
            for k, r in routes.items()
            if r["Properties"]["RouteKey"] in {f"GET {OIDC_DISCOVERY_PATH}", f"GET {JWKS_PATH}"}
        }
        assert len(needed) == 2
        needed.add(variant.logical_id("Api/DefaultStage"))
        authorizers = variant.resources("AWS::ApiGatewayV2::Authorizer")
        assert len(authorizers) == (2 if variant is custom else 1)
        for name, authorizer in authorizers.items():
            assert needed <= set(authorizer.get("DependsOn", [])), name


def test_premium_path_adds_one_authorized_route_rewritten_to_mcp(custom: Synth) -> None:
    assert deployed_routes(custom) == {
        **ROUTES,
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


def test_the_premium_path_has_its_own_audience(custom: Synth) -> None:
    # A token for /mcp must not work on /business/mcp, nor the reverse: one authorizer per audience.
    by_id = {k: a["Properties"]["JwtConfiguration"] for k, a in authorizers(custom).items()}
    assert len(by_id) == 2
    route_audience = {}
    for route in custom.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        if props.get("AuthorizationType") == "JWT":
            route_audience[props["RouteKey"]] = by_id[props["AuthorizerId"]["Ref"]]["Audience"]
    assert route_audience == {
        "POST /mcp": ["https://mcp.example.com/mcp"],
        "POST /business/mcp": ["https://mcp.example.com/business/mcp"],
    }
    assert {json.dumps(c["Issuer"]) for c in by_id.values()} == {'"https://mcp.example.com"'}
    # The authorization server issues tokens for both resources (RFC 8707), each with its own `aud`.
    env = custom.raw["Resources"][custom.logical_id("Auth/Function")]["Properties"]["Environment"]["Variables"]
    assert env["TENANTRY_OAUTH_RESOURCES"] == "https://mcp.example.com/mcp,https://mcp.example.com/business/mcp"


def test_jwt_authorizer_trusts_the_stacks_own_server_for_the_mcp_url(synth: Synth, custom: Synth) -> None:
    (default,) = authorizers(synth).values()
    config = default["Properties"]["JwtConfiguration"]
    api = synth.logical_id("Api/Api")
    # The issuer is this API's origin, where the authorization server serves
    # /.well-known/openid-configuration (API Gateway reads jwks_uri there) ...
    assert config["Issuer"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}
    # ... and it is exactly the `iss` that server signs (TENANTRY_ISSUER_URL).
    env = synth.raw["Resources"][synth.logical_id("Auth/Function")]["Properties"]["Environment"]["Variables"]
    assert env["TENANTRY_ISSUER_URL"] == config["Issuer"]
    # The audience is the MCP URL, the same value the MCP function and the server use.
    mcp_url = {"Fn::Join": ["", [{"Fn::GetAtt": [api, "ApiEndpoint"]}, "/mcp"]]}
    assert config["Audience"] == [mcp_url]
    assert env["TENANTRY_OAUTH_RESOURCES"] == mcp_url
    assert default["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    # With a custom domain, the domain is the issuer (tokens name it, not the execute-api host).
    issuers = {json.dumps(a["Properties"]["JwtConfiguration"]["Issuer"]) for a in authorizers(custom).values()}
    assert issuers == {'"https://mcp.example.com"'}
    custom_env = custom.raw["Resources"][custom.logical_id("Auth/Function")]["Properties"]["Environment"]["Variables"]
    assert custom_env["TENANTRY_ISSUER_URL"] == "https://mcp.example.com"


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


def test_cors_and_the_functions_origin_allow_list_are_one_setting(synth: Synth, custom: Synth) -> None:
    """No origin by default: no CORS at all, and the functions refuse any Origin. Configured: the API's
    CORS allow-list and every MCP function's TENANTRY_ALLOWED_ORIGINS are the same origins."""
    from tenantry.settings import Settings

    (default_api,) = synth.resources("AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in default_api["Properties"]
    (api,) = custom.resources("AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    origins = ["https://app.example.com", "https://admin.example.com:8443"]
    assert cors["AllowOrigins"] == origins
    assert cors["AllowMethods"] == ["POST"]
    assert {"authorization", "content-type", "mcp-protocol-version"} <= set(cors["AllowHeaders"])
    for stack, expected in ((synth, []), (custom, origins)):
        mcp_functions = [
            f["Properties"]
            for f in stack.resources("AWS::Lambda::Function").values()
            if ".mcp_server." in f["Properties"]["Handler"]
        ]
        assert mcp_functions
        for props in mcp_functions:
            raw = props["Environment"]["Variables"]["TENANTRY_ALLOWED_ORIGINS"]
            assert Settings._browser_origins([o for o in raw.split(",") if o]) == expected
