"""The packaged Lambda asset, imported and serving, in a clean interpreter laid out as Lambda lays it out.

layers/build.py builds the layer a second time for this machine's platform and Python (same
lockfile, same code path; cached under layers/build/hostlayer-<key>), and the code asset is the
one that ships. Both are copied into an empty directory (the code as the task root, the layer's
python/ beside it), and `python -I -S` with only those paths on sys.path imports the handler and
serves API Gateway events against the embedded moto, which runs in this process, not the child:
the asset must hold everything it imports and import nothing that only the dev environment has.

The arm64 / Python 3.13 layer cannot run here; its top-level packages and versions must match the
host build's, so what this test imports is what Lambda gets.

Only the handler entry point and TENANTRY_* variables are relied on, not the runtime's modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.functions import HANDLER
from layers.build import BuiltAsset, build_code, build_layer
from tests.infra.conftest import REPO

# Run in the child: Lambda's sys.path order (task root, then /opt/python), then the handler.
CHILD = r"""
import json, sys
task_root, layer = sys.argv[1], sys.argv[2]
sys.path[:0] = [task_root, layer]
module_name, _, function_name = sys.argv[3].rpartition(".")
import importlib
handler = getattr(importlib.import_module(module_name), function_name)

class Context:
    function_name = "tenantry-asset-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tenantry-asset-test"
    memory_limit_in_mb = 1024
    aws_request_id = "asset-test"
    log_group_name = "/aws/lambda/tenantry-asset-test"
    log_stream_name = "asset-test"
    def get_remaining_time_in_millis(self):
        return 28000

responses = [handler(event, Context()) for event in json.load(sys.stdin)]
outside = sorted(
    {name.split(".")[0] for name, m in sys.modules.items()
     if (getattr(m, "__file__", None) or "").startswith(tuple(sys.argv[4:]))}
)
print(json.dumps({"responses": responses, "site_modules": outside}))
"""
# uvicorn is not here: mcp depends on it, so it is a runtime dependency.
DEV_ONLY = ("moto", "pytest", "tenantry_local", "hypothesis", "mypy", "ruff", "aws_cdk", "cdk_nag", "cfn_lint")


def _event(method: str, path: str, body: Any = None, claims: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, written out in full."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": "asset.example.com",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "asset",
            "domainName": "asset.example.com",
            "domainPrefix": "asset",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "t",
            },
            "requestId": "asset-request",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000",
            "timeEpoch": 1893456000000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": ["mcp:tools"]}}
    return event


def _lay_out(root: Path, code: BuiltAsset, layer: BuiltAsset) -> tuple[Path, Path]:
    task_root, opt = root / "var" / "task", root / "opt"
    shutil.copytree(code.path, task_root)
    shutil.copytree(layer.path / "python", opt / "python")
    return task_root, opt / "python"


def _run_child(platform: Any, tmp_path: Path, events: list[dict[str, Any]], without: str = "") -> Any:
    code, layer = build_code(), build_layer(for_host=True)
    task_root, layer_site = _lay_out(tmp_path, code, layer)
    if without:
        shutil.rmtree(layer_site / without)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": platform.aws_endpoint,
        "POWERTOOLS_SERVICE_NAME": "tenantry",
        "POWERTOOLS_METRICS_NAMESPACE": "Tenantry",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "LAMBDA_TASK_ROOT": str(task_root),
        **{k: v for k, v in platform.environment().items() if k.startswith("TENANTRY_")},
    }
    # Paths the child must never import from: this venv's site-packages and the repository's sources.
    forbidden = sorted({p for p in sys.path if "site-packages" in p} | {str(REPO / "functions"), str(REPO / "local")})
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, str(task_root), str(layer_site), HANDLER, *forbidden],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    return result


def test_the_packaged_asset_imports_and_serves_in_a_clean_interpreter(platform: Any, tmp_path: Path) -> None:
    tenant = sorted(platform.describe()["tenants"])[0]
    events = [
        _event("GET", "/.well-known/oauth-protected-resource"),
        _event("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"tenant_id": tenant, "sub": "a"}),
        _event(
            "POST",
            "/mcp",
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_customers", "arguments": {}}},
            {"tenant_id": tenant, "sub": "a"},
        ),
    ]
    result = _run_child(platform, tmp_path, events)
    assert result.returncode == 0, result.stderr[-4000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["site_modules"] == [], "imported from outside the asset"
    metadata, listed, called = output["responses"]
    assert metadata["statusCode"] == 200, metadata
    assert json.loads(metadata["body"])["resource"] == platform.environment()["TENANTRY_RESOURCE_URL"]
    assert listed["statusCode"] == 200, listed
    tools = {t["name"] for t in json.loads(listed["body"])["result"]["tools"]}
    assert "list_customers" in tools
    assert called["statusCode"] == 200, called
    result_body = json.loads(called["body"])["result"]
    assert not result_body.get("isError"), result_body
    assert "customers" in result_body["structuredContent"]


def test_a_layer_missing_a_runtime_package_fails_the_import(platform: Any, tmp_path: Path) -> None:
    # The proof above can fail: the same run without one of the layer's packages does.
    result = _run_child(platform, tmp_path, [_event("GET", "/.well-known/oauth-protected-resource")], without="mangum")
    assert result.returncode != 0
    assert "No module named 'mangum'" in result.stderr


def test_the_layer_holds_no_dev_only_package() -> None:
    for layer in (build_layer(), build_layer(for_host=True)):
        present = {p.name for p in (layer.path / "python").iterdir()}
        assert not present & set(DEV_ONLY), layer.path


def _distributions(layer: BuiltAsset) -> dict[str, str]:
    found = {}
    for info in (layer.path / "python").glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def _marker_gated() -> set[str]:
    """Pins the lockfile installs only under some environment marker (Python version, platform)."""
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "--no-hashes", "--color", "never"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    gated = set()
    for line in exported.splitlines():
        if "==" in line and ";" in line and not line.lstrip().startswith("#"):
            gated.add(re.sub(r"[-_.]+", "-", line.split("==")[0].strip()).lower())
    return gated


@pytest.mark.parametrize("kind", ["packages", "versions"])
def test_the_lambda_layer_has_the_host_builds_packages_at_the_same_versions(kind: str) -> None:
    lambda_layer, host_layer = _distributions(build_layer()), _distributions(build_layer(for_host=True))
    assert len(lambda_layer) >= 20
    if kind == "versions":
        differ = {n: (lambda_layer[n], host_layer[n]) for n in lambda_layer.keys() & host_layer.keys()}
        assert {n: v for n, v in differ.items() if v[0] != v[1]} == {}
    else:
        # Only a pin behind an environment marker (say, python_version < "3.13") may be in one and not the other.
        assert (lambda_layer.keys() ^ host_layer.keys()) <= _marker_gated()
        top_level = {
            p.name
            for p in (build_layer().path / "python").iterdir()
            if p.is_dir() and "." not in p.name and not p.name.startswith("_")
        }
        host_top = {
            p.name for p in (build_layer(for_host=True).path / "python").iterdir() if p.is_dir() and "." not in p.name
        }
        assert top_level - host_top <= {"bin"} | {n.replace("-", "_") for n in _marker_gated()}
