"""The pruned layer: what it drops, and that every client the runtime builds still builds from what is left."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import botocore
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from layers.build import build_code, build_layer
from layers.prune import BOTOCORE_SERVICES, PRUNED_PACKAGES, prune_site, strip_documentation
from layers.sizes import MB, measure
from tenantry.mcp_server.services import RUNTIME_SERVICES, Services
from tenantry.oauth.services import OAUTH_SERVICES
from tests.examples import EXAMPLE_SETTINGS
from tests.infra.conftest import Synth

ASSET_LIMIT_MB = 25

SETTINGS = EXAMPLE_SETTINGS


@pytest.fixture(scope="module")
def pruned_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """botocore's installed data plus a few things Lambda never reads, pruned as the layer build does."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(Path(botocore.__file__).parent / "data", site / "botocore" / "data")
    for package in PRUNED_PACKAGES:
        (site / package).mkdir()
        (site / package / "__init__.py").write_text("")
        (site / f"{package}-1.0.dist-info").mkdir()
    (site / "mcp" / "tests").mkdir(parents=True)
    (site / "mcp" / "tests" / "test_x.py").write_text("")
    (site / "mcp" / "server.pyi").write_text("")
    (site / "mcp-1.0.dist-info").mkdir()
    for name in ("METADATA", "RECORD"):
        (site / "mcp-1.0.dist-info" / name).write_text("x")
    prune_site(site)
    return site


def _session_on(data: Path) -> botocore.session.Session:
    """A botocore session whose botocore loader sees only `data` (not the installed botocore's models)."""
    core = botocore.session.get_session()
    core.register_component(
        "data_loader", botocore.loaders.Loader(extra_search_paths=[str(data)], include_default_search_paths=False)
    )
    core.set_config_variable("region", "us-east-1")
    return core


def test_the_layer_keeps_the_models_of_exactly_the_services_the_runtime_uses() -> None:
    assert set(BOTOCORE_SERVICES) == set(RUNTIME_SERVICES) | set(OAUTH_SERVICES)


