"""HTTP request <-> API Gateway HTTP API payload format 2.0 (the Lambda side of it)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

__all__ = ["ACCOUNT_ID", "API_ID", "LambdaResponse", "build_event", "parse_response"]

ACCOUNT_ID = "000000000000"
API_ID = "local"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")


def _is_text(content_type: str) -> bool:
    content_type = content_type.lower()
    return any(marker in content_type for marker in _TEXT_TYPES)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_event(
    *,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    route_key: str,
    claims: dict[str, str] | None,
    scopes: list[str] | None = None,
    raw_path: str | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event. `path` is what the function routes on (requestContext.http.path);
    `raw_path`, when given, is rawPath (they differ only where a parameter mapping rewrote one)."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    host = merged.get("host", "127.0.0.1")
    domain = host.split(":", 1)[0]
    params: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        # API Gateway hands the function decoded names and values (rawQueryString stays as sent);
        # `+` is left alone: it is a space only in form bodies.
        key, _, value = (unquote(part) for part in pair.partition("="))
        params[key] = f"{params[key]},{value}" if key in params else value
    now = time.time()
    # HTTP APIs pass a text body as a JSON string, so it must be UTF-8; a body that is not is
    # delivered base64-encoded like a binary one (docs/upstream-notes.md), never mangled.
    is_text = (_is_text(merged.get("content-type", "")) and _is_utf8(body)) or not body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path if raw_path is None else raw_path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": route_key,
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": scopes}}
    if body:
        event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii")
    return event


class LambdaResponse:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def parse_response(result: dict[str, Any]) -> LambdaResponse:
    """Turn a payload-2.0 Lambda result into the HTTP response API Gateway would send."""
    body_text = result.get("body") or ""
    body = base64.b64decode(body_text) if result.get("isBase64Encoded") else body_text.encode("utf-8")
    headers = [(k.lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers = [(k, v) for k, v in headers if k not in ("content-length", "connection", "transfer-encoding")]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name.lower(), str(v)) for v in values)
    headers.extend(("set-cookie", cookie) for cookie in result.get("cookies") or [])
    return LambdaResponse(int(result.get("statusCode", 200)), headers, body)
