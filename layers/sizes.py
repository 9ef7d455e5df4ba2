"""Sizes of the Lambda layer and code asset, unzipped and zipped (what Lambda's limits count).

`python -m layers.sizes` builds both if needed and prints a small table; the numbers
are cached next to each build, so asking again (as every synth does) costs nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from layers.build import BuiltAsset, LayerBuildError, build_code, build_layer

__all__ = ["AssetSize", "measure", "summary"]

MB = 1024 * 1024


@dataclass(frozen=True)
class AssetSize:
    files: int
    unzipped: int
    zipped: int

    def describe(self) -> str:
        return f"{self.unzipped / MB:.1f} MB unzipped, {self.zipped / MB:.1f} MB zipped, {self.files} files"


def measure(asset: BuiltAsset) -> AssetSize:
    cache = asset.path.with_name(asset.path.name + ".sizes.json")
    if cache.is_file():
        return AssetSize(**json.loads(cache.read_text()))
    files = [p for p in sorted(asset.path.rglob("*")) if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    # Deflate like the CDK asset zip, into a scratch file that is thrown away.
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "asset.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path in files:
                zf.write(path, path.relative_to(asset.path))
        zipped = archive.stat().st_size
    size = AssetSize(files=len(files), unzipped=unzipped, zipped=zipped)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(size)))
    tmp.replace(cache)
    return size


def summary(layer: BuiltAsset, code: BuiltAsset) -> str:
    bytecode = "with" if layer.bytecode and code.bytecode else "WITHOUT (no local Python 3.13; see docs/deploy.md)"
    return f"layer {measure(layer).describe()}; code {measure(code).describe()}; {bytecode} precompiled bytecode"


def main() -> int:
    try:
        layer, code = build_layer(), build_code()
    except LayerBuildError as error:
        print(f"tenantry: {error}", file=sys.stderr)
        return 1
    print(f"{'asset':<8}{'unzipped MB':>13}{'zipped MB':>11}{'files':>8}  path")
    for name, asset in (("layer", layer), ("code", code)):
        size = measure(asset)
        rel = asset.path.relative_to(Path.cwd()) if asset.path.is_relative_to(Path.cwd()) else asset.path
        print(f"{name:<8}{size.unzipped / MB:>13.1f}{size.zipped / MB:>11.1f}{size.files:>8}  {rel}")
    print(f"bytecode: {'precompiled for Python 3.13' if layer.bytecode else 'none (sources only)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
