"""The `tenantry doctor` command: find the target, walk the steps in order, print the report.

`diagnose` runs the stages (discovery, registration, sign_in, calls) against one
DoctorContext and always cleans up a registered client, whatever failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

import httpx2
from pydantic import ValidationError

from tenantry_admin.doctor.account import concurrency
from tenantry_admin.doctor.calls import with_token
from tenantry_admin.doctor.context import Browser, DoctorContext, DoctorOptions
from tenantry_admin.doctor.discovery import authorization_server, challenge, resource
from tenantry_admin.doctor.net import FencedHttp, Loopback
from tenantry_admin.doctor.registration import finish_cleanup, register_clients
from tenantry_admin.doctor.report import Check, DoctorReport, render, timing
from tenantry_admin.doctor.sign_in import sign_in

__all__ = ["DoctorInputError", "diagnose", "open_browser", "register"]


def _walk(ctx: DoctorContext) -> None:
    """Each step runs when the steps it depends on found what it needs; the others are skipped with a reason."""
    blocked = challenge(ctx)
    if blocked:
        ctx.skip_steps(range(2, 7), f"not run: {blocked} (step 1)")
        return
    if resource(ctx):
        if authorization_server(ctx):
            register_clients(ctx)
            sign_in(ctx)
        else:
            ctx.skip_steps(range(4, 6), "not run: no usable authorization server metadata (step 3)")
    else:
        ctx.skip_steps(range(3, 6), "not run: no usable protected resource metadata (step 2)")
    with_token(ctx)


def _print_url(url: str) -> None:
    print(f"Sign in at this URL (the doctor waits for the redirect):\n  {url}", file=sys.stderr)


def open_browser(url: str) -> None:
    _print_url(url)
    webbrowser.open(url)


def diagnose(
    options: DoctorOptions, browser: Browser = open_browser, transport: httpx2.BaseTransport | None = None
) -> DoctorReport:
    """Walk every step against options.url; `transport` lets tests put a rewriting proxy in the way."""
    started = time.perf_counter()
    http = FencedHttp(options.timeout, transport)
    http.allow(options.url)
    ctx: DoctorContext | None = None
    try:
        with Loopback().running() as loopback:
            http.allow(loopback.base_url)
            ctx = DoctorContext(options, http, loopback, browser)
            try:
                _walk(ctx)
            finally:
                finish_cleanup(ctx)
    finally:
        http.close()
    total = (time.perf_counter() - started) * 1000
    ctx.checks.append(timing(ctx.checks, ctx.first_call_ms, total))
    order = {id(c): i for i, c in enumerate(ctx.checks)}
    checks = sorted(ctx.checks, key=lambda c: (c.step, order[id(c)]))
    return DoctorReport(
        url=options.url,
        ok=all(c.status != "FAIL" for c in checks),
        checks=checks,
        first_call_ms=ctx.first_call_ms,
        total_ms=round(total, 1),
    )


# -- the command ----------------------------------------------------------------------------------
class DoctorInputError(Exception):
    """The command line cannot name a target; one line for the operator."""


def _stack_outputs(stack: str, region: str | None) -> tuple[Any, dict[str, str]]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(region_name=region)
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise DoctorInputError(f"Cannot read stack {stack}: {' '.join(str(exc).split())}") from None
    outputs = {str(o.get("OutputKey")): str(o.get("OutputValue")) for o in stacks[0].get("Outputs", [])}
    if not outputs.get("McpUrl"):
        raise DoctorInputError(f"Stack {stack} has no McpUrl output; is it a Tenantry stack?")
    return session, outputs


def _account_check(session: Any, outputs: dict[str, str]) -> Check:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return concurrency(session.client("lambda"), outputs)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            step=8,
            title="Lambda concurrency",
            status="WARN",
            detail=f"could not read the account's Lambda settings: {' '.join(str(exc).split())}",
            fix="attach the stack's OperatorPolicyArn policy to the role you run the doctor as",
        )


def _local_target(state_dir: Path) -> tuple[str, str | None]:
    described = state_dir / "local.json"
    try:
        info = json.loads(described.read_text())
    except FileNotFoundError:
        raise DoctorInputError(
            f"No URL given and no local server state in {described}: pass the MCP URL, --stack NAME, "
            "or start `tenantry local`."
        ) from None
    except ValueError:
        raise DoctorInputError(f"{described} is not JSON; restart `tenantry local`.") from None
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str):
        raise DoctorInputError(f"{described} names no URL; restart `tenantry local`.")
    tenants = info.get("tenants") if isinstance(info.get("tenants"), dict) else {}
    tokens = [t.get("token") for t in tenants.values() if isinstance(t, dict) and isinstance(t.get("token"), str)]
    return url, (tokens[0] if tokens else None)


def _command(args: argparse.Namespace) -> int:
    try:
        token, source = args.token, "--token"
        session: Any = None
        outputs: dict[str, str] = {}
        if args.url and args.stack:
            raise DoctorInputError("Give either a URL or --stack NAME, not both.")
        if args.url:
            url = args.url
        elif args.stack:
            session, outputs = _stack_outputs(args.stack, args.region)
            url = outputs["McpUrl"]
        else:
            url, local_token = _local_target(Path(args.state_dir))
            if token is None and local_token is not None:
                token, source = local_token, "the local server's demo token"
        options = DoctorOptions(
            url=url,
            token=token,
            token_source=source,
            sign_in=args.sign_in,
            client_metadata_url=args.client_metadata_url,
            tenant_claim=args.tenant_claim,
            timeout=args.timeout,
            sign_in_timeout=args.sign_in_timeout,
        )
    except DoctorInputError as exc:
        print(f"tenantry: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        print(f"tenantry: {where}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    browser: Browser = _print_url if args.no_browser else open_browser
    try:
        report = diagnose(options, browser)
    except KeyboardInterrupt:
        print("tenantry: interrupted", file=sys.stderr)
        return 130
    if session is not None:
        report.checks.append(_account_check(session, outputs))
        report.ok = all(c.status != "FAIL" for c in report.checks)
    print(report.model_dump_json(indent=2) if args.json else render(report))
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor` to the `tenantry` parser."""
    help = "check a deployment the way ChatGPT will, and name the step that fails"
    p = sub.add_parser("doctor", help=help, description=help + " (docs/chatgpt.md)")
    p.add_argument("url", nargs="?", help="the MCP URL (default: the running local server)")
    p.add_argument("--stack", help="a deployed stack's name: check its McpUrl output")
    p.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--sign-in", action="store_true", help="sign in through a browser (step 5) and use that token")
    p.add_argument("--no-browser", action="store_true", help="with --sign-in, print the URL instead of opening it")
    p.add_argument("--token", help="an access token for step 6 (locally: a demo token by default)")
    p.add_argument("--client-metadata-url", metavar="URL", help="a hosted client metadata document to test CIMD with")
    p.add_argument("--tenant-claim", default="tenant_id", help="the token claim naming the tenant (default tenant_id)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")
    p.add_argument("--sign-in-timeout", type=float, default=300.0, help="seconds to wait for sign-in (default 300)")
    p.set_defaults(func=_command)
