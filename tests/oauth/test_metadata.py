"""Discovery documents carry what RFC 8414, OIDC Discovery, RFC 9728 and the MCP spec require."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import Flow

AS_PATHS = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]


@pytest.mark.parametrize("path", AS_PATHS)
def test_authorization_server_metadata(http: httpx.Client, platform: LocalPlatform, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    meta = response.json()
    # RFC 8414 2: issuer, authorization_endpoint, token_endpoint and response_types_supported are required;
    # the issuer is the URL the document is found under, https or loopback, no query or fragment.
    assert meta["issuer"] == platform.base_url
    issuer = urlsplit(meta["issuer"])
    assert not issuer.query and not issuer.fragment
    for endpoint in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
        assert meta[endpoint].startswith(platform.base_url + "/")
    assert meta["response_types_supported"] == ["code"]
    # MCP authorization: clients must refuse a server that does not advertise S256.
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert meta["client_id_metadata_document_supported"] is True
    # ChatGPT requests every advertised scope: advertise only the one clients may have.
    assert meta["scopes_supported"] == ["mcp:tools"]


def test_openid_configuration_has_the_oidc_required_fields(http: httpx.Client) -> None:
    meta = http.get("/.well-known/openid-configuration").json()
    assert meta["subject_types_supported"] == ["public"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "openid" not in meta["scopes_supported"]


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"])
def test_protected_resource_metadata_points_at_this_authorization_server(
    http: httpx.Client, platform: LocalPlatform, path: str
) -> None:
    meta = http.get(path).json()
    # RFC 9728 2/3.3: `resource` is required and must be the resource the client asked about.
    assert meta["resource"] == platform.mcp_url
    assert meta["authorization_servers"] == [platform.base_url]
    assert meta["scopes_supported"] == ["mcp:tools"]
    assert meta["bearer_methods_supported"] == ["header"]


def test_401_without_a_token_is_the_deployed_authorizers_bare_challenge(
    http: httpx.Client, platform: LocalPlatform
) -> None:
    # The HTTP API JWT authorizer's answer to a request with no token: no error, no resource_metadata.
    response = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"message": "Unauthorized"}


def test_401_with_a_bad_token_names_the_error_but_never_the_metadata(http: httpx.Client) -> None:
    response = http.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"authorization": "Bearer x.y.z"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer scope="" error="invalid_token" error_description="the token could not be verified"'
    )


def test_clients_find_the_metadata_at_the_well_known_path_of_the_mcp_url(
    http: httpx.Client, platform: LocalPlatform
) -> None:
    # What a client does with AWS's 401 (RFC 9728 3.1, MCP 2025-11-25): the well-known URL built
    # from the resource URL itself, which the deployed stack routes to the MCP function.
    path = urlsplit(platform.mcp_url).path
    meta = http.get(f"/.well-known/oauth-protected-resource{path}").json()
    assert meta["resource"] == platform.mcp_url


@pytest.mark.emulator  # a local-only option of tenantry_local's authorizer; API Gateway has no such header
def test_resource_metadata_in_the_401_only_behind_the_local_option(http: httpx.Client, platform: LocalPlatform) -> None:
    platform.emulator.advertise_resource_metadata = True
    try:
        response = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    finally:
        platform.emulator.advertise_resource_metadata = False
    expected = f'Bearer resource_metadata="{platform.base_url}/.well-known/oauth-protected-resource/mcp"'
    assert response.headers["www-authenticate"] == expected


def test_issued_access_token_verifies_against_the_published_jwks(flow: Flow, platform: LocalPlatform) -> None:
    tokens = flow.redeem(flow.code()).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0 and tokens["scope"] == "mcp:tools"
    jwks = flow.http.get("/.well-known/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    claims = jwt.decode(
        tokens["access_token"], key.key, algorithms=["RS256"], audience=platform.mcp_url, issuer=platform.base_url
    )
    assert claims["tenant_id"] == "ironworks-gym"
    assert claims["client_id"] == flow.client_id
    assert claims["sub"] == "owner@ironworks.example"
    # The key id is the RFC 7638 thumbprint of the KMS public key; the header names the access-token type.
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["kid"] == key.key_id and header["typ"] == "at+jwt"
