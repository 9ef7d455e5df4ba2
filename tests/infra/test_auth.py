"""The stack's own authorization server: its function, signing key, state tables and upstream sign-in.

The authorizer side (issuer, audiences, routes) is in test_api.py; whether the policies let
anything else sign or reach tenant data is decided by the evaluator in test_policy_evaluation.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from infra.constructs.auth import (
    CALLBACK_PATH,
    HANDLER,
    MEMBER_ACTIONS,
    SIGNING_ACTIONS,
    STATE_ACTIONS,
    VERIFY_ACTIONS,
    KeyStage,
    key_construct_id,
    signing_key_generations,
)
from tenantry.settings import OAuthSettings
from tests.infra.conftest import Synth, _synth
from tests.infra.test_iam import statements_of_role


def props(synth: Synth, path: str) -> dict[str, Any]:
    return synth.raw["Resources"][synth.logical_id(path)]["Properties"]  # type: ignore[no-any-return]


def env(synth: Synth) -> dict[str, Any]:
    return props(synth, "Auth/Function")["Environment"]["Variables"]  # type: ignore[no-any-return]


def arn(synth: Synth, path: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(path), "Arn"]}


def test_the_function_runs_the_oauth_handler_from_the_mcp_functions_code_and_layer(synth: Synth) -> None:
    fn = props(synth, "Auth/Function")
    mcp = props(synth, "Mcp/Function")
    assert fn["Handler"] == HANDLER == "tenantry.oauth.handler.handler"
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Code"] == mcp["Code"]
    assert fn["Layers"] == mcp["Layers"]
    assert fn["Timeout"] < 30  # API Gateway's integration timeout
    assert fn["Role"] != mcp["Role"]


def test_the_environment_sets_every_required_oauth_setting(synth: Synth, custom: Synth) -> None:
    required = {
        f"TENANTRY_{name.upper()}"
        for name, field in OAuthSettings.model_fields.items()
        if field.default is PydanticUndefined and field.default_factory is None
    }
    assert "TENANTRY_SIGNING_KEY_IDS" in required and "TENANTRY_ISSUER_URL" in required
    for variant in (synth, custom):
        variables = env(variant)
        assert required <= set(variables), required - set(variables)
        # The upstream provider is always complete: Cognito's by default, the context's otherwise.
        for name in ("TENANTRY_OIDC_ISSUER", "TENANTRY_OIDC_CLIENT_ID", "TENANTRY_OIDC_CLIENT_SECRET_ARN"):
            assert variables[name], name
        # Every value the settings class reads parses (tokens resolved to plausible values).
        concrete = {k: v if isinstance(v, str) else _plausible(k) for k, v in variables.items()}
        settings = OAuthSettings.from_env(concrete)
        assert settings.scopes_supported == ["mcp:tools"]
        assert settings.dcr_redirect_hosts == ["chatgpt.com"]
        assert not settings.allow_loopback_documents  # loopback client documents are ./dev local only
        assert settings.cimd_ca_file is None  # deployed, documents are checked against the system store only
    variables = env(synth)
    assert variables["TENANTRY_SIGNING_KEY_IDS"] == arn(synth, "Auth/SigningKey")
    assert variables["TENANTRY_OAUTH_TABLE"] == {"Ref": synth.logical_id("Auth/State")}
    assert variables["TENANTRY_MEMBERS_TABLE"] == {"Ref": synth.logical_id("Auth/Members")}
    assert variables["TENANTRY_REGISTRY_TABLE"] == {"Ref": synth.logical_id("Data/Registry")}
    assert variables["TENANTRY_AUDIT_TABLE"] == {"Ref": synth.logical_id("Data/Audit")}


def _plausible(name: str) -> str:
    return {
        "TENANTRY_ISSUER_URL": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "TENANTRY_OAUTH_RESOURCES": "https://abc123.execute-api.us-east-1.amazonaws.com/mcp",
        "TENANTRY_OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc",
        "TENANTRY_OIDC_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
    }.get(name, "resolved-at-deploy")


def test_the_signing_key_is_rsa_sign_verify_and_only_the_servers_role_may_use_it(synth: Synth) -> None:
    key = synth.raw["Resources"][synth.logical_id("Auth/SigningKey")]
    assert key["Properties"]["KeySpec"] == "RSA_2048"  # the JWT authorizer accepts RSA only (RS256)
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    role = arn(synth, "Auth/Role")
    users = [s for s in statements if set(SIGNING_ACTIONS) & set(_list(s["Action"]))]
    assert users == [
        {
            "Action": sorted(SIGNING_ACTIONS),
            "Condition": {"ArnEquals": {"aws:PrincipalArn": role}},
            "Effect": "Allow",
            "Principal": users[0]["Principal"],
            "Resource": "*",
            "Sid": "OnlyTheAuthorizationServerSigns",
        }
    ]
    assert users[0]["Principal"]["AWS"]["Fn::Join"][1][-1] == ":root"
    # Nothing else in the key policy uses the key; the account only administers it.
    for statement in statements:
        for action in _list(statement["Action"]):
            assert action not in {"kms:Verify", "kms:Encrypt", "kms:Decrypt", "kms:CreateGrant"}, statement
    # No other role's identity policy names the key.
    key_id = synth.logical_id("Auth/SigningKey")
    for name, policy in synth.resources("AWS::IAM::Policy").items():
        if {"Ref": synth.logical_id("Auth/Role")} not in policy["Properties"]["Roles"]:
            assert key_id not in json.dumps(policy["Properties"]["PolicyDocument"]), name


def _signing_keys(variant: Synth) -> dict[str, dict[str, Any]]:
    keys = variant.resources("AWS::KMS::Key").items()
    return {k: v for k, v in keys if v["Properties"].get("KeyUsage") == "SIGN_VERIFY"}


def _key_users(key: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if {"kms:Sign", "kms:GetPublicKey"} & set(_list(s["Action"]))
    ]


def test_generation_1_keeps_the_original_key_and_a_rotation_keeps_two_generations() -> None:
    signs, previous = KeyStage.SIGNS, KeyStage.PREVIOUS
    assert signing_key_generations(1) == [(1, "SigningKey", signs)]  # the logical id stacks had before rotation
    assert signing_key_generations(2) == [(2, "SigningKeyV2", signs), (1, "SigningKey", previous)]
    # Generation 1 leaves at generation 3.
    assert signing_key_generations(3) == [(3, "SigningKeyV3", signs), (2, "SigningKeyV2", previous)]


def test_a_staged_key_is_published_after_the_signing_key_and_signs_under_the_same_id_next_generation() -> None:
    assert signing_key_generations(1, staged_next=True) == [
        (1, "SigningKey", KeyStage.SIGNS),
        (2, "SigningKeyV2", KeyStage.NEXT),
    ]
    assert signing_key_generations(2, staged_next=True) == [
        (2, "SigningKeyV2", KeyStage.SIGNS),
        (3, "SigningKeyV3", KeyStage.NEXT),
        (1, "SigningKey", KeyStage.PREVIOUS),
    ]
    for generation in (1, 2, 7):
        staged = {g: cid for g, cid, stage in signing_key_generations(generation, True) if stage is KeyStage.NEXT}
        raised = signing_key_generations(generation + 1)
        # The key staged at N is the one that signs at N+1 (same construct id: not replaced), and the key
        # that signed at N stays published.
        assert raised[0][:2] == (generation + 1, staged[generation + 1])
        assert raised[1] == (generation, key_construct_id(generation), KeyStage.PREVIOUS)


def test_a_default_stack_has_one_signing_key_retained_when_it_leaves(synth: Synth) -> None:
    keys = _signing_keys(synth)
    assert list(keys) == [synth.logical_id("Auth/SigningKey")]
    assert env(synth)["TENANTRY_SIGNING_KEY_IDS"] == arn(synth, "Auth/SigningKey")
    (key,) = keys.values()
    # Two generations on, the key leaves the stack: it stays in the account rather than being deleted.
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_generation_2_signs_with_the_new_key_and_publishes_the_previous_and_the_staged_one(custom: Synth) -> None:
    new = custom.logical_id("Auth/SigningKeyV2")
    old = custom.logical_id("Auth/SigningKey")
    staged = custom.logical_id("Auth/SigningKeyV3")
    keys = _signing_keys(custom)
    assert sorted(keys) == sorted([new, old, staged])
    for key in keys.values():
        assert key["Properties"]["KeySpec"] == "RSA_2048"
        assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
        assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    # The server signs with the first id and publishes every id: the signing key, the staged one, the old one.
    assert env(custom)["TENANTRY_SIGNING_KEY_IDS"] == {
        "Fn::Join": [
            "",
            [
                arn(custom, "Auth/SigningKeyV2"),
                ",",
                arn(custom, "Auth/SigningKeyV3"),
                ",",
                arn(custom, "Auth/SigningKey"),
            ],
        ]
    }
    role = arn(custom, "Auth/Role")
    # Key policies: Sign on the new key only; the old and the staged key only hand out their public key.
    (signs,) = _key_users(keys[new])
    assert sorted(_list(signs["Action"])) == sorted(SIGNING_ACTIONS)
    assert signs["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role}}
    for published in (old, staged):
        (publishes,) = _key_users(keys[published])
        assert publishes["Sid"] == "OnlyTheAuthorizationServerPublishes"
        assert _list(publishes["Action"]) == VERIFY_ACTIONS == ["kms:GetPublicKey"]
        assert publishes["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role}}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_servers_role_reaches_its_own_state_and_nothing_of_tenants(synth: Synth, custom: Synth) -> None:
    for variant, secret, rotation in (
        (synth, {"Ref": synth.logical_id("Auth/SignInClientSecret")}, {}),
        (
            custom,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenantry-oidc-AbCdEf",
            # Generation 2 signs with SigningKeyV2 and only publishes generation 1's and the staged 3's keys.
            {"SignTokens": (sorted(SIGNING_ACTIONS), arn(custom, "Auth/SigningKeyV2"))}
            | {"PublishPreviousSigningKey": (VERIFY_ACTIONS, arn(custom, "Auth/SigningKey"))}
            | {"PublishNextSigningKey": (VERIFY_ACTIONS, arn(custom, "Auth/SigningKeyV3"))},
        ),
    ):
        statements = [
            s for s in statements_of_role(variant, "Auth/Role") if not json.dumps(s["Action"]).startswith('["logs:')
        ]
        granted = {s["Sid"]: (sorted(_list(s["Action"])), s["Resource"]) for s in statements}
        assert (
            granted
            == {
                "OAuthState": (sorted(STATE_ACTIONS), arn(variant, "Auth/State")),
                "ReadMemberships": (sorted(MEMBER_ACTIONS), arn(variant, "Auth/Members")),
                "ReadTenantRegistry": (["dynamodb:GetItem"], arn(variant, "Data/Registry")),
                "WriteAudit": (["dynamodb:PutItem"], arn(variant, "Data/Audit")),
                "SignTokens": (sorted(SIGNING_ACTIONS), arn(variant, "Auth/SigningKey")),
                "ReadUpstreamClientSecret": (["secretsmanager:GetSecretValue"], secret),
            }
            | rotation
        ), variant.stack.node.path
        # The state is read item by item: no Scan, and no Query on the grants of every tenant.
        assert "dynamodb:Scan" not in json.dumps(statements)


def test_no_principal_may_create_cognito_app_clients(synth: Synth, custom: Synth) -> None:
    # Registration creates rows in the OAuth table, never a Cognito client (the old quota exhaustion).
    for variant in (synth, custom):
        text = json.dumps(variant.raw)
        assert "CreateUserPoolClient" not in text
        assert "cognito-idp:*" not in text


def test_by_default_users_sign_in_with_the_stacks_cognito_pool_through_one_confidential_client(
    synth: Synth,
) -> None:
    (pool,) = synth.resources("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["DeletionPolicy"] == "RetainExceptOnCreate"
    assert "LambdaConfig" not in pool["Properties"]  # no pre-token trigger: the tenant is chosen by our server
    (domain,) = synth.resources("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["ManagedLoginVersion"] == 2
    assert domain["Properties"]["Domain"] == {"Fn::Join": ["", ["tenantry-", {"Ref": "AWS::AccountId"}]]}
    (client,) = synth.resources("AWS::Cognito::UserPoolClient").values()
    p = client["Properties"]
    assert p["GenerateSecret"] is True
    assert p["AllowedOAuthFlows"] == ["code"]
    assert p["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(p["AllowedOAuthScopes"]) == {"openid", "email"}  # the server keys memberships by email
    api = synth.logical_id("Api/Api")
    assert p["CallbackURLs"] == [{"Fn::Join": ["", [{"Fn::GetAtt": [api, "ApiEndpoint"]}, CALLBACK_PATH]]}]
    assert p["SupportedIdentityProviders"] == ["COGNITO"]
    assert synth.resources("AWS::Cognito::UserPoolResourceServer") == {}
    (branding,) = synth.resources("AWS::Cognito::ManagedLoginBranding").values()
    assert branding["Properties"]["ClientId"] == {"Ref": synth.logical_id("Auth/UserPool/SignInClient")}
    variables = env(synth)
    assert variables["TENANTRY_OIDC_ISSUER"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [synth.logical_id("Auth/UserPool"), "ProviderURL"]}]]
    }
    assert variables["TENANTRY_OIDC_CLIENT_ID"] == {"Ref": synth.logical_id("Auth/UserPool/SignInClient")}
    assert variables["TENANTRY_OIDC_CLIENT_SECRET_ARN"] == {"Ref": synth.logical_id("Auth/SignInClientSecret")}


def test_the_client_secret_reaches_secrets_manager_at_deploy_time_by_a_read_only_call(synth: Synth) -> None:
    secret = props(synth, "Auth/SignInClientSecret")
    (reader_id,) = synth.resources("Custom::DescribeCognitoUserPoolClient")
    assert secret["SecretString"] == {"Fn::GetAtt": [reader_id, "UserPoolClient.ClientSecret"]}
    reader = synth.raw["Resources"][reader_id]["Properties"]
    assert '"action":"describeUserPoolClient"' in json.dumps(reader["Create"]).replace("\\", "")
    assert '"logApiResponseData":false' in json.dumps(reader["Create"]).replace("\\", "")  # the secret is not logged
    # The provider may describe clients of this pool, nothing else.
    (policy,) = [p for k, p in synth.resources("AWS::IAM::Policy").items() if "DescribeCognitoUserPoolClient" in k]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "cognito-idp:DescribeUserPoolClient"
    assert statement["Resource"] == arn(synth, "Auth/UserPool")


def test_an_outside_oidc_provider_replaces_the_pool(custom: Synth) -> None:
    for type_ in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::SecretsManager::Secret",
    ):
        assert custom.resources(type_) == {}, type_
    variables = env(custom)
    assert variables["TENANTRY_OIDC_ISSUER"] == "https://login.example.com"
    assert variables["TENANTRY_OIDC_CLIENT_ID"] == "tenantry-as"
    assert variables["TENANTRY_OIDC_CLIENT_SECRET_ARN"] == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:tenantry-oidc-AbCdEf"
    )


def test_the_mcp_function_advertises_the_stacks_server_and_its_scope(synth: Synth) -> None:
    mcp = props(synth, "Mcp/Function")["Environment"]["Variables"]
    assert mcp["TENANTRY_AUTHORIZATION_SERVERS"] == {"Fn::GetAtt": [synth.logical_id("Api/Api"), "ApiEndpoint"]}
    assert mcp["TENANTRY_AUTHORIZATION_SERVERS"] == env(synth)["TENANTRY_ISSUER_URL"]
    assert mcp["TENANTRY_SCOPES_SUPPORTED"] == env(synth)["TENANTRY_SCOPES_SUPPORTED"] == "mcp:tools"


def test_outputs_name_the_tables_the_members_cli_uses(synth: Synth, custom: Synth) -> None:
    for variant in (synth, custom):
        outputs = variant.raw["Outputs"]
        assert outputs["MembersTable"]["Value"] == {"Ref": variant.logical_id("Auth/Members")}
        assert outputs["OAuthTable"]["Value"] == {"Ref": variant.logical_id("Auth/State")}
    assert synth.raw["Outputs"]["SigningKeyArn"]["Value"] == arn(synth, "Auth/SigningKey")
    assert custom.raw["Outputs"]["SigningKeyArn"]["Value"] == arn(custom, "Auth/SigningKeyV2")  # the one signing
    assert custom.raw["Outputs"]["PreviousSigningKeyArn"]["Value"] == arn(custom, "Auth/SigningKey")
    assert custom.raw["Outputs"]["NextSigningKeyArn"]["Value"] == arn(custom, "Auth/SigningKeyV3")
    assert "PreviousSigningKeyArn" not in synth.raw["Outputs"]
    assert "NextSigningKeyArn" not in synth.raw["Outputs"]
    assert "UserPoolId" in synth.raw["Outputs"]
    assert "UserPoolId" not in custom.raw["Outputs"]


def test_the_custom_resource_waits_for_its_providers_log_group(synth: Synth) -> None:
    # Otherwise the first invocation lets Lambda create /aws/lambda/<provider>, and the stack's own
    # log group of that name fails "already exists".
    groups = {
        name: group
        for name, group in synth.resources("AWS::Logs::LogGroup").items()
        if "/aws/lambda/" in json.dumps(group["Properties"].get("LogGroupName", ""))
    }
    (group_id,) = groups
    assert groups[group_id]["DeletionPolicy"] == "Delete"
    assert groups[group_id]["Properties"]["RetentionInDays"] == 30
    custom = {n: r for n, r in synth.raw["Resources"].items() if r["Type"].startswith("Custom::")}
    assert custom
    for name, resource in custom.items():
        assert group_id in resource.get("DependsOn", []), name


def test_memberships_come_from_the_members_table_unless_a_tenants_claim_is_named(synth: Synth, custom: Synth) -> None:
    assert not any(name.startswith("TENANTRY_OIDC_TENANTS_") for name in env(synth))
    (client,) = synth.resources("AWS::Cognito::UserPoolClient").values()
    assert "ReadAttributes" not in client["Properties"]  # Cognito's default: the standard attributes
    variables = env(custom)
    assert variables["TENANTRY_OIDC_TENANTS_CLAIM"] == "groups"
    assert variables["TENANTRY_OIDC_TENANTS_PREFIX"] == "tenantry-"
    assert variables["TENANTRY_OIDC_TENANTS_GRANT_DAYS"] == "3"
    # What the function will parse back (settings.py), as the handler does at init.
    parsed = OAuthSettings.model_validate(
        {
            "issuer_url": "https://mcp.example.com",
            "oauth_resources": ["https://mcp.example.com/mcp"],
            "oauth_table": "t",
            "members_table": "m",
            "registry_table": "r",
            "audit_table": "a",
            "signing_key_ids": ["k"],
            "oidc_tenants_claim": variables["TENANTRY_OIDC_TENANTS_CLAIM"],
            "oidc_tenants_prefix": variables["TENANTRY_OIDC_TENANTS_PREFIX"],
            "oidc_tenants_grant_days": variables["TENANTRY_OIDC_TENANTS_GRANT_DAYS"],
        }
    )
    assert (parsed.oidc_tenants_claim, parsed.oidc_tenants_prefix, parsed.oidc_tenants_grant_days) == (
        "groups",
        "tenantry-",
        3,
    )


def test_a_cognito_custom_attribute_claim_is_readable_by_the_sign_in_client_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    claim = _synth(tmp_path_factory.mktemp("cdk-cognito-claim"), {"oidc_tenants_claim": "custom:tenants"})
    assert env(claim)["TENANTRY_OIDC_TENANTS_CLAIM"] == "custom:tenants"
    (client,) = claim.resources("AWS::Cognito::UserPoolClient").values()
    # Read access puts the attribute in the ID token; what the server reads besides stays readable.
    assert set(client["Properties"]["ReadAttributes"]) == {"custom:tenants", "email", "email_verified", "name"}
    # Never writable through the client, and the retained pool's schema is left to the operator
    # (docs/oauth.md): the stack does not add the attribute itself.
    assert "WriteAttributes" not in client["Properties"]
    (pool,) = claim.resources("AWS::Cognito::UserPool").values()
    assert [a["Name"] for a in pool["Properties"]["Schema"] if a["Name"] == "tenants"] == []
