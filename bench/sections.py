"""Every section, in the order a full run executes them. Add new sections here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.aws_calls import run_aws_calls
from bench.cold import run_cold
from bench.core import Options, Row
from bench.cost import run_cost
from bench.first_call import run_first_call
from bench.guard_cost import run_guard
from bench.install import WHY_OPT_IN as INSTALL_OPT_IN
from bench.install import run_install
from bench.lifecycle import run_lifecycle
from bench.quota import run_quota
from bench.resources import Resources
from bench.scale import WHY_OPT_IN as WHY_SCALE_OPT_IN
from bench.scale import run_scale
from bench.size import WHY_OPT_IN, run_size
from bench.warm import run_warm

__all__ = ["SECTIONS", "Section"]


@dataclass(frozen=True)
class Section:
    name: str
    summary: str
    # Sections ask Resources for what they need (moto, seeded tables), started once per run.
    run: Callable[[Resources, Options], list[Row]]
    # Left out of a default run (it needs the network or minutes); `--only NAME` runs it.
    opt_in: bool = False
    why_opt_in: str = ""


SECTIONS: list[Section] = [
    # Cold first: the parent is still idle, so the children get the CPU to themselves.
    Section("cold", "fresh process: import the handler and serve the first tools/call", run_cold),
    Section("warm", "median and p99 per tools/call through one warm handler", run_warm),
    Section("aws", "AWS API calls per tools/call, by operation, against the target", run_aws_calls),
    Section("first", "first tools/call of a tenant new to a warm container vs its next call", run_first_call),
    Section("guard", "the tenant guard's cost: the hook alone, and GetItem guarded vs not", run_guard),
    Section("quota", "concurrent tools/call over HTTP against monthly and per-minute limits", run_quota),
    Section("cost", "dollars per 10 million tools/call from measured quantities and an editable price table", run_cost),
    Section(
        "scale",
        "10,000 tenants: import, members import, re-import, list, usage report; a container serving them all",
        run_scale,
        opt_in=True,
        why_opt_in=WHY_SCALE_OPT_IN,
    ),
    Section(
        "lifecycle",
        "a 10,000-customer tenant moved pool -> silo -> cell with a writer running; export and restore",
        run_lifecycle,
        opt_in=True,
        why_opt_in="it seeds 10,000 customers and takes minutes",
    ),
    Section("size", "Lambda dependency layer and code asset sizes", run_size, opt_in=True, why_opt_in=WHY_OPT_IN),
    Section(
        "install",
        "disk taken by what ./dev local installs, against ./dev test's environment",
        run_install,
        opt_in=True,
        why_opt_in=INSTALL_OPT_IN,
    ),
]
