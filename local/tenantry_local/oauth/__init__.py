"""A dev OAuth 2.1 authorization server for the local emulator (never deployed).

It stands in for the deployed authorization server (Amazon Cognito) so the whole
MCP sign-in runs on a laptop: RFC 8414 / OIDC discovery, Dynamic Client
Registration (RFC 7591), Client ID Metadata Documents, authorization code with
PKCE S256, resource indicators (RFC 8707) and rotating refresh tokens. Access
tokens are minted by the local DevIssuer, so the emulated API Gateway accepts them.
"""

from tenantry_local.oauth.app import oauth_app
from tenantry_local.oauth.clients import ClientRegistry
from tenantry_local.oauth.directory import DEMO_USERS, Directory, DirectoryUser
from tenantry_local.oauth.errors import OAuthError
from tenantry_local.oauth.policy import RedirectPolicy
from tenantry_local.oauth.server import AS_PATHS, AuthorizationServer

__all__ = [
    "AS_PATHS",
    "DEMO_USERS",
    "AuthorizationServer",
    "ClientRegistry",
    "Directory",
    "DirectoryUser",
    "OAuthError",
    "RedirectPolicy",
    "oauth_app",
]
