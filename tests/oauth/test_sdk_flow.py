"""The official MCP Python SDK's OAuth client signs in end to end against the local stack.

API Gateway's 401 (no resource_metadata) -> the well-known RFC 9728 metadata -> RFC 8414 metadata -> DCR
or a client metadata document (CIMD) -> authorize (PKCE S256, resource) -> token -> the tool call carries the new token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx2
import jwt
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tenantry_local.platform import LocalPlatform
from tests.backoff import AsyncBackoffTransport
from tests.oauth.conftest import REDIRECT_URI, DocumentServer, approve_in_a_browser, query_of, registered_clients
from tests.tls import LocalTls


class LoopbackTransport(AsyncBackoffTransport):
    """Connects `*.localhost` to 127.0.0.1 (not every resolver does, browsers do), keeping the Host header."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host.endswith(".localhost"):
            request.url = request.url.copy_with(host="127.0.0.1")
        return await super().handle_async_request(request)


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def sign_in_and_call(
    platform: LocalPlatform,
    user: str,
    tenant: str | None = None,
    client_metadata_url: str | None = None,
    stale_token: str | None = None,
    challenges: list[str] | None = None,
    mcp_url: str | None = None,
) -> tuple[dict[str, Any], MemoryStorage, list[tuple[str, str, int]]]:
    mcp_url = mcp_url or platform.mcp_url
    storage = MemoryStorage()
    if stale_token is not None:
        # A token the gateway refuses (e.g. from a key since retired): the first 401 is the bad-token form.
        storage.tokens = OAuthToken(access_token=stale_token, token_type="Bearer")
    pending: list[AuthorizationCodeResult] = []
    trace: list[tuple[str, str, int]] = []

    async def redirect_handler(authorization_url: str) -> None:
        # The user's browser: sign in on the dev page, pick the tenant, allow.
        query = query_of(await approve_in_a_browser(platform, authorization_url, user, tenant))
        pending.append(AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss")))

    async def callback_handler() -> AuthorizationCodeResult:
        return pending.pop()

    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            client_name="Tenantry OAuth test",
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        # With it, the SDK sends this URL as its client_id when the server advertises CIMD support.
        client_metadata_url=client_metadata_url,
    )

    async def record(response: httpx2.Response) -> None:
        if response.status_code == 401 and challenges is not None:
            challenges.append(response.headers["www-authenticate"])
        trace.append((response.request.method, urlsplit(str(response.request.url)).path, response.status_code))

    http = httpx2.AsyncClient(
        auth=provider, timeout=30, event_hooks={"response": [record]}, transport=LoopbackTransport()
    )
    async with http, Client(streamable_http_client(mcp_url, http_client=http)) as client:
        result = await client.call_tool("get_tenant_profile", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content), storage, trace


async def test_sdk_discovers_registers_signs_in_and_calls_a_tool(platform: LocalPlatform) -> None:
    profile, storage, trace = await sign_in_and_call(platform, "owner@ironworks.example")

    assert profile["tenant_id"] == "ironworks-gym"
    # The discovery chain the spec describes, in order, starting from the gateway's 401.
    steps = [(method, path, status) for method, path, status in trace]
    first_401 = steps.index(("POST", "/mcp", 401))
    expected = [
        ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/register", 201),
        ("POST", "/token", 200),
    ]
    assert steps[first_401 + 1 : first_401 + 5] == expected
    assert ("POST", "/mcp", 200) in steps[first_401 + 5 :]

    assert storage.client_info is not None and storage.client_info.client_id.startswith("dcr-")
    assert storage.tokens is not None and storage.tokens.refresh_token
    token = storage.tokens.access_token
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"  # RFC 9068
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == platform.mcp_url
    assert claims["iss"] == platform.base_url
    assert claims["tenant_id"] == "ironworks-gym"
    assert claims["sub"] == "owner@ironworks.example"
    assert claims["scope"] == "mcp:tools"
    assert claims["client_id"] == storage.client_info.client_id
    assert {"iat", "exp", "nbf", "jti"} <= claims.keys()


