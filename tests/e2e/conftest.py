"""Opt-in: the deployed stack, found through its CloudFormation outputs, with real AWS credentials.

Run with `./dev e2e`. Needs:
- AWS credentials for the account (any standard source: env, profile, SSO) and the stack deployed
  (`TENANTRY_STACK`, default Tenantry, in AWS_REGION / the profile's region);
- two access tokens from your identity provider for two different tenants, in
  TENANTRY_E2E_TOKEN_A and TENANTRY_E2E_TOKEN_B (each with the tenant claim and the MCP URL as `aud`).
The direct IAM test also needs the stack deployed with `-c e2e_principal_arn=<the ARN you run as>`.
Without credentials the tests skip and say so; they never pass without talking to AWS. With
credentials, in an e2e run (`-m e2e`, as `./dev e2e` does), a failed AWS call or AssumeRole fails
the test instead (a broken trust policy looks exactly like that), and a run that passed no e2e
test exits non-zero.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STACK = os.environ.get("TENANTRY_STACK", "Tenantry")
_CREDENTIAL_HINTS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


@dataclass(frozen=True)
class Deployed:
    outputs: dict[str, str]
    session: Any  # boto3.Session with the operator's credentials


@dataclass(frozen=True)
class TenantToken:
    token: str
    tenant_id: str


# The environment as the user started pytest, read at collection time: later, the local platform's
# fixtures put fake credentials and a moto endpoint into os.environ for the rest of the session.
_STARTED_WITH = {k: os.environ.get(k) for k in (*_CREDENTIAL_HINTS, "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE")}


def _has_credential_source() -> bool:
    # Checked before boto3 looks, so a laptop without AWS skips at once instead of probing EC2 metadata.
    aws_dir = Path(_STARTED_WITH["AWS_CONFIG_FILE"] or Path.home() / ".aws" / "config").parent
    return (
        any(_STARTED_WITH.get(k) for k in _CREDENTIAL_HINTS)
        or (aws_dir / "credentials").is_file()
        or (aws_dir / "config").is_file()
    )


def strict(config: pytest.Config) -> bool:
    """Credentials are present and e2e tests were asked for: nothing may quietly skip."""
    return _has_credential_source() and "e2e" in (config.getoption("markexpr", "") or "")


def give_up(config: pytest.Config, reason: str) -> None:
    """Skip without credentials; fail with them, where a skip would hide a broken deployment."""
    if strict(config):
        pytest.fail(reason.replace("e2e: ", "e2e (credentials present, so this fails): ", 1))
    pytest.skip(reason)


_passed: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and "e2e" in report.keywords:
        _passed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if strict(session.config) and not _passed and exitstatus == 0:
        print("\ne2e: credentials are present but no e2e test passed; failing the run", flush=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def deployed(request: pytest.FixtureRequest) -> Deployed:
    if not _has_credential_source():
        pytest.skip("e2e: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID...); nothing was tested")
    if os.environ.get("AWS_ENDPOINT_URL") or _STARTED_WITH["AWS_ENDPOINT_URL"]:
        # The local platform (moto) sets this in-process; e2e must only ever talk to real AWS.
        pytest.skip("e2e: AWS_ENDPOINT_URL is set (local emulator?); run `./dev e2e` on its own against real AWS")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session()
    if session.get_credentials() is None:
        give_up(request.config, "e2e: no AWS credentials could be loaded; nothing was tested")
    try:
        (stack,) = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        give_up(
            request.config, f"e2e: stack {STACK} not found or not readable ({error}); deploy it first (docs/deploy.md)"
        )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Deployed(outputs, session)


def _claims(token: str) -> dict[str, Any]:
    # Only to learn which tenant a token is for; API Gateway verifies it for real.
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def tenants(deployed: Deployed) -> tuple[TenantToken, TenantToken]:
    tokens = [os.environ.get("TENANTRY_E2E_TOKEN_A"), os.environ.get("TENANTRY_E2E_TOKEN_B")]
    if not all(tokens):
        pytest.skip("e2e: set TENANTRY_E2E_TOKEN_A and TENANTRY_E2E_TOKEN_B (tokens for two tenants)")
    claim = os.environ.get("TENANTRY_TENANT_CLAIM", "tenant_id")
    a, b = (TenantToken(t, str(_claims(t)[claim])) for t in tokens if t)
    if a.tenant_id == b.tenant_id:
        pytest.fail("e2e: both tokens are for the same tenant; the isolation test needs two")
    return a, b
