"""Every section, in the order a full run executes them. Add new sections here."""

from __future__ import annotations

from bench.aws_calls import run_aws_calls
from bench.cold import run_cold
from bench.core import Section
from bench.warm import run_warm

__all__ = ["SECTIONS"]

SECTIONS: list[Section] = [
    # Cold first: the parent is still idle, so the children get the CPU to themselves.
    Section("cold", "fresh process: import the handler and serve the first tools/call", run_cold),
    Section("warm", "median and p99 per tools/call through one warm handler", run_warm),
    Section("aws", "AWS API calls per tools/call, by operation", run_aws_calls),
]
