"""Warm a client's request path at init without sending anything.

A botocore client does much of its work on its first call of an operation: it resolves the
endpoint rules, builds and caches operation models and serializers, copies its event
handlers' lookups, and imports the modules its signer and parser need. `answered_locally`
lets those calls run end to end (parameters validated and serialized, the request signed)
while a `before-send` handler, botocore's hook for supplying a response, answers each one with
an empty 200 in process. No connection is opened; no tenant is named; nothing is cached but
the client's own machinery.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

__all__ = ["answered_locally"]

_HANDLER_ID = "tenantry-prime"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@contextmanager
def answered_locally(client: Any, body: bytes = b"{}") -> Iterator[None]:
    """Inside the block, every call of `client` is answered with `body` (HTTP 200) and never sent."""

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, HTTPHeaders(), _Body(body))

    events = client.meta.events
    events.register_first("before-send", answer, unique_id=_HANDLER_ID)
    try:
        yield
    finally:
        events.unregister("before-send", unique_id=_HANDLER_ID)
