"""The doctor's findings: one Check per line, the DoctorReport they make, and its text rendering.

The JSON shape (`--json`) is DoctorReport's fields; docs/chatgpt.md describes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["STEPS", "Check", "DoctorReport", "Status", "render", "timing"]

STEPS = {
    1: "challenge",
    2: "protected resource",
    3: "authorization server",
    4: "client registration",
    5: "sign-in",
    6: "with a token",
    7: "timing",
    8: "the stack's AWS account",
}
Status = Literal["PASS", "FAIL", "WARN", "SKIP"]


class Check(BaseModel):
    step: int
    title: str
    status: Status
    detail: str = ""
    expected: str | None = None
    got: str | None = None
    fix: str | None = None
    ms: float | None = None


class DoctorReport(BaseModel):
    url: str
    ok: bool
    checks: list[Check]
    first_call_ms: float | None = None
    total_ms: float


def timing(checks: list[Check], first_call_ms: float | None, total_ms: float) -> Check:
    """Step 7: where the time went (sign-in excluded: it waits on a person)."""
    timed = [c for c in checks if c.ms is not None and c.step != 5]
    slowest = max(timed, key=lambda c: c.ms or 0.0, default=None)
    parts = [f"total {total_ms:.0f} ms"]
    if first_call_ms is not None:
        parts.append(f"first authenticated call {first_call_ms:.0f} ms (a cold start shows here)")
    if slowest is not None:
        parts.append(f"slowest: {slowest.title} {slowest.ms:.0f} ms")
    # Informational: figures depend on the network and on cold starts, never a verdict.
    return Check(step=7, title="timing", status="PASS", detail="; ".join(parts), ms=total_ms)


def render(report: DoctorReport) -> str:
    lines = [f"tenantry doctor: {report.url}"]
    step = 0
    for check in report.checks:
        if check.step != step:
            step = check.step
            lines.append(f"{step}. {STEPS[step]}")
        ms = f" ({check.ms:.0f} ms)" if check.ms is not None and check.step != 7 else ""
        lines.append(f"  {check.status:<4}  {check.title}: {check.detail}{ms}")
        if check.status in ("FAIL", "WARN"):
            for label, value in (("expected", check.expected), ("got", check.got), ("fix", check.fix)):
                if value and value != check.detail:
                    lines.append(f"          {label + ':':<9} {' '.join(value.split())}")
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in ("PASS", "WARN", "FAIL", "SKIP")}
    verdict = "ready for ChatGPT" if report.ok else "not ready: fix the first FAIL above and run again"
    lines.append(
        f"{counts['PASS']} passed, {counts['WARN']} warning(s), {counts['FAIL']} failed, {counts['SKIP']} skipped: "
        + verdict
    )
    return "\n".join(lines)
