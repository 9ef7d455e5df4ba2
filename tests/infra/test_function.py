"""The MCP function: runtime, code and layer, the environment the runtime reads, logs and tracing."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth


def function(synth: Synth, name: str = "Mcp") -> dict[str, Any]:
    return synth.raw["Resources"][synth.logical_id(f"{name}/Function")]["Properties"]  # type: ignore[no-any-return]


def test_runs_the_handler_on_arm64_python_with_the_dependency_layer(synth: Synth) -> None:
    props = function(synth)
    assert props["Handler"] == "tenantry.mcp_server.handler.handler"
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] < 30  # API Gateway's integration timeout
    (layer_id,) = synth.resources("AWS::Lambda::LayerVersion")
    assert props["Layers"] == [{"Ref": layer_id}]


def test_environment_names_every_resource_the_runtime_needs(synth: Synth, custom: Synth) -> None:
    env = function(synth)["Environment"]["Variables"]
    expected = {
        "TENANTRY_REGISTRY_TABLE",
        "TENANTRY_DATA_TABLE",
        "TENANTRY_CELL_TABLES",
        "TENANTRY_SILO_TABLE_PREFIX",
        "TENANTRY_USAGE_TABLE",
        "TENANTRY_AUDIT_TABLE",
        "TENANTRY_TENANT_ROLE_ARN",
        "TENANTRY_SECRETS_KEY_ARN",
        "TENANTRY_BRANDING_BUCKET",
        "TENANTRY_TENANT_CLAIM",
        "TENANTRY_RESOURCE_URL",
        "TENANTRY_AUTHORIZATION_SERVERS",
        "TENANTRY_SCOPES_SUPPORTED",
        "TENANTRY_REGISTRY_CACHE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    assert expected <= set(env)
    assert env["POWERTOOLS_SERVICE_NAME"] == "tenantry"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Tenantry"
    # The runtime builds silo table names as prefix + tenant id; IAM grants on the same pattern.
    assert env["TENANTRY_SILO_TABLE_PREFIX"] == "tenantry-silo-"
    assert env["TENANTRY_TENANT_ROLE_ARN"] == {"Fn::GetAtt": [synth.logical_id("TenantAccess/Role"), "Arn"]}
    assert "TENANTRY_BASE_DOMAIN" not in env
    custom_env = function(custom)["Environment"]["Variables"]
    assert custom_env["TENANTRY_BASE_DOMAIN"] == "mcp.example.com"
    assert custom_env["TENANTRY_RESOURCE_URL"] == "https://mcp.example.com/mcp"
    # The stack's own authorization server, on the custom domain.
    assert custom_env["TENANTRY_AUTHORIZATION_SERVERS"] == "https://mcp.example.com"
    cells = [custom.logical_id(p) for p in ("Data/Data", "Data/DataCell1", "Data/DataCell2")]
    assert custom_env["TENANTRY_CELL_TABLES"] == {
        "Fn::Join": ["", [{"Ref": cells[0]}, ",", {"Ref": cells[1]}, ",", {"Ref": cells[2]}]]
    }


def test_logs_are_kept_for_the_configured_period_and_tracing_follows_context(synth: Synth, custom: Synth) -> None:
    for variant, days, tracing in ((synth, 30, None), (custom, 90, "Active")):
        props = function(variant)
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert variant.raw["Resources"][log_group]["Properties"]["RetentionInDays"] == days
        assert props.get("TracingConfig", {}).get("Mode") == tracing
        assert props["Environment"]["Variables"]["TENANTRY_TRACING"] == ("true" if tracing else "false")
    assert function(custom)["ReservedConcurrentExecutions"] == 50
    assert "ReservedConcurrentExecutions" not in function(synth)


def test_premium_function_serves_only_its_plans_with_reserved_concurrency(synth: Synth, custom: Synth) -> None:
    # By default one MCP function (the authorization server's is tests/infra/test_auth.py's).
    mcp_functions = [
        f for f in synth.resources("AWS::Lambda::Function").values() if ".mcp_server." in f["Properties"]["Handler"]
    ]
    assert len(mcp_functions) == 1
    premium = function(custom, "Premium")
    assert premium["ReservedConcurrentExecutions"] == 20
    assert premium["Environment"]["Variables"]["TENANTRY_SERVE_PLANS"] == "business"
    assert premium["Environment"]["Variables"]["TENANTRY_RESOURCE_URL"] == "https://mcp.example.com/business/mcp"
    assert premium["Layers"] == function(custom)["Layers"]
    assert premium["Role"] == function(custom)["Role"]  # same permissions, none to tenant data


def test_the_authorization_server_has_a_reserved_floor_and_ceiling(synth: Synth, custom: Synth) -> None:
    # Reserved concurrency: the server keeps running when MCP traffic fills the account, and slow or
    # abusive sign-in traffic cannot take the MCP functions' share.
    for variant, reserved in ((synth, 20), (custom, 30)):
        props = variant.raw["Resources"][variant.logical_id("Auth/Function")]["Properties"]
        assert props["ReservedConcurrentExecutions"] == reserved


def test_widget_image_origins_reach_the_mcp_functions_only_when_set(synth: Synth, custom: Synth) -> None:
    default_env = synth.raw["Resources"][synth.logical_id("Mcp/Function")]["Properties"]["Environment"]["Variables"]
    assert "TENANTRY_WIDGET_IMAGE_ORIGINS" not in default_env
    for fn in ("Mcp/Function", "Premium/Function"):
        env = custom.raw["Resources"][custom.logical_id(fn)]["Properties"]["Environment"]["Variables"]
        assert env["TENANTRY_WIDGET_IMAGE_ORIGINS"] == "https://cdn.example.com,https://logos.example.org:8443"


def test_lambda_drops_what_an_operator_does_not_need_before_it_is_ingested(synth: Synth) -> None:
    props = function(synth)
    # JSON format is what enables the levels; WARN keeps START/END/REPORT out; INFO keeps EMF lines in.
    assert props["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
        "LogGroup": props["LoggingConfig"]["LogGroup"],
    }
    assert function(synth)["Environment"]["Variables"]["TENANTRY_SUCCESS_LOG_SAMPLE"] == "0.05"
