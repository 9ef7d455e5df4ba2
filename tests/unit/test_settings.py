from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.settings import OAuthSettings, Settings, SettingsError

DEPLOYED = {
    "TENANTRY_REGISTRY_TABLE": "prod-tenants",
    "TENANTRY_DATA_TABLE": "prod-data",
    "TENANTRY_USAGE_TABLE": "prod-usage",
    "TENANTRY_AUDIT_TABLE": "prod-audit",
    "TENANTRY_TENANT_ROLE_ARN": "arn:aws:iam::123456789012:role/prod-tenant-access",
    "TENANTRY_SECRETS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "TENANTRY_BRANDING_BUCKET": "prod-branding",
    "TENANTRY_RESOURCE_URL": "https://mcp.example.com/mcp",
}


def test_defaults_and_environment() -> None:
    settings = Settings.from_env(
        {
            **DEPLOYED,
            "TENANTRY_AUTHORIZATION_SERVERS": "https://a.example.com, https://b.example.com",
            "TENANTRY_REGISTRY_CACHE_SECONDS": "60",
            "TENANTRY_SILO_PLANS": "",
        }
    )
    assert settings.data_table == "prod-data"
    assert settings.authorization_servers == ["https://a.example.com", "https://b.example.com"]
    assert settings.registry_cache_seconds == 60
    assert settings.silo_plans == []
    assert settings.tenant_claim == "tenant_id" and settings.max_body_bytes == 1024 * 1024


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="TENANTRY_MAX_BODY_BYTES"):
        Settings.from_env({**DEPLOYED, "TENANTRY_MAX_BODY_BYTES": "lots"})


@pytest.mark.parametrize("missing", sorted(DEPLOYED))
def test_a_missing_deploy_critical_value_fails_naming_it(missing: str) -> None:
    environ = {k: v for k, v in DEPLOYED.items() if k != missing}
    with pytest.raises(SettingsError, match=f"{missing}: required, not set"):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TENANTRY_TENANT_ROLE_ARN", "tenant-access"),  # a name, not an ARN
        ("TENANTRY_SECRETS_KEY_ARN", "alias/tenantry-secrets"),  # an alias is not the key the policies name
        ("TENANTRY_TENANT_CREDENTIALS_SECONDS", "43200"),  # role chaining caps sessions at 1 h
        ("TENANTRY_REGISTRY_CACHE_SECONDS", "-1"),
        ("TENANTRY_MAX_BODY_BYTES", str(10 * 1024 * 1024)),  # beyond Lambda's 6 MB synchronous payload
    ],
)
def test_values_a_deployment_cannot_use_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**DEPLOYED, name: value})


OAUTH_DEPLOYED = {
    "TENANTRY_ISSUER_URL": "https://auth.example.com",
    "TENANTRY_OAUTH_RESOURCES": "https://mcp.example.com/mcp",
    "TENANTRY_OAUTH_TABLE": "prod-oauth",
    "TENANTRY_MEMBERS_TABLE": "prod-members",
    "TENANTRY_REGISTRY_TABLE": "prod-tenants",
    "TENANTRY_AUDIT_TABLE": "prod-audit",
    "TENANTRY_SIGNING_KEY_IDS": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}


