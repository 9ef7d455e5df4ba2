"""The dependency layer: arm64 wheels for the Lambda Python, bytecode Lambda can use, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.build import LAMBDA_PYTHON, _explain, build_code, build_layer
from layers.sizes import measure
from tests.infra.conftest import Synth


def test_layer_holds_linux_arm64_binaries_for_the_lambda_python(synth: Synth) -> None:
    layer = build_layer()  # cached by the synth fixture's build
    site = layer.path / "python"
    for package in ("mcp", "mangum", "aws_lambda_powertools", "pydantic", "jwt", "boto3"):
        assert (site / package).is_dir(), package
    tag = LAMBDA_PYTHON.replace(".", "")
    (core,) = (site / "pydantic_core").glob("_pydantic_core.*.so")
    assert f"cpython-{tag}-aarch64-linux-gnu" in core.name
    assert not any(site.glob("*.dist-info/direct_url.json")), "installed from a path, not the lockfile"


def test_bytecode_matches_the_lambda_python_when_built(synth: Synth) -> None:
    tag = LAMBDA_PYTHON.replace(".", "")
    for asset in (build_layer(), build_code()):
        compiled = list(asset.path.rglob(f"*.cpython-{tag}.pyc"))
        foreign = [p for p in asset.path.rglob("*.pyc") if f".cpython-{tag}." not in p.name]
        assert foreign == []
        assert bool(compiled) == asset.bytecode


def test_sizes_are_reported_unzipped_and_zipped(synth: Synth) -> None:
    size = measure(build_layer())
    assert 0 < size.zipped < size.unzipped < 250 * 1024 * 1024  # Lambda's unzipped limit


def test_a_missing_wheel_is_reported_by_package_name() -> None:
    stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because docopt==0.6.2 has no usable wheels and you require docopt==0.6.2, we can conclude "
        "that your requirements are unsatisfiable.\n\n"
        "hint: Wheels are required for `docopt` because building from source is disabled"
    )
    message = _explain("installing the layer's wheels", stderr)
    assert "\n" not in message
    assert message.startswith("layer build failed: docopt==0.6.2 has no wheel for Python")


def test_code_asset_leaves_caches_out(synth: Synth) -> None:
    code = build_code()
    assert (code.path / "tenantry" / "mcp_server" / "handler.py").is_file()
    assert not [p for p in code.path.rglob("*") if p.name in {".mypy_cache", ".pytest_cache"}]
    assert all(Path(p).suffix != ".pyc" or "__pycache__" in p.parts for p in code.path.rglob("*"))


def test_the_cdk_clis_forced_colour_does_not_leak_into_the_build(synth: Synth, monkeypatch: pytest.MonkeyPatch) -> None:
    # `cdk synth` runs the app with FORCE_COLOR set; uv then colours what it exports unless told not to.
    plain = build_layer()
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert build_layer().key == plain.key
