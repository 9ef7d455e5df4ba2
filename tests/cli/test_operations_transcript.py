"""docs/operations.md's operator day, run against the local platform and compared line by line.

Every ```console block of the page is a transcript: each `$ ` line is run (in process, the way the
`tenantry` fixture runs the CLI), and what it prints must be the lines that follow it, once times,
months, secret fingerprints and counts of the session's other tenants are masked and runs of spaces
are collapsed (table columns widen with their content). An `<!-- transcript: ... -->` comment sets up
what the page narrates but no command does (a studio's traffic). So the page cannot drift from the CLI:
change an output and this test names the block and the line.

TENANTRY_TRANSCRIPT_PRINT=1 prints what each command really printed, to update the page from.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import Run
from tests.conftest import context_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# What stdin gets for a `printf '%s' "$VAR" | tenantry ...` line.
SECRET_VALUE = "whsec_example_value"

_MASKS = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00"), "<time>"),
    (re.compile(r"\b\d{4}-\d{2}\b"), "<month>"),
    (re.compile(r"sha256:[0-9a-f]{12}"), "sha256:<fingerprint>"),
    (re.compile(r"of \d+ tenant\(s\)"), "of <n> tenant(s)"),
]


def mask(line: str) -> str:
    for pattern, replacement in _MASKS:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def transcript(text: str) -> list[tuple[int, str, list[str]]]:
    """(doc line, command, expected lines) for each `$ ` line of every console block, and the setup directives."""
    steps: list[tuple[int, str, list[str]]] = []
    for match in re.finditer(r"<!-- transcript: (.*?) -->|```console\n(.*?)```", text, re.DOTALL):
        line_no = text.count("\n", 0, match.start()) + 1
        if match.group(1) is not None:
            steps.append((line_no, "#setup " + match.group(1), []))
            continue
        lines = match.group(2).splitlines()
        joined: list[str] = []
        for raw in lines:
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + raw.strip()
            else:
                joined.append(raw)
        for offset, line in enumerate(joined):
            if line.startswith("$ "):
                steps.append((line_no + offset + 1, line[2:], []))
            elif steps:
                steps[-1][2].append(line)
    return steps


def _traffic(platform: LocalPlatform, spec: str) -> None:
    """`traffic TENANT tool=COUNTxMSms[:error] ... customers=N`: admitted, recorded tool calls and customers."""
    tenant_id, *parts = spec.split()
    services = platform.services
    record = services.registry.load(tenant_id)
    assert record is not None, tenant_id
    context = context_for(record, platform)
    for part in parts:
        name, value = part.split("=")
        if name == "customers":
            for n in range(int(value)):
                services.customer_store.create(context, f"member-{n:03d}", {"name": f"Member {n}"})
            continue
        count, _, rest = value.partition("x")
        ms, _, flag = rest.removesuffix("ms").partition(":")
        for _ in range(int(count)):
            month = services.usage.admit(context, name)
            services.usage.record(tenant_id, name, float(ms.removesuffix("ms")), flag == "error", month)
    services.usage.flush()


def _run_line(command: str, tenantry: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> str:
    command, _, comment = command.partition("  # ")
    monkeypatch.setenv("USER", f"ops-{comment.strip().lower()}" if comment.strip() else "ops-alice")
    stdin = None
    piped = re.fullmatch(r"printf '%s' \"\$\w+\" \| (.*)", command.strip())
    if piped:
        command, stdin = piped.group(1), SECRET_VALUE
    filtered = re.fullmatch(r"grep -E '(.+)' (\S+) \| cut -d, -f1-(\d+)", command.strip())
    if filtered:
        pattern, path, fields = re.compile(filtered.group(1)), Path(filtered.group(2)), int(filtered.group(3))
        lines = [line for line in path.read_text().splitlines() if pattern.search(line)]
        return "\n".join(",".join(line.split(",")[:fields]) for line in lines)
    argv = shlex.split(command)
    assert argv[0] == "tenantry", f"the transcript runs tenantry commands only: {command}"
    run = tenantry(*argv[1:], stdin=stdin)
    return run.err + run.out


def test_the_operator_day_in_docs_operations_md_is_what_the_cli_prints(
    tenantry: Callable[..., Run],
    platform: LocalPlatform,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # `--output .tenantry/...` lands here
    (tmp_path / ".tenantry").mkdir()
    steps = transcript(DOC.read_text())
    assert len(steps) > 20, "the page lost its transcript"
    show = os.environ.get("TENANTRY_TRANSCRIPT_PRINT") == "1"
    mismatches: list[str] = []
    for line_no, command, expected in steps:
        if command.startswith("#setup "):
            kind, _, spec = command.removeprefix("#setup ").partition(" ")
            assert kind == "traffic", command
            _traffic(platform, spec)
            continue
        actual = [line for line in _run_line(command, tenantry, monkeypatch).splitlines() if line.strip()]
        if show:
            # Past capsys, which the `tenantry` fixture reads and clears around every command.
            print(f"--- docs/operations.md:{line_no} $ {command}\n" + "\n".join(actual), file=sys.__stderr__)
        want = [mask(line) for line in expected if line.strip()]
        got = [mask(line) for line in actual]
        if want != got:
            mismatches.append(f"docs/operations.md:{line_no} $ {command}\n  page: {want}\n  cli:  {got}")
    assert not mismatches, "\n".join(mismatches)


def test_the_masks_keep_what_matters() -> None:
    # A different status, plan or count is a mismatch; only times, months and fingerprints are masked.
    now = datetime.now(UTC).isoformat(timespec="seconds")
    assert mask(f"version 1 (created {now}, updated {now})") == "version 1 (created <time>, updated <time>)"
    assert mask("status  active") != mask("status suspended")
    assert mask("calls 327 of 200,000") != mask("calls 328 of 200,000")
    steps = transcript("<!-- transcript: traffic a x=1x2ms -->\n```console\n$ tenantry a \\\n  --b\nout\n```\n")
    assert [(c, e) for _, c, e in steps] == [("#setup traffic a x=1x2ms", []), ("tenantry a --b", ["out"])]
