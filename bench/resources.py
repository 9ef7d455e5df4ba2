"""Shared, lazily started resources: one local platform (moto, tables, demo tenants) per run."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from bench.tenants import lift_limits
from tenantry.settings import Settings
from tenantry_local.aws import environment
from tenantry_local.platform import LocalPlatform, running_platform

__all__ = ["CONTAINERS", "LocalAws", "Resources"]

_PREFIX = "TENANTRY_"
# Warm containers behind the emulator's HTTP front. More than one, so concurrent requests
# (the quota section) reach the usage table from several threads at once, as Lambda would.
CONTAINERS = 4


@dataclass(frozen=True)
class LocalAws:
    endpoint: str
    settings: Settings
    platform: LocalPlatform


class Resources:
    """Started on first use, stopped when the run ends, so `--only` pays only for what it uses."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._aws: LocalAws | None = None

    def aws(self) -> LocalAws:
        if self._aws is None:
            self._aws = self._start_aws()
        return self._aws

    def _start_aws(self) -> LocalAws:
        # The same platform the tests use (moto, tables, seeded demo tenants), so the bench
        # follows the runtime's wiring instead of copying it. Only the quota section uses its HTTP front.
        # No stage throttle: the quota trials measure the function's admission under bursts larger
        # than the stage's default bucket, which would otherwise answer some of them 429 first.
        platform = self._stack.enter_context(
            running_platform(port=0, state_dir=None, containers=CONTAINERS, throttle=False)
        )
        # The latency sections call the seeded tenant thousands of times a minute: its plan's rate limit
        # (600/min) would refuse them. Limits are the quota section's business, on tenants of its own.
        lift_limits(platform)
        # The handler reads its settings from the environment, as on Lambda; children inherit it.
        self._stack.enter_context(environment(platform.environment()))
        if Settings.from_env() != platform.settings:
            raise RuntimeError("settings do not survive the round trip through TENANTRY_* variables")
        return LocalAws(endpoint=os.environ["AWS_ENDPOINT_URL"], settings=platform.settings, platform=platform)