def test_every_client_the_runtime_builds_builds_from_the_pruned_models(
    pruned_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = _session_on(pruned_site / "botocore" / "data")
    services = Services.create(SETTINGS, session=session)  # the function's own DynamoDB and STS clients
    services.load_models()  # every service in RUNTIME_SERVICES, as init does
    for service in OAUTH_SERVICES:  # the authorization server's clients, from the same layer
        session.create_client(service, aws_access_key_id="x", aws_secret_access_key="x")
    # The loader really is confined to the pruned data: a dropped service cannot be built.
    with pytest.raises(UnknownServiceError):
        session.create_client("lambda", aws_access_key_id="x", aws_secret_access_key="x")


def test_every_request_path_init_primes_runs_on_the_undocumented_models(
    pruned_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priming serializes, signs and parses a real call of each kind (answered in process, priming.py)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    services = Services.create(SETTINGS, session=_session_on(pruned_site / "botocore" / "data"))
    services.prime_clients()
    operation = services.dynamodb.meta.service_model.operation_model("GetItem")
    assert operation.input_shape is not None
    assert operation.documentation == "" and operation.input_shape.members["Key"].documentation == ""


def test_the_layers_models_carry_no_documentation(pruned_site: Path) -> None:
    models = list((pruned_site / "botocore" / "data").rglob("service-2.json*"))
    assert {m.parts[-3] for m in models if "sdk-extras" not in m.name} == set(BOTOCORE_SERVICES)
    for path in models:
        raw = path.read_bytes()
        model = json.loads(gzip.decompress(raw) if path.name.endswith(".gz") else raw)
        assert "documentation" not in model
        for operation in model.get("operations", {}).values():
            assert "documentation" not in operation
        for shape in model.get("shapes", {}).values():
            assert "documentation" not in shape
            assert not [m for m in shape.get("members", {}).values() if "documentation" in m]


def test_stripping_documentation_keeps_a_member_named_documentation(tmp_path: Path) -> None:
    model = {
        "documentation": "The service.",
        "operations": {"Op": {"documentation": "x", "input": {"shape": "In", "documentation": "x"}}},
        "shapes": {
            "In": {"type": "structure", "documentation": "x", "members": {"documentation": {"shape": "S"}}},
            "L": {"type": "list", "member": {"shape": "S", "documentation": "x"}},
            "S": {"type": "string"},
        },
        "clientContextParams": {"Flag": {"type": "boolean", "documentation": "botocore reads this one"}},
    }
    path = tmp_path / "service-2.json.gz"
    path.write_bytes(gzip.compress(json.dumps(model).encode()))
    strip_documentation(path)
    first = path.read_bytes()
    assert json.loads(gzip.decompress(first)) == {
        "operations": {"Op": {"input": {"shape": "In"}}},
        "shapes": {
            "In": {"type": "structure", "members": {"documentation": {"shape": "S"}}},
            "L": {"type": "list", "member": {"shape": "S"}},
            "S": {"type": "string"},
        },
        "clientContextParams": {"Flag": {"type": "boolean", "documentation": "botocore reads this one"}},
    }
    strip_documentation(path)  # the same bytes again: the layer's asset hash does not change between builds
    assert path.read_bytes() == first


def test_pruning_drops_what_lambda_never_reads(pruned_site: Path) -> None:
    services = sorted(p.name for p in (pruned_site / "botocore" / "data").iterdir() if p.is_dir())
    assert services == sorted(BOTOCORE_SERVICES)
    endpoints = json.loads((pruned_site / "botocore" / "data" / "endpoints.json").read_text())
    for partition in endpoints["partitions"]:
        assert set(partition["services"]) <= set(BOTOCORE_SERVICES)
    # Every kept service that botocore lists (a service with no special endpoints is not listed at all).
    shipped = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    listed = set(shipped["partitions"][0]["services"]) & set(BOTOCORE_SERVICES)
    assert listed >= {"dynamodb", "sts"}, "the check below would prove nothing"
    assert set(endpoints["partitions"][0]["services"]) == listed
    assert not list(pruned_site.rglob("examples-1.json"))
    for package in PRUNED_PACKAGES:
        assert not (pruned_site / package).exists() and not list(pruned_site.glob(f"{package}-*"))
    assert not (pruned_site / "mcp" / "tests").exists() and not (pruned_site / "mcp" / "server.pyi").exists()
    assert (pruned_site / "mcp-1.0.dist-info" / "METADATA").is_file()
    assert not (pruned_site / "mcp-1.0.dist-info" / "RECORD").exists()


def test_layer_and_code_together_are_at_most_25_mb_zipped(synth: Synth) -> None:
    layer, code = build_layer(), build_code()  # cached by the synth fixture's build
    zipped = (measure(layer).zipped + measure(code).zipped) / MB
    assert zipped <= ASSET_LIMIT_MB, f"{zipped:.1f} MB zipped"
    site = layer.path / "python"
    assert sorted(p.name for p in (site / "botocore" / "data").iterdir() if p.is_dir()) == sorted(BOTOCORE_SERVICES)


def test_pruning_never_writes_through_a_hard_link_into_the_installers_cache(tmp_path: Path) -> None:
    """uv may hard-link installed files to its cache; pruning the layer must leave the cache's copy whole."""
    cached = tmp_path / "cache" / "endpoints.json"
    cached.parent.mkdir()
    shutil.copy(Path(botocore.__file__).parent / "data" / "endpoints.json", cached)
    before = cached.read_bytes()
    installed = tmp_path / "site" / "botocore" / "data" / "endpoints.json"
    installed.parent.mkdir(parents=True)
    os.link(cached, installed)
    prune_site(tmp_path / "site")
    assert cached.read_bytes() == before
    assert len(installed.read_bytes()) < len(before)
