"""CDK entry point (`cdk.json`: "python infra/app.py"). Synthesizes offline, no credentials needed.

A bad context value or a failed asset build ends synth with one line that says
what to change, instead of a stack trace.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script, Python puts infra/ first on sys.path, where infra/constructs/ would shadow
# the `constructs` library. Import from the repository root instead.
ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "infra":
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# jsii prints a boxed Node end-of-life banner (as Python bytes) on every start; the pinned Node
# works, so keep synth and test output readable. Set to 0 to see the banner again.
for _name in ("DEPRECATED", "UNTESTED"):
    os.environ.setdefault(f"JSII_SILENCE_WARNING_{_name}_NODE_VERSION", "1")
# Past jsii's support date for a Node major, the switch is a list of majors rather than a flag.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22")

from aws_cdk import App, Environment, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import ContextError, load_config  # noqa: E402
from infra.stack import TenantryStack  # noqa: E402
from layers.build import LayerBuildError, build_code, build_layer  # noqa: E402
from layers.sizes import summary  # noqa: E402

__all__ = ["build_app", "main"]

STACK_NAME = "Tenantry"


def build_app(app: App | None = None, *, report: bool = False) -> tuple[App, TenantryStack]:
    """The app with its one stack and cdk-nag attached; raises ContextError or LayerBuildError."""
    app = app or App()
    config = load_config(app.node)
    layer, code = build_layer(), build_code()
    if report:
        print(f"tenantry: {summary(layer, code)}", file=sys.stderr)
    # Environment-agnostic: account and region come from the deploying credentials.
    stack = TenantryStack(app, STACK_NAME, config=config, code=code, layer=layer, env=Environment())
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> int:
    try:
        app, _ = build_app(report=True)
    except (ContextError, LayerBuildError) as error:
        message = str(error)
        print(message if message.startswith("tenantry:") else f"tenantry: {message}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
