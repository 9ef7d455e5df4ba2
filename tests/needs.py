"""One rule for tests that need a tool the machine may lack (a browser, Node, curl): skip, or fail under CI.

On a laptop a missing tool skips with the reason; under CI a skip would hide a check that never ran,
so it fails. `.ci/run` exports CI=true itself; any truthy value a runner sets (1, true, yes, on, in
any case) counts. The e2e suite (tests/e2e) does not use this: it stays opt-in and skipped without
AWS credentials, CI or not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import pytest

__all__ = ["in_ci", "require"]

T = TypeVar("T")

_TRUTHY = frozenset({"1", "true", "yes", "on"})


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the suite runs under CI (os.environ unless given), where nothing may quietly skip."""
    return (os.environ if environ is None else environ).get("CI", "").strip().lower() in _TRUTHY


def require(what: str, found: T | None, environ: Mapping[str, str] | None = None) -> T:
    """`found` if it is truthy; otherwise skip saying `what` is missing, or fail under CI."""
    if found:
        return found
    reason = f"{what} is missing"
    if in_ci(environ):
        pytest.fail(f"CI is set and {reason}; under CI nothing may skip", pytrace=False)
    pytest.skip(reason)
