"""Where commands run: the local server's state file, or a deployed stack's CloudFormation outputs."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tenantry_admin.target import TargetError, _stack_settings, settings_from_outputs
from tests.cli.conftest import one_line_error

# What infra/stack.py publishes (DescribeStacks shape).
OUTPUTS = [
    {"OutputKey": "McpUrl", "OutputValue": "https://mcp.example.com/mcp"},
    {"OutputKey": "RegistryTable", "OutputValue": "prod-tenants"},
    {"OutputKey": "DataTable", "OutputValue": "prod-data"},
    {"OutputKey": "CellTables", "OutputValue": "prod-data,prod-data-cell-1,prod-data-cell-2"},
    {"OutputKey": "SiloTablePrefix", "OutputValue": "prod-silo-"},
    {"OutputKey": "UsageTable", "OutputValue": "prod-usage"},
    {"OutputKey": "AuditTable", "OutputValue": "prod-audit"},
    {"OutputKey": "TenantAccessRoleArn", "OutputValue": "arn:aws:iam::111122223333:role/prod-TenantAccess"},
    {"OutputKey": "ExecutionRoleArn", "OutputValue": "arn:aws:iam::111122223333:role/prod-Execution"},
    {"OutputKey": "SecretsKeyArn", "OutputValue": "arn:aws:kms:eu-west-1:111122223333:key/abcd"},
    {"OutputKey": "BrandingBucket", "OutputValue": "prod-branding-bucket"},
    {"OutputKey": "FunctionName", "OutputValue": "prod-Mcp"},
]


def test_stack_outputs_become_settings() -> None:
    settings = settings_from_outputs(OUTPUTS, "prod")
    assert settings.registry_table == "prod-tenants" and settings.data_table == "prod-data"
    assert settings.cells() == ["prod-data", "prod-data-cell-1", "prod-data-cell-2"]
    assert settings.silo_table_prefix == "prod-silo-"
    assert (settings.usage_table, settings.audit_table) == ("prod-usage", "prod-audit")
    assert settings.tenant_role_arn.endswith(":role/prod-TenantAccess")
    assert settings.secrets_key_arn == "arn:aws:kms:eu-west-1:111122223333:key/abcd"
    assert settings.branding_bucket == "prod-branding-bucket"
    assert settings.resource_url == "https://mcp.example.com/mcp"


def test_a_stack_without_the_outputs_is_refused_by_name() -> None:
    partial = [o for o in OUTPUTS if o["OutputKey"] not in ("AuditTable", "SecretsKeyArn")]
    with pytest.raises(TargetError, match="lacks the output\\(s\\) AuditTable, SecretsKeyArn"):
        settings_from_outputs(partial, "prod")


class _FakeSession:
    """The part of a botocore session the lookup uses."""

    def __init__(self, cloudformation: Any) -> None:
        self._cloudformation = cloudformation

    def create_client(self, service: str) -> Any:
        assert service == "cloudformation"
        return self._cloudformation

    def get_config_variable(self, name: str) -> str:
        assert name == "region"
        return "eu-west-1"


class _FakeCloudFormation:
    def __init__(self, stacks: dict[str, list[dict[str, str]]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}}
            raise ClientError(error, "DescribeStacks")  # type: ignore[arg-type]
        return {"Stacks": [{"StackName": StackName, "Outputs": self.stacks[StackName]}]}


def test_stack_lookup_through_cloudformation() -> None:
    session = _FakeSession(_FakeCloudFormation({"prod": OUTPUTS}))
    assert _stack_settings(session, "prod").registry_table == "prod-tenants"  # type: ignore[arg-type]
    with pytest.raises(TargetError, match="Cannot read stack nope in eu-west-1: Stack with id nope does not exist"):
        _stack_settings(session, "nope")  # type: ignore[arg-type]


def test_without_a_local_server_the_cli_says_so(tenantry: Any, tmp_path: Path) -> None:
    missing = one_line_error(tenantry("tenants", "list", state=tmp_path))
    assert "No local server state" in missing and "--stack" in missing

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "local.json").write_text(json.dumps({"aws_endpoint": f"http://127.0.0.1:{port}", "environment": {}}))
    assert "The local server is not running" in one_line_error(tenantry("tenants", "list", state=tmp_path))

    (tmp_path / "local.json").write_text(json.dumps({"url": "http://127.0.0.1:8787/mcp"}))
    assert "older `tenantry local`; restart it" in one_line_error(tenantry("tenants", "list", state=tmp_path))
