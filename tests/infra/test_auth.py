"""Cognito as the default authorization server: one user pool on Essentials with managed login, a
resource server named by the MCP URL, the tenant trigger (V2) reading memberships with the least
privilege, registration behind a redirect-host allow-list, and the API trusting exactly this pool."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.auth import FRONT_ACTIONS, FRONT_HANDLER, MEMBER_ACTIONS, TRIGGER_HANDLER
from tests.infra.conftest import Synth
from tests.infra.test_iam import statements_of_role


def props(synth: Synth, path: str) -> dict[str, Any]:
    return synth.raw["Resources"][synth.logical_id(path)]["Properties"]  # type: ignore[no-any-return]


def mcp_env(synth: Synth) -> dict[str, Any]:
    return props(synth, "Mcp/Function")["Environment"]["Variables"]  # type: ignore[no-any-return]


def mcp_url(synth: Synth) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [synth.logical_id("Api/Api"), "ApiEndpoint"]}, "/mcp"]]}


def mcp_scope(synth: Synth) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [synth.logical_id("Api/Api"), "ApiEndpoint"]}, "/mcp/mcp:tools"]]}


def test_one_user_pool_on_essentials_invite_only_with_a_tenant_choice_attribute(synth: Synth) -> None:
    (pool,) = synth.resources("AWS::Cognito::UserPool").values()
    p = pool["Properties"]
    assert p["UserPoolTier"] == "ESSENTIALS"
    assert p["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    (attribute,) = [a for a in p["Schema"] if a["Name"] == "active_tenant"]
    assert attribute["Mutable"] is True
    # Users and their sign-in history outlive a stack deletion, like the tables.
    assert pool["DeletionPolicy"] == "Retain"
    assert p["DeletionProtection"] == "ACTIVE"
    # Cognito's own open registration has no redirect allow-list; it stays off (POST /register instead).
    assert "DcrConfiguration" not in p


def test_managed_login_domain_prefix_defaults_to_stack_name_and_account(synth: Synth) -> None:
    (domain,) = synth.resources("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["ManagedLoginVersion"] == 2
    assert domain["Properties"]["Domain"] == {"Fn::Join": ["", ["tenantry-", {"Ref": "AWS::AccountId"}]]}


def test_the_resource_server_is_named_by_the_mcp_url_the_authorizer_and_metadata_use(synth: Synth) -> None:
    (server,) = synth.resources("AWS::Cognito::UserPoolResourceServer").values()
    identifier = server["Properties"]["Identifier"]
    assert identifier == mcp_url(synth)
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == ["mcp:tools"]
    (authorizer,) = synth.resources("AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["JwtConfiguration"]["Audience"] == [identifier]
    assert mcp_env(synth)["TENANTRY_RESOURCE_URL"] == identifier


def test_protected_resource_metadata_advertises_the_api_origin_and_cognitos_scope_name(synth: Synth) -> None:
    env = mcp_env(synth)
    api = synth.logical_id("Api/Api")
    assert env["TENANTRY_AUTHORIZATION_SERVERS"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}
    assert env["TENANTRY_SCOPES_SUPPORTED"] == mcp_scope(synth)


def test_pre_token_generation_v2_is_the_tenant_trigger_and_only_cognito_invokes_it(synth: Synth) -> None:
    trigger = synth.logical_id("Auth/TokenTrigger")
    config = props(synth, "Auth/UserPool")["LambdaConfig"]
    assert config == {
        "PreTokenGenerationConfig": {"LambdaArn": {"Fn::GetAtt": [trigger, "Arn"]}, "LambdaVersion": "V2_0"}
    }
    fn = props(synth, "Auth/TokenTrigger")
    assert fn["Handler"] == TRIGGER_HANDLER
    assert fn["Timeout"] <= 5  # Cognito's limit for a trigger
    assert fn["Environment"]["Variables"]["TENANTRY_MEMBERS_TABLE"] == {"Ref": synth.logical_id("Auth/Members")}
    assert fn["Environment"]["Variables"]["TENANTRY_TENANT_CLAIM"] == "tenant_id"
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [trigger, "Arn"]}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [trigger, "Arn"]},
            "Principal": "cognito-idp.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [synth.logical_id("Auth/UserPool"), "Arn"]},
        }
    ]


def test_the_trigger_may_only_read_memberships_and_nobody_else_reads_them(synth: Synth) -> None:
    members = synth.logical_id("Auth/Members")
    statements = statements_of_role(synth, "Auth/TokenTriggerRole")
    data = [s for s in statements if "logs:" not in json.dumps(s["Action"])]
    assert data == [
        {
            "Action": MEMBER_ACTIONS,
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [members, "Arn"]},
            "Sid": "ReadMemberships",
        }
    ]
    assert MEMBER_ACTIONS == ["dynamodb:GetItem", "dynamodb:Query"]
    for path in ("Execution/Role", "TenantAccess/Role", "Auth/OAuthFrontRole"):
        assert members not in json.dumps(statements_of_role(synth, path)), path


def test_registration_creates_clients_in_this_pool_only_for_allowed_redirect_hosts(synth: Synth) -> None:
    fn = props(synth, "Auth/OAuthFront")
    assert fn["Handler"] == FRONT_HANDLER
    env = fn["Environment"]["Variables"]
    assert env["TENANTRY_DCR_REDIRECT_HOSTS"] == "chatgpt.com"
    # Registered clients get, and the metadata advertises, exactly the scope the route requires.
    assert env["TENANTRY_SCOPES_SUPPORTED"] == mcp_scope(synth)
    assert env["TENANTRY_USER_POOL_ID"] == {"Ref": synth.logical_id("Auth/UserPool")}
    assert env["TENANTRY_AS_ISSUER"] == {"Fn::GetAtt": [synth.logical_id("Api/Api"), "ApiEndpoint"]}
    statements = [s for s in statements_of_role(synth, "Auth/OAuthFrontRole") if s.get("Sid") == "RegisterClients"]
    # @aws-cdk/aws-iam:minimizePolicies (cdk.json) sorts a statement's actions.
    assert statements == [
        {
            "Action": sorted(FRONT_ACTIONS),
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [synth.logical_id("Auth/UserPool"), "Arn"]},
            "Sid": "RegisterClients",
        }
    ]
    assert all(a.startswith("cognito-idp:Create") or a == "cognito-idp:DeleteUserPoolClient" for a in FRONT_ACTIONS)


def test_the_oauth_front_routes_are_public_and_reach_the_front_function(synth: Synth) -> None:
    front = synth.logical_id("Auth/OAuthFront")
    integrations = {
        k for k, i in synth.resources("AWS::ApiGatewayV2::Integration").items() if front in json.dumps(i["Properties"])
    }
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
        if any(i in json.dumps(r["Properties"]["Target"]) for i in integrations)
    }
    assert set(routes) == {"GET /.well-known/oauth-authorization-server", "POST /register"}
    assert all(r["AuthorizationType"] == "NONE" for r in routes.values())


def test_an_external_issuer_deploys_no_user_pool(custom: Synth) -> None:
    for type_ in ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolResourceServer", "AWS::Cognito::UserPoolDomain"):
        assert custom.resources(type_) == {}
    assert custom.stack.node.try_find_child("Auth") is None
    env = custom.resources("AWS::Lambda::Function")[custom.logical_id("Mcp/Function")]["Properties"]["Environment"]
    assert env["Variables"]["TENANTRY_AUTHORIZATION_SERVERS"] == "https://auth.example.com/"
    assert env["Variables"]["TENANTRY_SCOPES_SUPPORTED"] == "mcp:tools"