def test_an_extra_cimd_ca_is_refused_without_the_local_loopback_switch(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    # Deployed (no local switch): whoever held that CA's key could impersonate any document host.
    with pytest.raises(SettingsError, match=r"TENANTRY_CIMD_CA_FILE: .*`\./dev local` only"):
        OAuthSettings.from_env({**OAUTH_DEPLOYED, "TENANTRY_CIMD_CA_FILE": str(ca)})
    with pytest.raises(SettingsError, match="TENANTRY_CIMD_CA_FILE"):
        OAuthSettings.from_env(
            {**OAUTH_DEPLOYED, "TENANTRY_CIMD_CA_FILE": str(ca), "TENANTRY_ALLOW_LOOPBACK_DOCUMENTS": "false"}
        )
    local = {**OAUTH_DEPLOYED, "TENANTRY_ALLOW_LOOPBACK_DOCUMENTS": "true"}
    assert OAuthSettings.from_env({**local, "TENANTRY_CIMD_CA_FILE": str(ca)}).cimd_ca_file == str(ca)
    with pytest.raises(SettingsError, match=r"TENANTRY_CIMD_CA_FILE: .*not a readable file"):
        OAuthSettings.from_env({**local, "TENANTRY_CIMD_CA_FILE": str(tmp_path / "missing.pem")})
    assert OAuthSettings.from_env(OAUTH_DEPLOYED).cimd_ca_file is None


def test_allowed_origins_default_to_none_and_parse_as_origins() -> None:
    assert Settings.from_env(DEPLOYED).allowed_origins == []
    settings = Settings.from_env(
        {**DEPLOYED, "TENANTRY_ALLOWED_ORIGINS": "https://App.Example.com, http://localhost:6274"}
    )
    assert settings.allowed_origins == ["https://app.example.com", "http://localhost:6274"]


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/", "https://a.example.com/path", "*"])
def test_an_allowed_origin_that_is_not_an_origin_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="TENANTRY_ALLOWED_ORIGINS"):
        Settings.from_env({**DEPLOYED, "TENANTRY_ALLOWED_ORIGINS": value})


def test_memberships_come_from_the_members_table_unless_a_tenants_claim_is_named() -> None:
    from tenantry.oauth.claim_tenants import TenantsClaim
    from tenantry.oauth.services import tenants_claim

    unset = OAuthSettings.from_env(OAUTH_DEPLOYED)
    assert (unset.oidc_tenants_claim, unset.oidc_tenants_prefix, unset.oidc_tenants_grant_days) == (None, "", 7)
    assert tenants_claim(unset) is None
    # An empty variable (a template that always sets it) is "not configured".
    assert tenants_claim(OAuthSettings.from_env({**OAUTH_DEPLOYED, "TENANTRY_OIDC_TENANTS_CLAIM": " "})) is None
    okta = OAuthSettings.from_env(
        {
            **OAUTH_DEPLOYED,
            "TENANTRY_OIDC_TENANTS_CLAIM": "groups",
            "TENANTRY_OIDC_TENANTS_PREFIX": "tenantry-",
            "TENANTRY_OIDC_TENANTS_GRANT_DAYS": "1",
        }
    )
    assert tenants_claim(okta) == TenantsClaim("groups", "tenantry-")
    assert okta.oidc_tenants_grant_days == 1
    namespaced = {**OAUTH_DEPLOYED, "TENANTRY_OIDC_TENANTS_CLAIM": "https://tenantry.example.com/tenants"}
    assert OAuthSettings.from_env(namespaced).oidc_tenants_claim == "https://tenantry.example.com/tenants"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TENANTRY_OIDC_TENANTS_PREFIX": "tenantry-"}, r"TENANTRY_OIDC_TENANTS_PREFIX: .*CLAIM, which is not set"),
        ({"TENANTRY_OIDC_TENANTS_CLAIM": "my tenants"}, "TENANTRY_OIDC_TENANTS_CLAIM"),
        ({"TENANTRY_OIDC_TENANTS_CLAIM": "groups", "TENANTRY_OIDC_TENANTS_PREFIX": "a,b"}, "PREFIX"),
        ({"TENANTRY_OIDC_TENANTS_CLAIM": "groups", "TENANTRY_OIDC_TENANTS_GRANT_DAYS": "91"}, "GRANT_DAYS"),
        ({"TENANTRY_OIDC_TENANTS_CLAIM": "groups", "TENANTRY_OIDC_TENANTS_GRANT_DAYS": "0"}, "GRANT_DAYS"),
    ],
)
def test_a_malformed_tenants_claim_setting_is_refused_naming_it(variables: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        OAuthSettings.from_env({**OAUTH_DEPLOYED, **variables})
