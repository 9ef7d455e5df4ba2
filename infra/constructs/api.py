"""The HTTP API in front of the MCP function: routes, JWT authorizer, access logs, custom domain.

Only POST /mcp carries the authorizer. The RFC 9728 metadata must be readable
before a client has a token, and GET/DELETE /mcp are routed only so the function
can answer 405 (an SSE stream cannot pass through API Gateway and Lambda).
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import RemovalPolicy
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

__all__ = ["PROTECTED_ROUTES", "PUBLIC_ROUTES", "McpApi"]

PROTECTED_ROUTES = [("POST", "/mcp")]
PREMIUM_ROUTE = ("POST", "/business/mcp")
PUBLIC_ROUTES = [
    ("GET", "/mcp"),
    ("DELETE", "/mcp"),
    ("GET", "/.well-known/oauth-protected-resource"),
    ("GET", "/.well-known/oauth-protected-resource/mcp"),
]


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
        )
        # The public MCP URL is also the token audience (RFC 8707 resource indicator).
        origin = f"https://{config.domain}" if config.domain else self.api.api_endpoint
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
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer",
            config.issuer,
            jwt_audience=list(config.audience) or [u for u in (self.mcp_url, self.premium_url) if u],
            authorizer_name="tenantry-jwt",
        )
        if config.domain:
            self._custom_domain(config)

    def route_to(self, function: lambda_.IFunction) -> None:
        integration = integrations.HttpLambdaIntegration("Mcp", function)
        for method, path in PROTECTED_ROUTES:
            self.api.add_routes(
                path=path,
                methods=[apigw.HttpMethod(method)],
                integration=integration,
                authorizer=self.authorizer,
                # A token passes with any one of these in its scope claim.
                authorization_scopes=list(self.config.scopes),
            )
        for method, path in PUBLIC_ROUTES:
            (route,) = self.api.add_routes(path=path, methods=[apigw.HttpMethod(method)], integration=integration)
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "Public by design: RFC 9728 metadata is read before a client holds a token, and "
                "GET/DELETE /mcp only answer 405.",
            )

    def route_premium(self, function: lambda_.IFunction) -> None:
        """POST /business/mcp to the premium function; the path is rewritten so the function sees /mcp."""
        integration = integrations.HttpLambdaIntegration(
            "Premium",
            function,
            parameter_mapping=apigw.ParameterMapping().overwrite_path(apigw.MappingValue.custom("/mcp")),
        )
        self.api.add_routes(
            path=PREMIUM_ROUTE[1],
            methods=[apigw.HttpMethod(PREMIUM_ROUTE[0])],
            integration=integration,
            authorizer=self.authorizer,
            authorization_scopes=list(self.config.scopes),
        )

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
