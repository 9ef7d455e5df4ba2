"""Lambda asset sizes: the dependency layer and the code asset, unzipped and zipped.

Both are built by `layers/` (layers.build, layers.sizes), the same way `cdk synth` builds
them; this section only asks for the result. A first build installs the locked wheels for
Lambda's platform from the package index, so it needs the network and can take minutes:
the section is opt-in (`--only size`). Later builds are cached under layers/build/.
"""

from __future__ import annotations

import time

from bench.core import Options, Row
from bench.resources import Resources

__all__ = ["WHY_OPT_IN", "run_size"]

WHY_OPT_IN = "a first layer build downloads the locked wheels"
MB = 1024 * 1024
# Lambda's limit for the function and all its layers together (CDK uploads through S3, so no zipped limit bites).
UNZIPPED_LIMIT_MB = 250


def run_size(resources: Resources, options: Options) -> list[Row]:
    # Imported here: a default run never pays for (or depends on) the deploy tooling.
    from layers.build import LayerBuildError, build_code, build_layer
    from layers.sizes import measure

    started = time.monotonic()
    try:
        layer, code = build_layer(), build_code()
        measured = {"dependency layer": measure(layer), "code asset": measure(code)}
    except LayerBuildError as exc:
        return [Row("size", "Lambda asset sizes", None, "", note=f"layer build failed: {exc}")]
    seconds = time.monotonic() - started
    bytecode = (
        "with .pyc" if layer.bytecode and code.bytecode else "WITHOUT .pyc (no local Python for Lambda's version)"
    )
    rows = []
    for name, asset in (("dependency layer", layer), ("code asset", code)):
        size = measured[name]
        where = f"{asset.path.name}, {size.files} files, {bytecode}"
        rows.append(Row("size", f"{name}, unzipped", size.unzipped / MB, "MB", note=where))
        rows.append(
            Row("size", f"{name}, zipped", size.zipped / MB, "MB", note="deflate level 6, as the CDK asset zip")
        )
    unzipped = sum(s.unzipped for s in measured.values()) / MB
    note = f"Lambda allows {UNZIPPED_LIMIT_MB} MB unzipped for function + layers; built or found in {seconds:.1f} s"
    rows.append(Row("size", "function + layer, unzipped", unzipped, "MB", note=note))
    return rows
