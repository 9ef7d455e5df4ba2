"""The handler's init keeps boto3 and powertools' event classes off the request path (they cost cold starts).

The runtime builds clients from a botocore session and reads the API Gateway event itself;
`import boto3` would bring s3transfer with it, and powertools' data_classes package imports
every event type it knows. `./dev bench --only cold` shows what each costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tenantry_local.platform import LocalPlatform
from tests.oauth.test_handler_init import UPSTREAM

ROOT = Path(__file__).resolve().parents[2]
# Imported by the handler's init nowhere on the request path: each is a cold-start cost with no use there.
KEPT_OFF = ("boto3", "s3transfer", "aws_lambda_powertools.utilities.data_classes", "tenantry_local", "tenantry_admin")

_PROBE = """
import json, sys
import tenantry.mcp_server.handler as handler
handler.app.services.forget_tenants()
from tenantry.lazymodels import deferred_models
probed = {"built": handler.app.server.built_tools(), "deferred": deferred_models(), "modules": sorted(sys.modules)}
print(json.dumps(probed))
"""


@pytest.mark.parametrize("init_type", ["on-demand", "snap-start"])
def test_the_handlers_init_imports_neither_boto3_nor_powertools_event_classes(init_type: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "init",
        "AWS_SECRET_ACCESS_KEY": "init",
        # Nothing listens on the discard port: init must not need the network at all.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "TENANTRY_REGISTRY_TABLE": "registry",
        "TENANTRY_DATA_TABLE": "data",
        "TENANTRY_USAGE_TABLE": "usage",
        "TENANTRY_AUDIT_TABLE": "audit",
        "TENANTRY_TENANT_ROLE_ARN": "arn:aws:iam::123456789012:role/tenant",
        "TENANTRY_SECRETS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/k",
        "TENANTRY_BRANDING_BUCKET": "branding",
        "TENANTRY_RESOURCE_URL": "https://mcp.example.com/mcp",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probed = json.loads(done.stdout.strip().splitlines()[-1])
    modules = set(probed["modules"])
    assert "tenantry.mcp_server.app" in modules and "botocore.client" in modules  # the probe did import the app
    _assert_kept_off(modules)
    # Tools: none built on the first caller's clock (tools/call builds its own); all of them into a snapshot.
    # Models a first call does not need: compiled by the call that uses them, or all into a snapshot.
    if init_type == "on-demand":
        assert probed["built"] == []
        assert "tenantry.logic.customers.CustomerFields" in probed["deferred"]
        assert "tenantry.settings.OAuthSettings" in probed["deferred"]
    else:
        assert len(probed["built"]) >= 10 and "get_customer" in probed["built"]
        assert probed["deferred"] == []


def test_the_authorization_servers_init_imports_neither(platform: LocalPlatform) -> None:
    env = {
        **os.environ,
        **platform.environment(),
        **platform.describe()["oauth_environment"],
        **UPSTREAM,
        "PYTHONPATH": str(ROOT / "functions"),
    }
    probe = "import json, sys\nimport tenantry.oauth.handler\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "tenantry.oauth.app" in modules and "botocore.client" in modules
    _assert_kept_off(modules)


def _assert_kept_off(modules: set[str]) -> None:
    imported = sorted(m for m in modules if m.split(".")[0] in KEPT_OFF or m.startswith(KEPT_OFF))
    assert imported == [], f"the handler's init imported {imported[:10]}"
