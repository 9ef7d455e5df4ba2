from __future__ import annotations

import base64

from tenantry_local.apigw import build_event, parse_response
from tenantry_local.authorizer import render_claims


def test_event_has_the_payload_v2_shape() -> None:
    event = build_event(
        method="POST",
        path="/mcp",
        query="a=1&a=2",
        headers=[
            ("Host", "acme.localhost:8787"),
            ("Content-Type", "application/json"),
            ("Cookie", "x=1; y=2"),
            ("X-Multi", "1"),
            ("x-multi", "2"),
        ],
        body=b'{"jsonrpc":"2.0"}',
        source_ip="127.0.0.9",
        route_key="POST /mcp",
        claims={"tenant_id": "acme"},
    )
    assert event["version"] == "2.0" and event["routeKey"] == "POST /mcp"
    assert event["headers"]["x-multi"] == "1,2" and "cookie" not in event["headers"]
    assert event["cookies"] == ["x=1", "y=2"]
    assert event["queryStringParameters"] == {"a": "1,2"}
    context = event["requestContext"]
    assert context["authorizer"]["jwt"]["claims"] == {"tenant_id": "acme"}
    assert context["domainName"] == "acme.localhost" and context["domainPrefix"] == "acme"
    assert context["stage"] == "$default" and context["http"]["sourceIp"] == "127.0.0.9"
    assert event["body"] == '{"jsonrpc":"2.0"}' and event["isBase64Encoded"] is False


def test_binary_bodies_are_base64_and_unauthenticated_routes_have_no_authorizer() -> None:
    event = build_event(
        method="GET",
        path="/x",
        query="",
        headers=[("content-type", "application/octet-stream")],
        body=b"\x00\x01",
        source_ip="127.0.0.1",
        route_key="GET /x",
        claims=None,
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\x01"
    assert "authorizer" not in event["requestContext"]


def test_claims_reach_the_function_as_strings() -> None:
    assert render_claims({"exp": 5, "admin": True, "groups": ["a", "b"]}) == {
        "exp": "5",
        "admin": "true",
        "groups": "[a b]",
    }


def test_claims_are_rendered_as_aws_renders_them_not_as_python_reprs() -> None:
    rendered = render_claims({"exp": 1.7e9, "org": {"b": 2, "a": "x"}, "none": None, "ok": False})
    assert rendered == {"exp": "1700000000", "org": "map[a:x b:2]", "none": "", "ok": "false"}


def test_query_parameters_are_decoded_and_the_raw_query_kept() -> None:
    event = build_event(
        method="GET",
        path="/x",
        query="redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&a%20b=1&a%20b=2&plus=a+b",
        headers=[],
        body=b"",
        source_ip="127.0.0.1",
        route_key="GET /x",
        claims=None,
    )
    assert event["queryStringParameters"] == {"redirect_uri": "http://127.0.0.1/cb", "a b": "1,2", "plus": "a+b"}
    assert event["rawQueryString"] == "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&a%20b=1&a%20b=2&plus=a+b"


def test_response_mapping() -> None:
    response = parse_response(
        {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": "{}", "cookies": ["c=1"]}
    )
    assert response.status == 201 and response.body == b"{}"
    assert ("content-type", "application/json") in response.headers and ("set-cookie", "c=1") in response.headers
