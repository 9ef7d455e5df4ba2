"""The JWT authorizer's signing keys, fetched as API Gateway fetches them: over HTTP, with its timeouts.

API Gateway reads `{issuer}/.well-known/openid-configuration` for `jwks_uri`, then the JWKS, each
with a 1,500 ms timeout (its quotas page), caches the key set (best effort, up to an hour) and
fetches again when a token names a `kid` it has not seen. A fetch that fails or times out leaves
the token unverifiable: a 401, even for a valid token. Locally the fetch goes to the emulator's own
authorization server over loopback HTTP, so a slow or cold auth function shows here as it would there.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["FETCH_TIMEOUT_SECONDS", "HttpKeySet", "KeySetUnavailable", "StaticKeySet"]

FETCH_TIMEOUT_SECONDS = 1.5
CACHE_SECONDS = 3600.0
# No proxy from the environment: the issuer is the emulator's own loopback origin.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# After a fetch, an unknown kid does not fetch again for this long (a forged kid cannot make
# the gateway hammer the issuer). Not documented by AWS; a choice of ours.
REFETCH_COOLDOWN_SECONDS = 10.0


class KeySetUnavailable(Exception):
    """The discovery document or the JWKS could not be read in time."""


class StaticKeySet:
    """A fixed key set or a callable giving it (tests of the authorizer alone)."""

    def __init__(self, jwks: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self._jwks = jwks

    async def find(self, kid: Any) -> dict[str, Any] | None:
        jwks = self._jwks() if callable(self._jwks) else self._jwks
        return next((jwk for jwk in jwks.get("keys", []) if jwk.get("kid") == kid), None)


class HttpKeySet:
    def __init__(
        self,
        issuer: str,
        timeout: float = FETCH_TIMEOUT_SECONDS,
        cache_seconds: float = CACHE_SECONDS,
        cooldown_seconds: float = REFETCH_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def expire(self) -> None:
        """Forget the cached keys, as API Gateway does after its cache period (tests of rotation)."""
        self._keys = {}
        self._fetched_at = None

    async def find(self, kid: Any) -> dict[str, Any] | None:
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > self.cache_seconds
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at > self.cooldown_seconds
            )
            if stale or unknown:
                self._keys = await asyncio.to_thread(self._fetch)
                self._fetched_at = self._clock()
            return self._keys.get(kid) if isinstance(kid, str) else None

    def _fetch(self) -> dict[str, dict[str, Any]]:
        self.fetches += 1
        discovery = self._get(self.discovery_url)
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise KeySetUnavailable(f"{self.discovery_url} names no jwks_uri")
        keys = self._get(jwks_uri).get("keys")
        if not isinstance(keys, list):
            raise KeySetUnavailable(f"{jwks_uri} has no keys list")
        return {key["kid"]: key for key in keys if isinstance(key, dict) and isinstance(key.get("kid"), str)}

    def _get(self, url: str) -> dict[str, Any]:
        if not url.startswith(("http://", "https://")):
            raise KeySetUnavailable(f"{url} is not an http(s) URL")
        request = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310 - checked above
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                document = json.loads(response.read())
        except (OSError, ValueError) as exc:  # timeouts and refusals are OSErrors; bad JSON a ValueError
            raise KeySetUnavailable(f"{url}: {exc}") from None
        if not isinstance(document, dict):
            raise KeySetUnavailable(f"{url} is not a JSON object")
        return document
