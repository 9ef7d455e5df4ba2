"""The HTTP API's routes, written once: the stack deploys them, the local emulator serves them.

Plain data (no CDK, no emulator, no AWS): infra/constructs/api.py builds the API Gateway routes
from it, tenantry_local/emulator.py routes the laptop's requests by it, and the functions take
the paths they answer from it. The premium path (/business/mcp), deployed only when configured,
is the stack's own addition and stays in infra/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "API_ROUTES",
    "AS_METADATA_PATH",
    "JWKS_PATH",
    "MCP_PATH",
    "OIDC_DISCOVERY_PATH",
    "RESOURCE_METADATA_PATHS",
    "STAGE_THROTTLE",
    "ApiRoute",
    "Throttle",
]

MCP_PATH = "/mcp"
# RFC 9728 protected-resource metadata, answered by the MCP function.
RESOURCE_METADATA_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
OIDC_DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class Throttle:
    """A route's own stage limit (API Gateway route settings), below the stage's default."""

    rate: int
    burst: int


# The stage's default route throttle (each route gets its own bucket of this size unless it has
# one below): the stack's default for the throttle_rate/throttle_burst context values.
STAGE_THROTTLE = Throttle(rate=100, burst=200)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    # Which function answers: the MCP server, or the authorization server.
    function: Literal["mcp", "oauth"]
    # True: the JWT authorizer (with the deployment's scopes) stands in front; False: public.
    authorized: bool = False
    throttle: Throttle | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("POST", MCP_PATH, "mcp", authorized=True),
    # Routed only so the function can answer 405: an SSE stream cannot pass through API Gateway and Lambda.
    ApiRoute("GET", MCP_PATH, "mcp"),
    ApiRoute("DELETE", MCP_PATH, "mcp"),
    # Read before a client holds a token.
    *(ApiRoute("GET", path, "mcp") for path in RESOURCE_METADATA_PATHS),
    # The authorization server: public, it is how a client gets a token.
    ApiRoute("GET", AS_METADATA_PATH, "oauth"),
    ApiRoute("GET", OIDC_DISCOVERY_PATH, "oauth"),
    ApiRoute("GET", JWKS_PATH, "oauth"),
    # The function also limits each source address (TENANTRY_REGISTER_PER_MINUTE, TENANTRY_TOKEN_PER_MINUTE).
    # Registration writes a client item, so it stays slow; /token carries every refresh of every
    # connected user, so it gets more room.
    ApiRoute("POST", "/register", "oauth", throttle=Throttle(rate=2, burst=5)),
    ApiRoute("GET", "/authorize", "oauth"),
    ApiRoute("GET", "/callback", "oauth"),
    ApiRoute("POST", "/consent", "oauth"),
    ApiRoute("POST", "/token", "oauth", throttle=Throttle(rate=25, burst=50)),
)