async def test_a_user_of_three_tenants_gets_the_tenant_picked_on_the_consent_page(platform: LocalPlatform) -> None:
    lotus, storage, _ = await sign_in_and_call(platform, "accountant@books.example", tenant="lotus-yoga")
    assert lotus["tenant_id"] == "lotus-yoga"
    assert storage.tokens is not None
    assert jwt.decode(storage.tokens.access_token, options={"verify_signature": False})["tenant_id"] == "lotus-yoga"

    summit, _, _ = await sign_in_and_call(platform, "accountant@books.example", tenant="summit-climbing")
    assert summit["tenant_id"] == "summit-climbing"


async def test_sdk_signs_in_from_the_bare_challenge_aws_sends_without_a_token(platform: LocalPlatform) -> None:
    challenges: list[str] = []
    profile, storage, trace = await sign_in_and_call(platform, "owner@lotus.example", challenges=challenges)
    assert profile["tenant_id"] == "lotus-yoga"
    assert challenges[0] == "Bearer"  # exactly what API Gateway sends: nothing to discover from
    assert ("GET", "/.well-known/oauth-protected-resource/mcp", 200) in trace
    # No scope in the challenge: the SDK asks for the metadata's scopes_supported.
    assert storage.tokens is not None
    assert jwt.decode(storage.tokens.access_token, options={"verify_signature": False})["scope"] == "mcp:tools"


async def test_sdk_signs_in_again_from_the_bad_token_challenge_aws_sends(platform: LocalPlatform) -> None:
    challenges: list[str] = []
    stale = platform.token("lotus-yoga", ttl_seconds=-3600)  # expired an hour ago
    profile, storage, trace = await sign_in_and_call(
        platform, "owner@lotus.example", stale_token=stale, challenges=challenges
    )
    assert profile["tenant_id"] == "lotus-yoga"
    assert challenges[0] == 'Bearer scope="" error="invalid_token" error_description="the token has expired"'
    assert ("GET", "/.well-known/oauth-protected-resource/mcp", 200) in trace
    assert storage.tokens is not None and storage.tokens.access_token != stale
    # The SDK reads scope="" as a scope named ""; the server treats that as none and grants the default.
    assert jwt.decode(storage.tokens.access_token, options={"verify_signature": False})["scope"] == "mcp:tools"


async def test_sdk_signs_in_with_a_client_metadata_document_served_over_https_without_registering(
    platform: LocalPlatform, local_tls: LocalTls
) -> None:
    # The SDK uses a client_id URL only when it is https: the document is served on 127.0.0.1 with
    # a certificate from the session's throwaway CA, which the local platform was started trusting.
    before = registered_clients(platform)
    with DocumentServer.serving(local_tls.server_context()) as documents:
        url = documents.publish("/clients/python-sdk.json", client_name="Python SDK over CIMD")
        assert url.startswith("https://127.0.0.1:")
        profile, storage, trace = await sign_in_and_call(platform, "owner@summit.example", client_metadata_url=url)
        fetched = list(documents.requests)

    assert profile["tenant_id"] == "summit-climbing"
    assert fetched and set(fetched) == {"/clients/python-sdk.json"}  # the server read the document
    # No Dynamic Client Registration: no /register call, no client record created.
    assert all(path != "/register" for _, path, _ in trace)
    assert registered_clients(platform) == before
    assert storage.client_info is not None and storage.client_info.client_id == url
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["client_id"] == url
    assert claims["tenant_id"] == "summit-climbing"
    assert claims["aud"] == platform.mcp_url


async def test_sdk_signs_in_through_a_tenant_subdomain(platform: LocalPlatform) -> None:
    # RFC 9728 3.3: the SDK refuses metadata whose resource is not the URL it connects to; through
    # a tenant host that is the host's own URL, which the server accepts for that tenant only.
    port = urlsplit(platform.base_url).port
    tenant_url = f"http://ironworks.localhost:{port}/mcp"
    profile, storage, _ = await sign_in_and_call(platform, "accountant@books.example", mcp_url=tenant_url)
    assert profile["tenant_id"] == "ironworks-gym"  # the host's tenant, with no picking among three
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["tenant_id"] == "ironworks-gym"
    assert claims["aud"] == platform.mcp_url  # the audience the JWT authorizer checks
