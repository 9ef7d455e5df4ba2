"""The two small functions the auth construct deploys, driven with the events Cognito and API Gateway send.

Fakes stand in for DynamoDB and Cognito; nothing here needs the synthesized template.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tenantry.cognito import front, trigger
from tenantry.cognito.front import FrontSettings, RegistrationError, authorization_server_metadata, register_client
from tenantry.cognito.trigger import DynamoMemberships, SignInRefusedError, add_tenant_claim

SUB = "4a1b2c3d-0000-4000-8000-00000000beef"
# A V2_0 pre token generation event as Cognito sends it for a managed-login sign-in.
V2_EVENT: dict[str, Any] = {
    "version": "2",
    "triggerSource": "TokenGeneration_HostedAuth",
    "region": "eu-west-1",
    "userPoolId": "eu-west-1_Example",
    "userName": SUB,
    "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "5abc123clientid"},
    "request": {
        "userAttributes": {"sub": SUB, "email": "accountant@books.example", "email_verified": "true"},
        "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None},
        "scopes": ["https://mcp.example.com/mcp/mcp:tools"],
    },
    "response": {"claimsAndScopeOverrideDetails": None},
}


class FakeDynamo:
    """Answers Query like DynamoDB (pages of two), from (user, tenant_id) pairs."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        user = request["ExpressionAttributeValues"][":u"]["S"]
        tenants = [t for u, t in self.pairs if u == user]
        start = int(request.get("ExclusiveStartKey", {}).get("n", 0))
        page = {"Items": [{"tenant_id": {"S": t}} for t in tenants[start : start + 2]]}
        if start + 2 < len(tenants):
            page["LastEvaluatedKey"] = {"n": str(start + 2)}
        return page


def event(active_tenant: str | None = None) -> dict[str, Any]:
    e = copy.deepcopy(V2_EVENT)
    if active_tenant is not None:
        e["request"]["userAttributes"]["custom:active_tenant"] = active_tenant
    return e


def access_claims(result: dict[str, Any]) -> dict[str, str]:
    details = result["response"]["claimsAndScopeOverrideDetails"]
    return details["accessTokenGeneration"]["claimsToAddOrOverride"]  # type: ignore[no-any-return]


def test_a_member_of_one_tenant_gets_it_in_the_access_token() -> None:
    store = DynamoMemberships("tenantry-members", FakeDynamo((SUB, "ironworks"), ("someone-else", "lotus")))
    result = add_tenant_claim(event(), store, "tenant_id")
    assert access_claims(result) == {"tenant_id": "ironworks"}
    assert result["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]["claimsToAddOrOverride"] == {
        "tenant_id": "ironworks"
    }


def test_the_claim_name_follows_the_deployment() -> None:
    store = DynamoMemberships("t", FakeDynamo((SUB, "ironworks")))
    assert access_claims(add_tenant_claim(event(), store, "org")) == {"org": "ironworks"}


def test_a_user_without_membership_gets_no_token() -> None:
    store = DynamoMemberships("t", FakeDynamo(("someone-else", "lotus")))
    with pytest.raises(SignInRefusedError, match="not a member of any tenant"):
        add_tenant_claim(event(), store, "tenant_id")


def test_a_user_of_several_tenants_gets_the_active_one_across_query_pages() -> None:
    dynamo = FakeDynamo((SUB, "ironworks"), (SUB, "lotus"), (SUB, "summit"))
    result = add_tenant_claim(event(active_tenant="summit"), DynamoMemberships("t", dynamo), "tenant_id")
    assert access_claims(result) == {"tenant_id": "summit"}
    assert len(dynamo.requests) == 2  # the third membership was on the second page
    assert dynamo.requests[0]["TableName"] == "t"


def test_a_user_of_several_tenants_without_a_choice_is_refused_not_defaulted() -> None:
    store = DynamoMemberships("t", FakeDynamo((SUB, "ironworks"), (SUB, "lotus")))
    with pytest.raises(SignInRefusedError, match="belongs to 2 tenants"):
        add_tenant_claim(event(), store, "tenant_id")


def test_an_active_tenant_the_user_does_not_belong_to_is_refused() -> None:
    store = DynamoMemberships("t", FakeDynamo((SUB, "ironworks"), (SUB, "lotus")))
    with pytest.raises(SignInRefusedError, match="'summit' is not one of your tenants"):
        add_tenant_claim(event(active_tenant="summit"), store, "tenant_id")


def test_a_single_membership_still_checks_a_stale_choice() -> None:
    store = DynamoMemberships("t", FakeDynamo((SUB, "ironworks")))
    with pytest.raises(SignInRefusedError):
        add_tenant_claim(event(active_tenant="lotus"), store, "tenant_id")


def test_the_lambda_entry_reads_its_table_and_claim_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_MEMBERS_TABLE", "tenantry-members")
    monkeypatch.setenv("TENANTRY_TENANT_CLAIM", "tenant_id")
    monkeypatch.setattr(trigger, "_store", DynamoMemberships("tenantry-members", FakeDynamo((SUB, "lotus"))))
    assert access_claims(trigger.handler(event(), None)) == {"tenant_id": "lotus"}


# --- the OAuth front: RFC 8414 metadata and registration -------------------------------------------------

SCOPE = "https://mcp.example.com/mcp/mcp:tools"
SETTINGS = FrontSettings(
    issuer="https://mcp.example.com",
    cognito_domain="https://tenantry-123456789012.auth.eu-west-1.amazoncognito.com",
    jwks_uri="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example/.well-known/jwks.json",
    user_pool_id="eu-west-1_Example",
    scopes=(SCOPE,),
    redirect_hosts=frozenset({"chatgpt.com"}),
)
CHATGPT = "https://chatgpt.com/connector/oauth/abc123"


