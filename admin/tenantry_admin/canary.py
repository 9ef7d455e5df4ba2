"""`tenantry canary run` and `tenantry canary status`: the isolation canary, now and as last seen.

Against a stack (`--stack`), `run` invokes the deployed canary function (its role, its schedule's
code) and shows the run it stored; locally, it runs the same runner in local mode: moto enforces no
IAM, so no IAM decision is shown, only what can be known here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from tenantry.canary.runner import CanaryRun, last_run, run_canary
from tenantry.errors import InvalidInputError, NotFoundError

__all__ = ["register"]

EXIT_VIOLATIONS = 3


def _show(ops: Any, run: CanaryRun, as_json: bool) -> int:
    if as_json:
        ops.json(
            {**{k: v for k, v in asdict(run).items() if k != "results"}, "results": [asdict(r) for r in run.results]}
        )
        return EXIT_VIOLATIONS if run.violations else 0
    where = "in AWS (IAM, KMS and S3 decided)" if run.mode == "aws" else "locally (moto: no IAM)"
    ops.say(f"Isolation canary run {run.run_id} at {run.at}, {where}")
    if run.note:
        ops.say(run.note)
    ops.say()
    for r in run.results:
        verdict = {True: "PASS", False: "FAIL", None: "----"}[r.ok]
        columns = f"expected {r.expect:5}  observed {r.observed:7}  guard {r.guard:5}"
        if r.evaluator:
            columns += f"  evaluator {r.evaluator}"
        ops.say(f"{verdict}  {r.name}")
        ops.say(f"      {columns}" + (f"  ({r.detail})" if r.detail else ""))
        ops.say(f"      {r.request}")
    ops.say()
    if run.mode == "local":
        ops.say(f"{len(run.results)} case(s); no IAM result claimed (run it against a stack with --stack NAME).")
    else:
        ops.say(f"{len(run.results)} case(s), {len(run.violations)} violation(s).")
    return EXIT_VIOLATIONS if run.violations else 0


def _canary_function(ops: Any, stack: str) -> str:
    cloudformation = ops.services.session.create_client("cloudformation")
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    names = [o["OutputValue"] for o in outputs if o.get("OutputKey") == "CanaryFunctionName"]
    if not names:
        raise InvalidInputError(
            f"Stack {stack} has no isolation canary (no CanaryFunctionName output): deploy with "
            "canary_schedule_minutes above 0."
        )
    return str(names[0])


def _run(args: argparse.Namespace, ops: Any) -> int:
    if args.stack:
        if args.evaluate:
            raise InvalidInputError("--evaluate is for local runs; with --stack, AWS itself decides every case.")
        name = _canary_function(ops, args.stack)
        # Synchronously, as the schedule would: the function's role, not the operator's, makes the requests.
        response = ops.services.session.create_client("lambda").invoke(FunctionName=name, Payload=b"{}")
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise InvalidInputError(f"The canary function failed: {str(payload.get('errorMessage', payload))[:300]}")
        run = last_run(ops.services)
        if run is None or run.run_id != payload.get("run_id"):
            raise NotFoundError("The canary ran but its result is not in the audit table yet; try `canary status`.")
        return _show(ops, run, args.json)
    evaluator = None
    if args.evaluate:
        from tenantry_admin.canary_offline import offline_evaluator

        evaluator = offline_evaluator()
    return _show(ops, run_canary(ops.services, mode="local", evaluator=evaluator), args.json)


def _status(args: argparse.Namespace, ops: Any) -> int:
    run = last_run(ops.services)
    if run is None:
        raise NotFoundError("The isolation canary has not run here yet: `tenantry canary run`.")
    return _show(ops, run, args.json)


def register(sub: Any, target: argparse.ArgumentParser, reads: argparse.ArgumentParser, run: Any) -> None:
    """Add `canary run|status` to the `tenantry` parser (`run` is commands.run: connect, errors, exit codes)."""
    canary = sub.add_parser("canary", help="the isolation canary: run it now, or show its last run")
    csub = canary.add_subparsers(dest="canary_command", required=True, metavar="COMMAND")
    for name, func, help in (
        ("run", _run, "run the isolation canary now and show every case"),
        ("status", _status, "show the canary's last run: each request, the expected and the observed decision"),
    ):
        p = csub.add_parser(name, help=help, description=help, parents=[target, reads])
        p.set_defaults(func=run, admin_func=func)
        if name == "run":
            p.add_argument(
                "--evaluate",
                action="store_true",
                help="locally: add the offline IAM policy evaluator's decision per case (a repository checkout "
                "with Node and node_modules; synthesizes the stack, ~30 s)",
            )
