"""What `tenantry doctor` needs from the network: a fenced HTTP client and a loopback listener.

The client contacts only origins the doctor was told about (the MCP URL's origin,
then the authorization server the resource names and the endpoints that server
names), follows no redirects, bounds every request in time and size, and turns
every transport failure into one sentence an operator understands.

The loopback listener is the doctor's own small web server on 127.0.0.1: it
serves the doctor's client metadata document (CIMD) and receives the sign-in
redirect, as a native MCP client's would (RFC 8252 7.3).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2

__all__ = ["FencedHttp", "Loopback", "OutsideOriginError", "Reply", "UnreachableError", "origin_of"]

# Discovery documents and token responses are small; a body past this is not what the doctor asked for.
MAX_BODY_BYTES = 1024 * 1024


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class UnreachableError(Exception):
    """The request got no HTTP answer (DNS, refused, TLS, timeout); the message is one line."""


class OutsideOriginError(Exception):
    """The doctor was about to contact an origin it was not told about; nothing was sent."""


@dataclass(frozen=True)
class Reply:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    ms: float

    def json(self) -> Any:
        """The body as JSON, None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self, limit: int = 160) -> str:
        """A short, one-line excerpt of the body (tags dropped) for an operator's eyes."""
        raw = self.body[:4096].decode("utf-8", errors="replace")
        flat = " ".join(re.sub(r"<[^>]+>", " ", raw).split())
        return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class FencedHttp:
    """httpx2 (the MCP SDK's HTTP client, so present in every install) behind an origin fence."""

    def __init__(self, timeout: float, transport: httpx2.BaseTransport | None = None) -> None:
        self._timeout = timeout
        self._allowed: set[str] = set()
        self._client = httpx2.Client(
            timeout=httpx2.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": "tenantry-doctor"},
        )

    def close(self) -> None:
        self._client.close()

    def allow(self, url: str) -> None:
        self._allowed.add(origin_of(url))

    def allowed(self, url: str) -> bool:
        return origin_of(url) in self._allowed

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        if not self.allowed(url):
            raise OutsideOriginError(
                f"not contacted: {origin_of(url)} is neither the MCP URL's origin nor its authorization server's"
            )
        host = urlsplit(url).netloc
        started = time.perf_counter()
        try:
            request = self._client.build_request(method, url, **kwargs)
            response = self._client.send(request, stream=True)
            try:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        break
            finally:
                response.close()
        except httpx2.TimeoutException:
            raise UnreachableError(f"no answer from {host} within {self._timeout:g} s") from None
        except httpx2.ConnectError as exc:
            text = _one_line(exc)
            if any(word in text.upper() for word in ("SSL", "TLS", "CERTIFICATE")):
                raise UnreachableError(f"TLS with {host} failed: {text}") from None
            raise UnreachableError(f"cannot connect to {host}: {text}") from None
        except httpx2.HTTPError as exc:
            raise UnreachableError(f"{host} did not answer HTTP properly: {_one_line(exc)}") from None
        ms = (time.perf_counter() - started) * 1000
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Reply(url, response.status_code, headers, body, ms)


@dataclass
class Loopback:
    """The doctor's listener on 127.0.0.1: its client metadata document and the sign-in callback."""

    port: int = 0
    document_path: str = "/client-metadata.json"
    callback_path: str = "/callback"
    document: dict[str, Any] = field(default_factory=dict)
    document_fetches: int = 0
    callbacks: queue.Queue[dict[str, str]] = field(default_factory=queue.Queue)
    base_url: str = ""

    @property
    def document_url(self) -> str:
        return self.base_url + self.document_path

    @property
    def redirect_uri(self) -> str:
        return self.base_url + self.callback_path

    @contextmanager
    def running(self) -> Iterator[Loopback]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                path, _, query = self.path.partition("?")
                if path == owner.document_path and owner.document:
                    owner.document_fetches += 1
                    self._answer(200, "application/json", json.dumps(owner.document))
                elif path == owner.callback_path:
                    owner.callbacks.put(dict(parse_qsl(query, keep_blank_values=True)))
                    page = (
                        "<!doctype html><title>tenantry doctor</title>"
                        "<p>tenantry doctor received the sign-in. You can close this tab.</p>"
                    )
                    self._answer(200, "text/html; charset=utf-8", page)
                else:
                    self._answer(404, "text/plain", "not found")

            def _answer(self, status: int, content_type: str, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass  # the doctor's report says what happened

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def wait_for_callback(self, timeout: float) -> dict[str, str] | None:
        try:
            return self.callbacks.get(timeout=timeout)
        except queue.Empty:
            return None