class FakeCognito:
    def __init__(self, fail_branding: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_branding = fail_branding

    def create_user_pool_client(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_user_pool_client", kwargs))
        return {"UserPoolClient": {"ClientId": "newclient123", **kwargs}}

    def create_managed_login_branding(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_managed_login_branding", kwargs))
        if self.fail_branding:
            raise RuntimeError("LimitExceededException")
        return {}

    def delete_user_pool_client(self, **kwargs: Any) -> None:
        self.calls.append(("delete_user_pool_client", kwargs))


def test_metadata_adds_pkce_and_points_at_cognito_with_our_registration() -> None:
    doc = authorization_server_metadata(SETTINGS)
    assert doc["issuer"] == "https://mcp.example.com"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_endpoint"] == f"{SETTINGS.cognito_domain}/oauth2/authorize"
    assert doc["token_endpoint"] == f"{SETTINGS.cognito_domain}/oauth2/token"
    assert doc["registration_endpoint"] == "https://mcp.example.com/register"
    assert doc["scopes_supported"] == [SCOPE]
    assert "client_id_metadata_document_supported" not in doc  # Cognito has no CIMD


def test_the_metadata_route_answers_through_the_lambda_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(front, "_settings", SETTINGS)
    response = front.handler({"routeKey": "GET /.well-known/oauth-authorization-server"}, None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["issuer"] == SETTINGS.issuer
    assert front.handler({"routeKey": "GET /elsewhere"}, None)["statusCode"] == 404


def test_chatgpt_registers_a_public_pkce_client_with_only_the_mcp_scope() -> None:
    cognito = FakeCognito()
    answer = register_client(
        {
            "redirect_uris": [CHATGPT],
            "client_name": "ChatGPT <connector>",
            "token_endpoint_auth_method": "client_secret_post",
            "scope": SCOPE,
        },
        SETTINGS,
        cognito,
    )
    (name, created), (branding_call, branding) = cognito.calls
    assert name == "create_user_pool_client" and branding_call == "create_managed_login_branding"
    assert created["GenerateSecret"] is False
    assert created["CallbackURLs"] == [CHATGPT]
    assert created["AllowedOAuthFlows"] == ["code"]
    assert created["AllowedOAuthScopes"] == [SCOPE]
    assert created["ClientName"] == "ChatGPT -connector-"
    assert branding == {"UserPoolId": "eu-west-1_Example", "ClientId": "newclient123", "UseCognitoProvidedValues": True}
    assert answer["client_id"] == "newclient123"
    assert answer["token_endpoint_auth_method"] == "none"  # substituted: PKCE protects public clients
    assert answer["scope"] == SCOPE


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": ["https://evil.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://chatgpt.com/connector/oauth/x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://chatgpt.com.evil.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://user@chatgpt.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [CHATGPT + "#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({}, "invalid_redirect_uri"),
        ({"redirect_uris": [CHATGPT], "grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"redirect_uris": [CHATGPT], "response_types": ["token"]}, "invalid_client_metadata"),
        ({"redirect_uris": [CHATGPT], "scope": "openid aws.cognito.signin.user.admin"}, "invalid_client_metadata"),
        (["not", "an", "object"], "invalid_client_metadata"),
    ],
)
def test_bad_registrations_get_the_rfc_7591_error_and_create_nothing(body: Any, error: str) -> None:
    cognito = FakeCognito()
    with pytest.raises(RegistrationError) as caught:
        register_client(body, SETTINGS, cognito)
    assert caught.value.code == error
    assert cognito.calls == []


def test_the_sdk_empty_scope_quirk_registers_like_no_scope() -> None:
    cognito = FakeCognito()
    assert register_client({"redirect_uris": [CHATGPT], "scope": '""'}, SETTINGS, cognito)["client_id"]


def test_a_client_that_cannot_get_a_login_style_is_deleted_again() -> None:
    cognito = FakeCognito(fail_branding=True)
    with pytest.raises(RuntimeError):
        register_client({"redirect_uris": [CHATGPT]}, SETTINGS, cognito)
    assert cognito.calls[-1] == (
        "delete_user_pool_client",
        {"UserPoolId": "eu-west-1_Example", "ClientId": "newclient123"},
    )


def test_the_register_route_answers_201_or_400_with_the_error_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(front, "_settings", SETTINGS)
    monkeypatch.setattr(front, "_cognito", FakeCognito())
    ok = front.handler({"routeKey": "POST /register", "body": json.dumps({"redirect_uris": [CHATGPT]})}, None)
    assert ok["statusCode"] == 201
    assert json.loads(ok["body"])["client_id"] == "newclient123"
    bad = front.handler(
        {"routeKey": "POST /register", "body": json.dumps({"redirect_uris": ["https://x.example/"]})}, None
    )
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["error"] == "invalid_redirect_uri"
    assert json.loads(front.handler({"routeKey": "POST /register", "body": "{"}, None)["body"])["error"] == (
        "invalid_client_metadata"
    )


def test_settings_come_from_the_environment_the_construct_sets() -> None:
    env = {
        "TENANTRY_AS_ISSUER": "https://mcp.example.com/",
        "TENANTRY_COGNITO_DOMAIN": SETTINGS.cognito_domain,
        "TENANTRY_COGNITO_JWKS_URI": SETTINGS.jwks_uri,
        "TENANTRY_USER_POOL_ID": "eu-west-1_Example",
        "TENANTRY_SCOPES_SUPPORTED": SCOPE,
        "TENANTRY_DCR_REDIRECT_HOSTS": "ChatGPT.com,example.org",
    }
    settings = FrontSettings.from_env(env)
    assert settings.issuer == "https://mcp.example.com"
    assert settings.redirect_hosts == frozenset({"chatgpt.com", "example.org"})
