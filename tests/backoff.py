"""HTTP transports that back off on API Gateway's 429, as a well-behaved client of a deployed stack must.

The emulator throttles each route as the stage does (/register at 2 a second, a burst of 5): a
test suite that registers many clients in a row meets the same 429s a real client would, and
waits and retries rather than failing. Exponential, capped; the 429 is returned after the last try.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import httpx2

__all__ = ["AsyncBackoffTransport", "BackoffTransport", "backoff_delays"]

TRIES = 8


def backoff_delays(first: float = 0.1, cap: float = 2.0) -> list[float]:
    return [min(cap, first * 2**attempt) for attempt in range(TRIES - 1)]


class BackoffTransport(httpx.HTTPTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.throttled = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for delay in backoff_delays():
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            self.throttled += 1
            response.close()
            time.sleep(delay)
        return super().handle_request(request)


class AsyncBackoffTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.throttled = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        for delay in backoff_delays():
            response = await super().handle_async_request(request)
            if response.status_code != 429:
                return response
            self.throttled += 1
            await response.aclose()
            await asyncio.sleep(delay)
        return await super().handle_async_request(request)
