"""API Gateway's throttles: a token bucket per route, from the same route list the stack deploys.

An HTTP API stage applies its default route throttle to each route separately, and a route's own
RouteSettings replace it for that route (infra/constructs/api.py writes both from tenantry/routes.py).
A request finding its route's bucket empty gets API Gateway's 429, before the authorizer runs and
before any function is invoked. The buckets count every caller together, as API Gateway does: the
per-address limits are the function's own (TENANTRY_REGISTER_PER_MINUTE and friends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from tenantry.routes import STAGE_THROTTLE, ApiRoute, Throttle

__all__ = ["RouteThrottles", "TokenBucket"]


class TokenBucket:
    """`burst` requests at once, refilled at `rate` a second (API Gateway's documented model)."""

    def __init__(self, throttle: Throttle, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(throttle.rate)
        self.capacity = float(throttle.burst)
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def refill(self) -> None:
        with self._lock:
            self._tokens = self.capacity
            self._at = self._clock()


class RouteThrottles:
    def __init__(
        self,
        routes: Iterable[ApiRoute],
        stage: Throttle = STAGE_THROTTLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stage = stage
        self._clock = clock
        self._buckets = {route.key: TokenBucket(route.throttle or stage, clock) for route in routes}

    def admit(self, route: tuple[str, str]) -> bool:
        bucket = self._buckets.get(route)
        if bucket is None:
            bucket = self._buckets[route] = TokenBucket(self._stage, self._clock)
        return bucket.take()

    def refill(self) -> None:
        """Every bucket full again (tests that drain one put it back for the next)."""
        for bucket in self._buckets.values():
            bucket.refill()
