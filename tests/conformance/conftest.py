"""A platform of its own for the conformance suite, behind a loopback proxy that adds a bearer token."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tenantry_local.platform import LocalPlatform, running_platform
from tests.conformance.harness import TokenProxy, require_tools


@pytest.fixture(scope="session")
def suite_tools() -> None:
    require_tools(dict(os.environ))


@pytest.fixture(scope="session")
def proxied(suite_tools: None) -> Iterator[tuple[LocalPlatform, TokenProxy]]:
    """(platform, proxy): the suite's DNS-rebinding scenario sends the proxy's own loopback Origin and
    expects it served, so the platform allows exactly those (as an operator would list a web client's)."""
    proxy = TokenProxy()
    with running_platform(port=0, state_dir=None, containers=2, allowed_origins=proxy.origins) as platform:
        proxy.upstream = platform.base_url
        proxy.token = platform.token("ironworks-gym", subject="owner@ironworks")
        with proxy.serving():
            yield platform, proxy
