"""Fault injection: a container whose AWS clients answer with crafted errors (botocore `before-send`).

The hook sits on the botocore session the container's Services are built from, so every client
(the function's own and each tenant's) inherits it; requests it does not match go to moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from tenantry.mcp_server.app import LambdaApp
from tenantry.mcp_server.services import Services
from tenantry_local.emulator import Container
from tenantry_local.platform import LocalPlatform


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


Answer = Callable[[Any], AWSResponse]


def json_error(code: str, status: int = 400, prefix: str = "", **extra: Any) -> Answer:
    """DynamoDB (JSON 1.0) and KMS (JSON 1.1) error bodies."""

    def answer(request: Any) -> AWSResponse:
        body = json.dumps({"__type": prefix + code, "message": f"injected {code}", **extra}).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code}, _Raw(body))

    return answer


def query_error(code: str, status: int = 400) -> Answer:
    """STS (query protocol) error bodies."""

    def answer(request: Any) -> AWSResponse:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        return AWSResponse(request.url, status, {}, _Raw(body))

    return answer


def xml_error(code: str, status: int = 503) -> Answer:
    """S3 (REST-XML) error bodies."""

    def answer(request: Any) -> AWSResponse:
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        return AWSResponse(request.url, status, {}, _Raw(body))

    return answer


def read_timeout(request: Any) -> AWSResponse:
    raise ReadTimeoutError(endpoint_url=request.url)


def _deliver(request: Any) -> None:
    """Send the request to (local) AWS for real; what it answers is dropped."""
    response = URLLib3Session().send(request)
    assert response.status_code == 200, response.content  # applied: the fault is only the lost answer


def delivered_then_lost(request: Any) -> AWSResponse:
    """The request reaches AWS and is applied; its response is lost (a read timeout)."""
    _deliver(request)
    raise ReadTimeoutError(endpoint_url=request.url)


def delivered_then(answer: Answer) -> Answer:
    """The request reaches AWS and is applied, and the caller is answered with `answer` (e.g. a 500)."""

    def send_then_answer(request: Any) -> AWSResponse:
        _deliver(request)
        return answer(request)

    return send_then_answer


@dataclass
class Fault:
    service: str
    operation: str
    answer: Answer
    table: str | None = None  # only requests naming this table (DynamoDB)
    times: int | None = None  # answer this many requests, then let the rest through
    hits: int = 0


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)

    def arm(
        self, service: str, operation: str, answer: Answer, table: str | None = None, times: int | None = None
    ) -> Fault:
        fault = Fault(service, operation, answer, table, times)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        _, service, operation = [*event_name.split("."), "", ""][:3]
        for fault in self.faults:
            if (fault.service, fault.operation) != (service, operation):
                continue
            if fault.table is not None and f'"TableName": "{fault.table}"' not in _body(request):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            fault.hits += 1
            return fault.answer(request)
        return None


def _body(request: Any) -> str:
    body = request.body
    text = body.decode() if isinstance(body, bytes) else str(body or "")
    return json.dumps(json.loads(text)) if text.startswith("{") else text


@pytest.fixture(scope="module")
def faulty(platform: LocalPlatform) -> Iterator[tuple[Container, FaultPlan]]:
    """One warm container of its own whose AWS calls go through a fault plan."""
    plan = FaultPlan()
    session = botocore.session.get_session()
    session.register("before-send", plan.before_send)
    container = Container(LambdaApp(Services.create(platform.settings, session=session)))
    yield container, plan
    container.executor.shutdown(wait=False)


@pytest.fixture
def plan(faulty: tuple[Container, FaultPlan]) -> Iterator[FaultPlan]:
    faulty[1].clear()
    yield faulty[1]
    faulty[1].clear()
