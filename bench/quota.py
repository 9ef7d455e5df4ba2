"""Quota exactness: a burst of concurrent tools/call over HTTP against a tenant limited to N calls.

Each trial registers a fresh tenant whose limit is N, fires `burst` tools/call requests at
once at the local emulator (API Gateway + JWT authorizer + several warm containers, each
on its own thread) and counts what was admitted. The usage table's own count is read
back as a second opinion. Then the same for the per-minute rate limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.core import Options, Row
from bench.resources import CONTAINERS, Resources
from bench.tenants import new_tenant
from tenantry.tenancy.plans import QUOTA_MAX
from tenantry_local.platform import LocalPlatform

__all__ = ["run_quota"]

TOOL = "list_customers"
_MONTHLY = "Monthly limit reached"
_RATE = "Rate limit reached"
_NO_RATE_LIMIT = 1_000_000
# moto's update_item checks the condition, then applies the update, with no lock between the two (see docs).
_MOTO = "moto checks the condition and applies the update without a lock: see docs/benchmarks.md"
_MINUTE_MARGIN_S = 5.0  # start a rate trial only with at least this much (and 1.5 bursts) left in the minute


@dataclass(frozen=True)
class Trial:
    admitted: int
    refused: Counter[str]  # "quota", "rate", or the start of any other answer
    stored_calls: int
    seconds: float
    straddled_minutes: bool


def run_quota(resources: Resources, options: Options) -> list[Row]:
    aws = resources.aws()
    platform = aws.platform
    rows = []
    n = options.quota_limit
    longest = 0.0
    for limit_kind in ("monthly", "rate"):
        deadline = time.monotonic() + options.loop_seconds
        for trial_no in range(1, options.quota_trials + 1):
            if limit_kind == "monthly":
                quotas = {"monthly_tool_calls": n, "calls_per_minute": _NO_RATE_LIMIT}
            else:
                quotas = {"monthly_tool_calls": QUOTA_MAX, "calls_per_minute": n}
                _wait_for_room_in_minute(max(_MINUTE_MARGIN_S, 1.5 * longest + 2))
            trial = _trial(platform, options.burst, quotas)
            longest = max(longest, trial.seconds)
            rows.append(_row(limit_kind, trial_no, trial, n, options.burst))
            if time.monotonic() > deadline:
                break
    return rows


def _trial(platform: LocalPlatform, burst: int, quotas: dict[str, int]) -> Trial:
    tenant = new_tenant(platform, plan="starter", **quotas)
    token = platform.token(tenant.tenant_id)
    month_before, minute_before = _now_keys()
    started = time.perf_counter()
    answers = asyncio.run(_burst(platform.mcp_url, token, burst))
    seconds = time.perf_counter() - started
    month_after, minute_after = _now_keys()
    admitted = 0
    refused: Counter[str] = Counter()
    for answer in answers:
        verdict = _classify(answer)
        if verdict is None:
            admitted += 1
        else:
            refused[verdict] += 1
    # The admission write counts the call: the table's count needs no flush of pending outcomes.
    stored = platform.services.usage.month(tenant.tenant_id, month_before).calls
    if month_after != month_before:
        stored += platform.services.usage.month(tenant.tenant_id, month_after).calls
    return Trial(admitted, refused, stored, seconds, minute_after != minute_before)


async def _burst(url: str, token: str, burst: int) -> list[tuple[int, str]]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json", "accept": "application/json"}
    limits = httpx.Limits(max_connections=burst, max_keepalive_connections=burst)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        responses = await asyncio.gather(
            *(http.post(url, content=_message(i + 1), headers=headers) for i in range(burst))
        )
    return [(r.status_code, r.text) for r in responses]


def _message(rpc_id: int) -> str:
    params = {"name": TOOL, "arguments": {"limit": 5}}
    return json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": params})


def _classify(answer: tuple[int, str]) -> str | None:
    """None for an admitted call; otherwise why it was not."""
    status, body = answer
    if status != 200:
        return f"HTTP {status}"
    try:
        result: dict[str, Any] = json.loads(body).get("result") or {}
    except ValueError:
        return "not JSON"
    if not result.get("isError"):
        return None
    text = str((result.get("content") or [{}])[0].get("text", ""))
    if text.startswith(_MONTHLY):
        return "quota"
    if text.startswith(_RATE):
        return "rate"
    return text[:60]


def _now_keys() -> tuple[str, str]:
    # The same clock and spelling as metering/meter.py: UTC month and minute of time.time().
    now = datetime.fromtimestamp(time.time(), UTC)
    return now.strftime("%Y-%m"), now.strftime("%Y-%m-%dT%H:%M")


def _wait_for_room_in_minute(needed_s: float) -> None:
    """Start a rate trial early enough in a minute that the burst ends inside it (bounded: < needed_s)."""
    left = 60.0 - (time.time() % 60.0)
    if left < needed_s:
        time.sleep(left + 0.2)


def _row(kind: str, trial_no: int, trial: Trial, limit: int, burst: int) -> Row:
    expected_refusal = "quota" if kind == "monthly" else "rate"
    exact = trial.admitted == limit and trial.stored_calls == limit
    parts = [
        "EXACT" if exact else f"NOT EXACT: usage table counted {trial.stored_calls}; {_MOTO}",
        f"{burst} concurrent over HTTP, {CONTAINERS} containers, {trial.seconds:.1f} s",
        ", ".join(f"{count} refused ({why})" for why, count in trial.refused.most_common()) or "none refused",
    ]
    if trial.refused and set(trial.refused) != {expected_refusal}:
        parts.append(f"expected only '{expected_refusal}' refusals")
    if kind == "rate" and trial.straddled_minutes:
        parts.append("the burst straddled a minute boundary: up to 2N were admissible")
    if burst <= limit:
        parts.append("burst <= N: nothing to refuse")
    label = "monthly quota" if kind == "monthly" else "per-minute rate"
    return Row("quota", f"{label}, trial {trial_no}: admitted vs N", trial.admitted, "calls", limit, "; ".join(parts))
