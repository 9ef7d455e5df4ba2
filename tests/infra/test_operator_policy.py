"""The operator policy the stack creates allows exactly what the operator CLI does, proven offline.

Every operator command runs against the local platform with its AWS requests recorded (botocore
hooks: tests/cli/recording.py); each request becomes an IAM request on the deployed stack's
resource of the same role (the local platform's tables have the stack's default names) and goes to
the offline evaluator (@cloud-copilot/iam-simulate) with the synthesized `OperatorPolicy` as the
only identity policy. Every request must be allowed, every action the policy grants must be used by
some request, and removing any one action from the policy must deny some recorded request.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import Run
from tests.cli.recording import Recorder, iam_requests
from tests.infra.conftest import Synth
from tests.infra.iam.model import ACCOUNT, REGION, STACK_NAME, Resolver
from tests.infra.iam.table import evaluate, verdict

Request = tuple[str, str, str]  # (IAM action, resource kind, name)


def operator_day(
    tenantry: Callable[..., Run],
    recorder: Recorder,
    suffix: str,
    sign_in: Callable[[str, str], None],
) -> None:
    """Every operator command (what docs/operations.md walks through), each recorded under its name."""
    # A demo user (the dev sign-in knows only those), made a member of this day's own tenant.
    pooled, silo, user = f"pol-{suffix}", f"pols-{suffix}", "accountant@books.example"
    # Files the bulk commands read and the archive export writes and restore reads.
    files = Path(tempfile.mkdtemp(prefix="operator-policy-"))
    (files / "tenants.csv").write_text(f"id,slug,name,plan\npoli-{suffix},poli-{suffix},Imported,starter\n")
    # A user of its own: a demo user given a second tenant would meet a picker in other tests' sign-ins.
    (files / "members.csv").write_text(f"tenant,user\npoli-{suffix},member-{suffix}@policy.example\n")
    steps: list[tuple[str, tuple[str, ...], str | None]] = [
        ("tenants create", ("tenants", "create", "--id", pooled, "--slug", pooled, "--name", "P", "--plan", "starter"),
         None),
        ("tenants create (silo)", ("tenants", "create", "--id", silo, "--slug", silo, "--name", "S", "--plan",
                                   "business"), None),
        ("tenants show", ("tenants", "show", pooled), None),
        ("tenants list", ("tenants", "list"), None),
        ("tenants update", ("tenants", "update", pooled, "--plan", "professional", "--brand-color", "#112233"), None),
        ("tenants suspend", ("tenants", "suspend", pooled), None),
        ("tenants resume", ("tenants", "resume", pooled), None),
        ("tenants usage", ("tenants", "usage", pooled), None),
        ("tenants usage-report", ("tenants", "usage-report", "--format", "csv"), None),
        ("tenants audit", ("tenants", "audit", pooled), None),
        ("tenants health", ("tenants", "health", pooled), None),
        ("secrets set", ("secrets", "set", "--tenant", pooled, "crm_api_key"), "v1\n"),
        ("secrets rotate", ("secrets", "rotate", "--tenant", pooled, "crm_api_key"), "v2\n"),
        ("secrets list", ("secrets", "list", "--tenant", pooled), None),
        ("secrets delete", ("secrets", "delete", "--tenant", pooled, "crm_api_key"), None),
        ("members add", ("members", "add", "--tenant", pooled, "--user", user), None),
        ("members list", ("members", "list", "--tenant", pooled), None),
        ("members list (user)", ("members", "list", "--user", user), None),
        ("members remove", ("members", "remove", "--tenant", pooled, "--user", user), None),
        ("tenants top", ("tenants", "top"), None),
        ("cells show", ("cells", "show"), None),
        ("members export", ("members", "export", "--tenant", pooled), None),
        ("tenants import", ("tenants", "import", str(files / "tenants.csv")), None),
        ("members import", ("members", "import", str(files / "members.csv")), None),
        ("tenants export", ("tenants", "export", pooled, "--output", str(files / "archive.tar"), "--yes"), None),
        ("tenants restore", ("tenants", "restore", str(files / "archive.tar"), "--as", f"polr-{suffix}", "--yes"),
         None),
        ("tenants offboard", ("tenants", "offboard", pooled, "--yes"), None),
        ("tenants offboard (silo)", ("tenants", "offboard", silo, "--yes"), None),
    ]  # fmt: skip
    for name, argv, stdin in steps:
        if name == "members remove":
            sign_in(user, pooled)  # so that removing the membership has a sign-in to revoke
        recorder.command = name
        run = tenantry(*argv, stdin=stdin)
        assert run.code == 0, (name, run.err)


# What only a deployed stack's commands do (no local equivalent): found by the code that makes them.
STACK_ONLY: dict[str, tuple[str, str]] = {
    "cloudformation:DescribeStacks": ("admin/tenantry_admin/target.py", "describe_stacks("),
    "lambda:GetAccountSettings": ("admin/tenantry_admin/doctor/account.py", "get_account_settings("),
    "lambda:GetFunctionConcurrency": ("admin/tenantry_admin/doctor/account.py", "get_function_concurrency("),
}


@pytest.fixture(scope="module")
def recorded_day(platform: LocalPlatform, tmp_path_factory: pytest.TempPathFactory) -> set[Request]:
    """The operator's day, recorded once for the module (the evaluator then runs many variants)."""
    import io
    import sys
    import uuid

    from tenantry_admin import commands, target
    from tenantry_admin.cli import main
    from tests.cli.recording import Recorder
    from tests.oauth.conftest import Browser, Flow

    state = tmp_path_factory.mktemp("operator-policy")
    (state / "local.json").write_text(json.dumps(platform.describe()))
    recorder_ = Recorder()
    patch = pytest.MonkeyPatch()
    original = target._session
    patch.setattr(target, "_session", lambda region: _attached(original(region), recorder_))
    patch.setattr(commands, "_services", {})

    def run(*argv: str, stdin: str | None = None) -> Run:
        out, err = io.StringIO(), io.StringIO()
        patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        try:
            code = main(["--state-dir", str(state), *argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            patch.setattr(sys, "stdout", sys.__stdout__)
            patch.setattr(sys, "stderr", sys.__stderr__)
        return Run(code, out.getvalue(), err.getvalue())

    def sign_in(user: str, tenant: str) -> None:
        import httpx

        http = httpx.Client(base_url=platform.base_url, follow_redirects=False, timeout=15)
        flow = Flow(http, platform, Browser(platform))
        flow.register()
        assert flow.redeem(flow.code(user, tenant)).status_code == 200

    try:
        operator_day(run, recorder_, uuid.uuid4().hex[:8], sign_in)
    finally:
        patch.undo()
    return iam_requests(recorder_.requests)


def _attached(session: Any, recorder_: Recorder) -> Any:
    recorder_.attach(session)
    return session


def _policy(synth: Synth) -> dict[str, Any]:
    logical = synth.logical_id("Operator/Policy")
    document: dict[str, Any] = Resolver(synth.raw).resolve(
        synth.raw["Resources"][logical]["Properties"]["PolicyDocument"]
    )
    return document


def _arn(synth: Synth, request: Request) -> str:
    _, kind, name = request
    resolver = Resolver(synth.raw)
    if kind == "table":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    if kind == "role":
        return resolver.get_att(synth.logical_id("TenantAccess/Role"), "Arn")
    raise AssertionError(f"no ARN for {request}")


def _stack_only(synth: Synth) -> dict[Request, str]:
    """The stack-only requests, with the ARNs they name on a deployed stack."""
    resolver = Resolver(synth.raw)
    functions = [synth.logical_id(p) for p in ("Mcp/Function", "Auth/Function")]
    out = {
        ("cloudformation:DescribeStacks", "stack", STACK_NAME): (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
        ),
        ("lambda:GetAccountSettings", "*", ""): "*",
    }
    for logical in functions:
        out[("lambda:GetFunctionConcurrency", "function", logical)] = resolver.get_att(logical, "Arn")
    return out


def _all_requests(synth: Synth, recorded: set[Request]) -> dict[Request, str]:
    return {**{r: _arn(synth, r) for r in recorded}, **_stack_only(synth)}


def _decisions(policy: dict[str, Any], requests: dict[Request, str]) -> dict[Request, str]:
    return _many({"": policy}, requests)[""]


def _many(policies: dict[str, dict[str, Any]], requests: dict[Request, str]) -> dict[str, dict[Request, str]]:
    """Every request under every policy variant, in one evaluator process."""
    batch = {
        json.dumps([variant, *request]): {
            "request": {
                "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/operator/ops-alice",
                "action": request[0],
                "resource": {"resource": arn, "accountId": ACCOUNT},
                "contextVariables": {"aws:SecureTransport": "true", "aws:PrincipalAccount": ACCOUNT},
            },
            "identityPolicies": [{"name": "operator", "policy": policy}],
        }
        for variant, policy in policies.items()
        for request, arn in requests.items()
    }
    out: dict[str, dict[Request, str]] = {variant: {} for variant in policies}
    for key, decision in evaluate(batch).items():
        variant, *request = json.loads(key)
        out[variant][tuple(request)] = verdict(decision)  # type: ignore[index]
    return out


def test_the_stack_only_requests_are_made_by_the_code_that_names_them() -> None:
    from tests.infra.conftest import REPO

    for action, (path, call) in STACK_ONLY.items():
        assert call in (REPO / path).read_text(), (action, path)


def test_the_operator_policy_allows_every_request_of_every_operator_command(
    synth: Synth, recorded_day: set[Request]
) -> None:
    requests = _all_requests(synth, recorded_day)
    denied = {r: d for r, d in _decisions(_policy(synth), requests).items() if d != "allow"}
    assert not denied, f"the operator policy refuses what the CLI does: {sorted(denied)}"


def test_the_operator_policy_grants_no_action_the_cli_does_not_use(synth: Synth, recorded_day: set[Request]) -> None:
    used = {action for action, _, _ in _all_requests(synth, recorded_day)}
    granted = set()
    for statement in _policy(synth)["Statement"]:
        actions = statement["Action"]
        granted.update(actions if isinstance(actions, list) else [actions])
    assert granted == used, {"granted, unused": sorted(granted - used), "used, not granted": sorted(used - granted)}


def test_removing_any_one_action_from_the_policy_denies_a_recorded_request(
    synth: Synth, recorded_day: set[Request]
) -> None:
    requests = _all_requests(synth, recorded_day)
    policy = _policy(synth)
    variants = {}
    for index, statement in enumerate(policy["Statement"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            mutated = json.loads(json.dumps(policy))
            kept = [a for a in actions if a != action]
            if kept:
                mutated["Statement"][index]["Action"] = kept
            else:
                del mutated["Statement"][index]
            variants[f"{statement.get('Sid')}: {action}"] = mutated
    assert len(variants) > 20
    decisions = _many(variants, requests)
    missed = [name for name, by_request in decisions.items() if all(d == "allow" for d in by_request.values())]
    assert not missed, f"removing these changes nothing the CLI does: {missed}"
