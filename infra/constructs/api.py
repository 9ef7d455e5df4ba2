"""The HTTP API in front of the MCP function: routes, JWT authorizer, access logs, custom domain.

Only POST /mcp (and POST /business/mcp) carry an authorizer. The RFC 9728 metadata must be
readable before a client has a token, and GET/DELETE /mcp are routed only so the function
can answer 405 (an SSE stream cannot pass through API Gateway and Lambda). The authorization
server's routes are public: they are how a client gets a token.

The issuer is the stack's own authorization server on this API's origin; API Gateway reads
`{issuer}/.well-known/openid-configuration` (a route of this same API) for `jwks_uri`. Each MCP
path has its own authorizer whose audience is that path's URL alone, so a token for /mcp is
refused on /business/mcp and the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from infra.config import DeployConfig
from infra.constructs.functions import retention
from infra.nag import acknowledge
from tenantry.routes import API_ROUTES, JWKS_PATH, OIDC_DISCOVERY_PATH, ApiRoute, Throttle

__all__ = ["CORS_HEADERS", "PREMIUM_METADATA_ROUTE", "PREMIUM_ROUTE", "McpApi", "cors_for", "route_settings"]

# The routes every stack deploys are tenantry/routes.py (the local emulator serves the same list);
# the premium path is deployed only when configured, so it is the stack's own.
PREMIUM_ROUTE = ("POST", "/business/mcp")
PREMIUM_METADATA_ROUTE = ("GET", "/.well-known/oauth-protected-resource/business/mcp")


# What a browser client of /mcp sends and reads (streamable HTTP's headers, the 2026-07-28 routing ones).
CORS_HEADERS = ["authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name", "mcp-session-id"]


def cors_for(origins: Sequence[str]) -> apigw.CorsPreflightOptions | None:
    """The API's CORS settings: exactly the origins the functions serve (TENANTRY_ALLOWED_ORIGINS).

    None when none is allowed: no CORS configuration, so a browser page on another origin cannot
    even read a refusal, and the function answers any Origin it gets with 403 anyway.
    """
    if not origins:
        return None
    return apigw.CorsPreflightOptions(
        allow_origins=list(origins),
        allow_methods=[apigw.CorsHttpMethod.POST],
        allow_headers=CORS_HEADERS,
        expose_headers=["mcp-session-id", "www-authenticate"],
        max_age=Duration.hours(1),
    )


def route_settings(routes: Sequence[ApiRoute], public: Throttle | None = None) -> dict[str, dict[str, int]]:
    """The stage's RouteSettings: each throttled route's own caps, below the default route limits.

    `public`: the caps of every route given without a throttle of its own (the authorization server's
    other public routes), so no single public route can use the stage's whole default rate.
    """
    settings = {}
    for route in routes:
        throttle = route.throttle or public
        if throttle is not None:
            settings[f"{route.method} {route.path}"] = {
                "ThrottlingRateLimit": throttle.rate,
                "ThrottlingBurstLimit": throttle.burst,
            }
    return settings


class McpApi(Construct):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, id)
        self.config = config
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=f"{config.name_prefix}-mcp",
            description="Tenantry MCP endpoint",
            create_default_stage=False,
            cors_preflight=cors_for(config.allowed_origins),
        )
        # The public MCP URL is also the token audience (RFC 8707 resource indicator).
        self.origin = f"https://{config.domain}" if config.domain else self.api.api_endpoint
        origin = self.origin
        self.mcp_url = f"{origin}/mcp"
        self.premium_url = f"{origin}{PREMIUM_ROUTE[1]}" if config.premium_reserved_concurrency else None
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        # $default serves from the root, which /.well-known discovery needs (a named stage adds a path).
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=config.throttle_rate, burst_limit=config.throttle_burst),
            access_log_settings=_AccessLogs(
                apigw.LogGroupLogDestination(self.access_logs),
                apigw_v1.AccessLogFormat.custom(json.dumps(access_log_fields(config.tenant_claim))),
            ),
        )
        self.authorizer: authorizers.HttpJwtAuthorizer | None = None
        self.premium_authorizer: authorizers.HttpJwtAuthorizer | None = None
        self._scopes: list[str] = []
        self._discovery: list[apigw.HttpRoute] = []
        if config.domain:
            self._custom_domain(config)

    def set_authorizer(self, issuer: str, scopes: Sequence[str]) -> None:
        """JWT authorizers trusting `issuer`: one per MCP URL, each with that URL alone as its audience."""
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer", issuer, jwt_audience=[self.mcp_url], authorizer_name="tenantry-jwt"
        )
        if self.premium_url:
            self.premium_authorizer = authorizers.HttpJwtAuthorizer(
                "PremiumJwtAuthorizer", issuer, jwt_audience=[self.premium_url], authorizer_name="tenantry-jwt-premium"
            )
        self._scopes = list(scopes)

    def _authorizer(self, premium: bool = False) -> authorizers.HttpJwtAuthorizer:
        authorizer = self.premium_authorizer if premium else self.authorizer
        if authorizer is None:
            raise RuntimeError("McpApi.set_authorizer() must run before the routes are added")
        return authorizer

    def _protected(
        self, method: str, path: str, integration: apigw.HttpRouteIntegration, premium: bool = False
    ) -> None:
        self.api.add_routes(
            path=path,
            methods=[apigw.HttpMethod(method)],
            integration=integration,
            authorizer=self._authorizer(premium),
            # A token passes with any one of these in its scope claim.
            authorization_scopes=self._scopes,
        )

    def _public(self, method: str, path: str, integration: apigw.HttpRouteIntegration, why: str) -> apigw.HttpRoute:
        (route,) = self.api.add_routes(path=path, methods=[apigw.HttpMethod(method)], integration=integration)
        acknowledge(route, "AwsSolutions-APIG4", f"Public by design: {why}")
        return route

    def route_to(self, function: lambda_.IFunction) -> None:
        """The MCP function's routes: POST /mcp behind the JWT authorizer, the rest public."""
        integration = integrations.HttpLambdaIntegration("Mcp", function)
        for route in API_ROUTES:
            if route.function != "mcp":
                continue
            if route.authorized:
                self._protected(route.method, route.path, integration)
            else:
                self._public(
                    route.method,
                    route.path,
                    integration,
                    "RFC 9728 metadata is read before a client holds a token, and GET/DELETE /mcp only answer 405.",
                )

    def route_authorization_server(self, function: lambda_.IFunction) -> None:
        """Discovery, JWKS, registration, sign-in, consent and tokens: public, two of them throttled on their own."""
        integration = integrations.HttpLambdaIntegration("AuthorizationServer", function)
        routes = [route for route in API_ROUTES if route.function == "oauth"]
        discovery: list[apigw.HttpRoute] = []
        for route in routes:
            added = self._public(
                route.method,
                route.path,
                integration,
                "this is the OAuth authorization server clients use to get a token (discovery, "
                "registration, sign-in, consent, token); PKCE, CSRF and rate limits guard it.",
            )
            # Route settings name a route key, which must exist before the stage is updated (every
            # oauth route has one: its own throttle or the public one).
            self.stage.node.add_dependency(added)
            if route.path in (OIDC_DISCOVERY_PATH, JWKS_PATH):
                discovery.append(added)
        public = Throttle(rate=self.config.public_throttle_rate, burst=self.config.public_throttle_burst)
        stage = self.stage.node.default_child
        stage.add_property_override("RouteSettings", route_settings(routes, public))  # type: ignore[union-attr]
        # API Gateway reads {issuer}/.well-known/openid-configuration and the JWKS it names through this
        # very API: the authorizers come after the stage and those two routes, so the first request a
        # fresh stack authorizes can already reach them.
        self._discovery = discovery
        self._order_authorizers()

    def _order_authorizers(self) -> None:
        for authorizer in self._authorizer_resources():
            authorizer.node.add_dependency(self.stage, *self._discovery)

    def _authorizer_resources(self) -> list[apigw.CfnAuthorizer]:
        # The JWT authorizers' CfnAuthorizer resources are created when a route first binds them.
        return [child for child in self.api.node.find_all() if isinstance(child, apigw.CfnAuthorizer)]

    def route_premium(self, function: lambda_.IFunction) -> None:
        """POST /business/mcp to the premium function; the path is rewritten so the function sees /mcp."""
        integration = integrations.HttpLambdaIntegration(
            "Premium",
            function,
            parameter_mapping=apigw.ParameterMapping().overwrite_path(apigw.MappingValue.custom("/mcp")),
        )
        self._protected(*PREMIUM_ROUTE, integration, premium=True)
        self._order_authorizers()
        # RFC 9728: the premium URL's own metadata document, answered by the premium function
        # (its TENANTRY_RESOURCE_URL is the premium URL), so strict clients accept that resource.
        metadata = integrations.HttpLambdaIntegration(
            "PremiumMetadata",
            function,
            parameter_mapping=apigw.ParameterMapping().overwrite_path(
                apigw.MappingValue.custom("/.well-known/oauth-protected-resource/mcp")
            ),
        )
        self._public(*PREMIUM_METADATA_ROUTE, metadata, "RFC 9728 metadata is read before a client holds a token.")

    def _custom_domain(self, config: DeployConfig) -> None:
        assert config.domain is not None
        names = [config.domain] + ([f"*.{config.domain}"] if config.tenant_subdomains else [])
        zone = (
            route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
            )
            if config.hosted_zone_id and config.hosted_zone_name
            else None
        )
        if config.certificate_arn:
            certificate: acm.ICertificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", config.certificate_arn
            )
        else:
            assert zone is not None  # config.load_config requires a certificate or a zone with a domain
            certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=config.domain,
                subject_alternative_names=names[1:],
                validation=acm.CertificateValidation.from_dns(zone),
            )
        for index, name in enumerate(names):
            suffix = "Wildcard" if index else "Apex"
            domain = apigw.DomainName(self, f"Domain{suffix}", domain_name=name, certificate=certificate)
            apigw.ApiMapping(self, f"Mapping{suffix}", api=self.api, domain_name=domain, stage=self.stage)
            if zone is not None:
                route53.ARecord(
                    self,
                    f"Alias{suffix}",
                    zone=zone,
                    record_name=name,
                    target=route53.RecordTarget.from_alias(
                        targets.ApiGatewayv2DomainProperties(
                            domain.regional_domain_name, domain.regional_hosted_zone_id
                        )
                    ),
                )


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    """IAccessLogSettings is a jsii interface (not a struct), so it takes a small class rather than a dict."""

    def __init__(self, destination: apigw.IAccessLogDestination, format: apigw_v1.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format


def access_log_fields(tenant_claim: str) -> dict[str, str]:
    """One JSON line per request; the tenant claim lets Logs Insights slice traffic per tenant."""
    return {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "responseLength": "$context.responseLength",
        "tenant": f"$context.authorizer.claims.{tenant_claim}",
        "authorizerError": "$context.authorizer.error",
        "integrationError": "$context.integrationErrorMessage",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
    }
