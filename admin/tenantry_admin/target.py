"""Where admin commands run: the local emulator's moto, or a deployed stack found by its outputs."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import botocore.session
from botocore.exceptions import ClientError

from tenantry.settings import Settings, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["REQUIRED_OUTPUTS", "STACK_OUTPUTS", "AdminTarget", "TargetError", "connect", "settings_from_outputs"]

# CloudFormation output of the stack (infra/stack.py) -> the TENANTRY_* setting it fills.
STACK_OUTPUTS = {
    "RegistryTable": "TENANTRY_REGISTRY_TABLE",
    "DataTable": "TENANTRY_DATA_TABLE",
    "CellTables": "TENANTRY_CELL_TABLES",
    "SiloTablePrefix": "TENANTRY_SILO_TABLE_PREFIX",
    "UsageTable": "TENANTRY_USAGE_TABLE",
    "AuditTable": "TENANTRY_AUDIT_TABLE",
    "TenantAccessRoleArn": "TENANTRY_TENANT_ROLE_ARN",
    "SecretsKeyArn": "TENANTRY_SECRETS_KEY_ARN",
    "BrandingBucket": "TENANTRY_BRANDING_BUCKET",
    "McpUrl": "TENANTRY_RESOURCE_URL",
}
# Without these an admin command would act on default names that may belong to something else.
REQUIRED_OUTPUTS = (
    "RegistryTable",
    "DataTable",
    "SiloTablePrefix",
    "UsageTable",
    "AuditTable",
    "TenantAccessRoleArn",
    "SecretsKeyArn",
    "BrandingBucket",
    "McpUrl",
)
# Operator-side settings an operator may set in their own shell (e.g. TENANTRY_SILO_PLANS="" for no silos).
OPERATOR_ENV = ("TENANTRY_SILO_PLANS",)


def _operator_overrides() -> dict[str, str]:
    return {name: os.environ[name] for name in OPERATOR_ENV if name in os.environ}


class TargetError(Exception):
    """The CLI cannot tell (or reach) where to run; the message is one line for the operator."""


@dataclass(frozen=True)
class AdminTarget:
    settings: Settings
    # botocore, like the runtime: the stores the operator acts through take a botocore session.
    session: botocore.session.Session
    principal: str
    where: str
    # The authorization server's (members table, OAuth table), when the target has them.
    oauth_tables: tuple[str, str] | None = None


def settings_from_outputs(outputs: list[Mapping[str, Any]], stack: str) -> Settings:
    """Settings for a deployed stack from its DescribeStacks outputs."""
    values = {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs if "OutputKey" in o}
    missing = [name for name in REQUIRED_OUTPUTS if not values.get(name)]
    if missing:
        raise TargetError(f"Stack {stack} lacks the output(s) {', '.join(missing)}; is it a Tenantry stack?")
    environ = {env: values[name] for name, env in STACK_OUTPUTS.items() if values.get(name)}
    environ.update(_operator_overrides())
    try:
        return Settings.from_env(environ)
    except SettingsError as exc:
        raise TargetError(f"Stack {stack}: {exc}") from None


def _session(region: str | None) -> botocore.session.Session:
    """A botocore session in `region` (else the usual configuration's region), as boto3.Session(region_name=) makes."""
    session = botocore.session.get_session()
    if region:
        session.set_config_variable("region", region)
    return session


def _region(session: botocore.session.Session) -> str | None:
    region = session.get_config_variable("region")
    return str(region) if region else None


def _stack_outputs(session: botocore.session.Session, stack: str) -> list[Mapping[str, Any]]:
    cloudformation: Any = session.create_client("cloudformation")  # no CloudFormation stubs installed
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TargetError(
            f"Cannot read stack {stack} in {_region(session) or 'the default region'}: {message}"
        ) from None
    return list(stacks[0].get("Outputs", []))


def _stack_settings(session: botocore.session.Session, stack: str) -> Settings:
    return settings_from_outputs(_stack_outputs(session, stack), stack)


def oauth_tables_from_outputs(outputs: list[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(members table, OAuth table) of a stack that deploys the authorization server, else None."""
    values = {str(o.get("OutputKey")): str(o.get("OutputValue")) for o in outputs}
    if "MembersTable" in values and "OAuthTable" in values:
        return values["MembersTable"], values["OAuthTable"]
    return None


def _local_operator() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def _reachable(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def connect(state_dir: Path, stack: str | None = None, region: str | None = None) -> Iterator[AdminTarget]:
    """The target for this command; locally, botocore points at the emulator's moto while it runs."""
    if stack:
        session = _session(region)
        outputs = _stack_outputs(session, stack)
        settings = settings_from_outputs(outputs, stack)
        oauth_tables = oauth_tables_from_outputs(outputs)
        principal = str(cast("STSClient", session.create_client("sts")).get_caller_identity()["Arn"])
        yield AdminTarget(settings, session, principal, f"stack {stack} ({_region(session)})", oauth_tables)
        return
    described = state_dir / "local.json"
    if not described.exists():
        raise TargetError(
            f"No local server state in {described}: start `tenantry local`, or pass --stack NAME for a deployed stack."
        )
    info = json.loads(described.read_text())
    endpoint, settings_env = info.get("aws_endpoint"), info.get("environment")
    if not endpoint or not isinstance(settings_env, dict):
        raise TargetError(f"{described} was written by an older `tenantry local`; restart it.")
    if not _reachable(endpoint):
        raise TargetError(f"The local server is not running (nothing answers at {endpoint}); start `tenantry local`.")
    from tenantry_local.aws import LOCAL_ENV, environment  # only for the local target (needs the local extra)

    with environment({**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint}):
        try:
            settings = Settings.from_env({**{str(k): str(v) for k, v in settings_env.items()}, **_operator_overrides()})
        except SettingsError as exc:
            raise TargetError(f"{described}: {exc}") from None
        session = _session(LOCAL_ENV["AWS_REGION"])
        oauth_env = info.get("oauth_environment") or {}
        oauth = (
            (str(oauth_env["TENANTRY_MEMBERS_TABLE"]), str(oauth_env["TENANTRY_OAUTH_TABLE"]))
            if "TENANTRY_MEMBERS_TABLE" in oauth_env and "TENANTRY_OAUTH_TABLE" in oauth_env
            else None
        )
        yield AdminTarget(settings, session, _local_operator(), f"local ({endpoint})", oauth)
