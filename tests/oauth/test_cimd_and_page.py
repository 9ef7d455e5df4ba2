"""Client ID Metadata Documents served on loopback, and the sign-in page driven like a browser."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest

from tenantry_local.oauth import AuthorizationServer
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import REDIRECT_URI, Flow, query_of


class DocumentServer:
    """Serves client metadata documents on 127.0.0.1 (the only place the local server fetches from)."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b"{}"
                self.send_response(200 if document is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, path: str, **fields: Any) -> str:
        url = self.base + path
        self.documents[path] = {"client_id": url, "client_name": "CIMD test", "redirect_uris": [REDIRECT_URI]} | fields
        return url


@pytest.fixture(scope="module")
def documents() -> Iterator[DocumentServer]:
    served = DocumentServer()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()


def test_a_metadata_document_client_signs_in_without_registering(
    flow: Flow, documents: DocumentServer, oauth: AuthorizationServer
) -> None:
    before = len(oauth.clients)
    flow.client_id = documents.publish("/clients/good.json")
    code = flow.code(login_hint="owner@summit")
    tokens = flow.redeem(code).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == flow.client_id
    assert claims["tenant_id"] == "summit-climbing"
    assert len(oauth.clients) == before  # nothing registered


@pytest.mark.parametrize(
    ("path", "fields", "reason"),
    [
        ("/clients/other-id.json", {"client_id": "http://127.0.0.1:1/elsewhere.json"}, "must equal the URL"),
        ("/clients/secret.json", {"client_secret": "s3cret"}, "client secret"),
        ("/clients/confidential.json", {"token_endpoint_auth_method": "client_secret_basic"}, "public clients"),
        ("/clients/bad-redirect.json", {"redirect_uris": ["https://evil.example.com/cb"]}, "not allowed"),
    ],
)
def test_a_bad_metadata_document_is_invalid_client_on_a_page(
    flow: Flow, documents: DocumentServer, path: str, fields: dict[str, Any], reason: str
) -> None:
    flow.client_id = documents.publish(path, **fields)
    response = flow.http.get("/authorize", params=flow.authorize_params())
    assert response.status_code == 400 and "location" not in response.headers
    assert "<code>invalid_client</code>" in response.text and reason in response.text


def test_a_missing_document_and_an_external_url_are_invalid_client(flow: Flow, documents: DocumentServer) -> None:
    for client_id in (documents.base + "/clients/absent.json", "https://clients.example.com/chatgpt.json"):
        flow.client_id = client_id
        response = flow.http.get("/authorize", params=flow.authorize_params())
        assert response.status_code == 400 and "<code>invalid_client</code>" in response.text


def test_a_redirect_uri_the_document_does_not_list_gets_no_redirect(flow: Flow, documents: DocumentServer) -> None:
    flow.client_id = documents.publish("/clients/listed.json")
    response = flow.http.get("/authorize", params=flow.authorize_params(redirect_uri="http://127.0.0.1:9/other"))
    assert response.status_code == 400 and "location" not in response.headers


# --- The page, as a person would use it --------------------------------------------------


def _page(http: httpx.Client, flow: Flow) -> tuple[dict[str, str], list[str]]:
    response = http.get("/authorize", params=flow.authorize_params(login_hint=None))
    assert response.status_code == 200, response.text
    assert response.headers["x-frame-options"] == "DENY"
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text))
    choices = re.findall(r'<button name="decision" value="([^"]*)">', response.text)
    return hidden, choices


def test_the_page_offers_each_membership_and_issues_a_code_for_the_one_picked(
    http: httpx.Client, platform: LocalPlatform, oauth: AuthorizationServer
) -> None:
    flow = Flow(http, platform)
    flow.register()
    hidden, choices = _page(http, flow)
    assert {"accountant@books|ironworks-gym", "accountant@books|lotus-yoga", "accountant@books|summit-climbing"} <= set(
        choices
    )
    assert "visitor@nowhere|" in choices and "deny" in choices
    picked = http.post("/authorize", data=hidden | {"decision": "accountant@books|lotus-yoga"})
    assert picked.status_code == 302
    query = query_of(picked.headers["location"])
    assert query["state"] == hidden["state"] and query["iss"] == platform.base_url
    tokens = flow.redeem(query["code"]).json()
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["tenant_id"] == "lotus-yoga"


@pytest.mark.parametrize(
    "decision", ["visitor@nowhere|", "deny", "owner@ironworks|lotus-yoga", "nobody@example.com|ironworks-gym"]
)
def test_no_membership_denial_or_a_forged_choice_is_access_denied(
    http: httpx.Client, platform: LocalPlatform, decision: str
) -> None:
    flow = Flow(http, platform)
    flow.register()
    hidden, _ = _page(http, flow)
    response = http.post("/authorize", data=hidden | {"decision": decision})
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied" and "code" not in query


def test_a_tampered_form_is_validated_again(http: httpx.Client, platform: LocalPlatform) -> None:
    flow = Flow(http, platform)
    flow.register()
    hidden, _ = _page(http, flow)
    tampered = hidden | {"redirect_uri": "https://evil.example.com/steal", "decision": "owner@ironworks|ironworks-gym"}
    response = http.post("/authorize", data=tampered)
    assert response.status_code == 400 and "location" not in response.headers


def test_auto_approval_is_off_unless_a_test_turns_it_on(http: httpx.Client, platform: LocalPlatform) -> None:
    flow = Flow(http, platform)
    flow.register()
    response = http.get("/authorize", params=flow.authorize_params(login_hint="owner@ironworks"))
    assert response.status_code == 200 and "<form" in response.text
