"""`tenantry canary run --evaluate` locally: the offline IAM policy evaluator's decision for each canary request.

Only from a checkout of the repository with its development tools: it synthesizes the CDK app
(as many cells as the local server has; ~30 s, ~1 GB) and asks @cloud-copilot/iam-simulate (Node,
node_modules) through the same code as tests/infra/test_canary_evaluation.py. Anywhere else it says
what is missing rather than showing a decision it could not compute.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tenantry.canary.cases import CanaryCase, CanaryTargets
from tenantry.errors import InvalidInputError

__all__ = ["offline_evaluator"]

Evaluator = Callable[[list[CanaryCase], CanaryTargets], dict[str, str]]


def _checkout(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / "tests" / "infra" / "iam" / "canary.py").is_file() and (directory / "infra").is_dir():
            return directory
    return None


def offline_evaluator(start: Path | None = None) -> Evaluator:
    root = _checkout((start or Path.cwd()).resolve())
    if root is None:
        raise InvalidInputError("--evaluate needs a checkout of the Tenantry repository (run it from there).")
    if shutil.which("node") is None or not (root / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise InvalidInputError(
            "--evaluate needs Node 20+ and the repository's node_modules (`./dev test` installs them)."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        # By name: the test tree is not part of the installed package (nor of its type checking).
        synth_module = importlib.import_module("tests.infra.conftest")
        canary = importlib.import_module("tests.infra.iam.canary")
        model_module = importlib.import_module("tests.infra.iam.model")
        table = importlib.import_module("tests.infra.iam.table")
        proof = importlib.import_module("tests.infra.test_policy_evaluation")
    except ImportError as exc:
        raise InvalidInputError(f"--evaluate needs the development tools (`./dev test` installs them): {exc}") from None

    def decide(cases: list[CanaryCase], targets: CanaryTargets) -> dict[str, str]:
        with tempfile.TemporaryDirectory() as out:
            synth = synth_module._synth(Path(out), {"cells": len(targets.cells)})
            model = model_module.StackPolicies.from_template(synth.raw)
            layout = proof.layout_of(synth)
            decisions = table.evaluate(canary.canary_batch(model, layout, "local"))
        # The template names other tables and ARNs than the local server; the cases match by name.
        decided: dict[str, str] = canary.canary_decisions(canary.canary_cases(model, layout), decisions, "local")
        return {
            case.name: f"{decided[case.name]} (IAM due: {case.iam_decision})" for case in cases if case.name in decided
        }

    return decide
