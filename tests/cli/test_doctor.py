"""`tenantry doctor` against the local platform, healthy and deliberately broken.

The broken configurations are made by a test-only proxy between the doctor and
the session's local platform (an httpx2 transport): it rewrites the one
document, header or answer under test, as a misconfigured deployment would
serve it. Each case shows the doctor names the right step and the fix.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import httpx2
import pytest

from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.doctor import Check, DoctorOptions, DoctorReport, diagnose
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import Run

Edit = Callable[[httpx2.Request, httpx2.Response], httpx2.Response]


class Proxy(httpx2.BaseTransport):
    """Forwards to the real network; `answer` may short-circuit a request, `edit` may replace a response."""

    def __init__(
        self, edit: Edit | None = None, answer: Callable[[httpx2.Request], httpx2.Response | None] | None = None
    ) -> None:
        self._inner = httpx2.HTTPTransport()
        self._edit = edit
        self._answer = answer
        self.seen: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(f"{request.method} {request.url}")
        if self._answer is not None and (answered := self._answer(request)) is not None:
            return answered
        response = self._inner.handle_request(request)
        if self._edit is None:
            return response
        response.read()
        return self._edit(request, response)

    def close(self) -> None:
        self._inner.close()


def with_json(response: httpx2.Response, document: Any, status: int | None = None) -> httpx2.Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
    return httpx2.Response(status or response.status_code, headers=headers, json=document)


def on_path(path: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Edit:
    def edit(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if request.url.path == path and response.status_code == 200:
            return with_json(response, change(response.json()))
        return response

    return edit


def page_browser(user: str = "owner@ironworks.example", tenant: str = "ironworks-gym") -> Callable[[str], None]:
    """A person in a browser: opens the authorize URL, signs in on the dev page, allows on the consent page
    (picking the tenant if offered), and follows the redirect to the doctor's loopback callback."""

    def hidden(html: str) -> dict[str, str]:
        return {
            unescape(name): unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
        }

    def browse(url: str) -> None:
        with httpx2.Client(follow_redirects=False, timeout=15) as browser:
            to_sign_in = browser.get(url)
            assert to_sign_in.status_code == 302, to_sign_in.text
            origin = f"{to_sign_in.url.scheme}://{to_sign_in.url.netloc.decode()}"
            page = browser.get(to_sign_in.headers["location"])
            assert page.status_code == 200, page.text
            back = browser.post(origin + "/dev/sign-in", data=hidden(page.text) | {"email": user})
            assert back.status_code == 302, back.text
            consent = browser.get(back.headers["location"])
            assert consent.status_code == 200, consent.text
            form = hidden(consent.text) | {"decision": "allow"}
            if 'name="tenant"' in consent.text:
                form["tenant"] = tenant
            done = browser.post(origin + "/consent", data=form)
            assert done.status_code == 302, done.text
            browser.get(done.headers["location"])  # lands on the doctor's loopback callback

    return browse


def run(
    platform: LocalPlatform, proxy: Proxy | None = None, sign_in: bool = False, token: str | None = "fresh", **kw: Any
) -> DoctorReport:
    options = DoctorOptions(
        url=kw.pop("url", platform.mcp_url),
        token=fresh_token(platform) if token == "fresh" else token,
        sign_in=sign_in,
        sign_in_timeout=20,
        timeout=15,
        **kw,
    )
    return diagnose(options, browser=page_browser(), transport=proxy)


def fresh_token(platform: LocalPlatform, **kwargs: Any) -> str:
    """A token for a tenant of its own: the doctor's tool calls must not spend the demo tenants' rate limit."""
    tenant_id = f"doc-{uuid.uuid4().hex[:10]}"
    record = TenantRecord.model_validate(
        {"tenant_id": tenant_id, "slug": tenant_id, "display_name": "Doctor", "plan": "starter", "status": "active"}
    )
    platform.services.registry.put(record)
    return platform.token(tenant_id, **kwargs)


def first_failure(report: DoctorReport) -> Check:
    failures = [c for c in report.checks if c.status == "FAIL"]
    assert failures, [c.model_dump() for c in report.checks]
    assert not report.ok
    return failures[0]


def statuses(report: DoctorReport) -> dict[tuple[int, str], str]:
    return {(c.step, c.title): c.status for c in report.checks}


@pytest.fixture
def proxy_seen() -> Iterator[list[Proxy]]:
    made: list[Proxy] = []
    yield made
    for proxy in made:
        proxy.close()


# -- healthy ----------------------------------------------------------------------------------------
def test_local_server_passes_every_step_through_the_cli(tenantry: Callable[..., Run]) -> None:
    result = tenantry("doctor")  # the URL and a demo token from the local server's state
    assert result.code == 0, result.out + result.err
    assert "Traceback" not in result.out + result.err
    lines = [line.strip() for line in result.out.splitlines() if line.startswith("  ")]
    verdicts = {line.split()[0] for line in lines}
    assert verdicts == {"PASS", "SKIP", "WARN"}, result.out
    # The emulator's 401 is the deployed JWT authorizer's: no resource_metadata, as on AWS.
    warned = [line for line in lines if line.startswith("WARN")]
    assert len(warned) == 1 and warned[0].startswith("WARN  WWW-Authenticate: Bearer without resource_metadata")
    skipped = [line for line in lines if line.startswith("SKIP")]
    assert skipped == ["SKIP  sign-in: not requested (pass --sign-in to sign in through a browser)"]
    assert "cross-tenant refusal: X-Tenant-ID" in result.out
    assert result.out.rstrip().endswith("ready for ChatGPT")


def test_json_output_is_the_documented_shape(tenantry: Callable[..., Run], platform: LocalPlatform) -> None:
    result = tenantry("doctor", "--json", "--token", fresh_token(platform))
    assert result.code == 0, result.err
    report = result.json()
    assert set(report) == {"url", "ok", "checks", "first_call_ms", "total_ms"}
    assert report["ok"] is True and report["url"].endswith("/mcp")
    assert {c["step"] for c in report["checks"]} == set(range(1, 8))
    assert set(report["checks"][0]) == {"step", "title", "status", "detail", "expected", "got", "fix", "ms"}
    assert report["first_call_ms"] > 0


def test_interactive_sign_in_passes_every_step(platform: LocalPlatform) -> None:
    report = run(platform, sign_in=True, token=None)
    assert report.ok, [c.model_dump() for c in report.checks if c.status != "PASS"]
    found = statuses(report)
    # Only the warning a deployed stack also gets: its 401 cannot name the metadata.
    assert {key for key, status in found.items() if status != "PASS"} == {(1, "WWW-Authenticate")}
    for title in ("token iss and signature", "token aud", "token tenant", "token expiry", "token scope"):
        assert found[(5, title)] == "PASS"
    initialize = next(c for c in report.checks if c.title == "initialize")
    assert "token from the sign-in" in initialize.detail


# -- broken configurations, each named at its step ---------------------------------------------------
def test_wrong_resource_url_is_named_at_step_2(platform: LocalPlatform) -> None:
    def trailing_slash(doc: dict[str, Any]) -> dict[str, Any]:
        return doc | {"resource": doc["resource"] + "/"}

    edit = on_path("/.well-known/oauth-protected-resource/mcp", trailing_slash)
    failure = first_failure(run(platform, Proxy(on_path("/.well-known/oauth-protected-resource", trailing_slash))))
    assert (failure.step, failure.title) == (2, "resource")
    assert "trailing slash" in failure.detail
    assert failure.expected == platform.mcp_url and failure.got == platform.mcp_url + "/"
    assert failure.fix and "TENANTRY_RESOURCE_URL" in failure.fix
    # Served wrong on one path only: still named at step 2 (the pointer's document is read first).
    assert first_failure(run(platform, Proxy(edit))).step == 2


def test_missing_s256_is_named_at_step_3(platform: LocalPlatform) -> None:
    def plain_only(doc: dict[str, Any]) -> dict[str, Any]:
        return doc | {"code_challenge_methods_supported": ["plain"]}

    proxy = Proxy(on_path("/.well-known/oauth-authorization-server", plain_only))
    failure = first_failure(run(platform, proxy))
    assert (failure.step, failure.title) == (3, "PKCE")
    assert failure.got == '["plain"]' and failure.fix and "S256" in failure.fix


@pytest.mark.parametrize(
    ("served", "words"),
    [
        (None, "cannot read"),  # 404
        ({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "alg": "ES256"}]}, "RSA keys only"),
    ],
)
def test_unreadable_jwks_is_named_at_step_3(platform: LocalPlatform, served: Any, words: str) -> None:
    def edit(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if request.url.path != "/.well-known/jwks.json":
            return response
        return with_json(response, {"message": "Not Found"}, 404) if served is None else with_json(response, served)

    failure = first_failure(run(platform, Proxy(edit)))
    assert (failure.step, failure.title) == (3, "JWKS")
    assert words in failure.detail and failure.fix and "RSA" in failure.fix


def test_wrong_audience_is_named_at_sign_in_and_refused_at_step_6(platform: LocalPlatform) -> None:
    wrong = "https://another-stack.example.com/mcp"

    def edit(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if request.url.path == "/token" and response.status_code == 200:
            # The authorization server ignored `resource`: a token for another audience, validly signed.
            return with_json(response, response.json() | {"access_token": fresh_token(platform, extra={"aud": wrong})})
        return response

    report = run(platform, Proxy(edit), sign_in=True, token=None)
    failure = first_failure(report)
    assert (failure.step, failure.title) == (5, "token aud")
    assert failure.got == wrong and failure.fix and "resource" in failure.fix
    # Handed to the API anyway (--token), the authorizer refuses it and the doctor says why.
    report = run(platform, token=fresh_token(platform, extra={"aud": wrong}))
    failure = first_failure(report)
    assert (failure.step, failure.title) == (6, "initialize")
    assert failure.got and failure.got.startswith("401") and "audience" in failure.got
    assert failure.fix and "aud" in failure.fix


def test_host_check_answering_421_is_named_at_step_6(platform: LocalPlatform) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response | None:
        # The SDK's DNS-rebinding protection runs in the function, after the authorizer: only tokened calls.
        if request.url.path == "/mcp" and "authorization" in request.headers:
            return httpx2.Response(421, text="Invalid Host header")
        return None

    failure = first_failure(run(platform, Proxy(answer=answer)))
    assert (failure.step, failure.title) == (6, "initialize")
    assert failure.got == "421 Invalid Host header"
    assert failure.fix and "DNS-rebinding" in failure.fix


def test_a_header_that_names_another_tenant_must_be_refused(platform: LocalPlatform) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response | None:
        if "x-tenant-id" in request.headers:
            # A gateway that ignored the header would serve the call: replay it without the header.
            del request.headers["x-tenant-id"]
        return None

    failure = first_failure(run(platform, Proxy(answer=answer)))
    assert (failure.step, failure.title) == (6, "cross-tenant refusal")
    assert failure.expected == "403" and failure.got and failure.got.startswith("200")


def test_401_without_resource_metadata_is_a_warning_not_a_failure(platform: LocalPlatform) -> None:
    def edit(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if response.status_code == 401:
            # What the deployed HTTP API JWT authorizer answers: no resource_metadata.
            headers = dict(response.headers) | {"www-authenticate": 'Bearer scope="" error="invalid_token"'}
            return httpx2.Response(401, headers=headers, content=response.content)
        return response

    report = run(platform, Proxy(edit))
    assert report.ok, [c.model_dump() for c in report.checks if c.status == "FAIL"]
    assert statuses(report)[(1, "WWW-Authenticate")] == "WARN"


def test_only_the_origin_and_its_authorization_server_are_contacted(platform: LocalPlatform) -> None:
    elsewhere = "http://198.51.100.7/.well-known/oauth-protected-resource/mcp"

    def edit(request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        if response.status_code == 401:
            headers = dict(response.headers) | {"www-authenticate": f'Bearer resource_metadata="{elsewhere}"'}
            return httpx2.Response(401, headers=headers, content=response.content)
        return response

    proxy = Proxy(edit)
    report = run(platform, proxy)
    pointer = next(c for c in report.checks if c.title == "resource_metadata pointer")
    assert pointer.status == "FAIL" and pointer.got and pointer.got.startswith("not contacted")
    assert not any("198.51.100.7" in seen for seen in proxy.seen)
    origin = platform.base_url
    assert all(seen.split(" ", 1)[1].startswith((origin, "http://127.0.0.1:")) for seen in proxy.seen)


# -- bad input: one clear line, never a traceback -----------------------------------------------------
def _fail_lines(result: Run) -> list[str]:
    return [line for line in result.out.splitlines() if line.strip().startswith("FAIL")]


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("http://127.0.0.1:9/mcp", "cannot connect to 127.0.0.1:9"),
        ("{base}/not-mcp", "not an MCP URL"),
        ("{tls}/mcp", "TLS with"),
    ],
)
def test_unreachable_non_mcp_and_tls_failures_are_one_line(
    tenantry: Callable[..., Run], platform: LocalPlatform, target: str, words: str
) -> None:
    url = target.format(base=platform.base_url, tls=platform.base_url.replace("http://", "https://"))
    result = tenantry("doctor", url, "--timeout", "5")
    assert result.code == 1
    assert "Traceback" not in result.out + result.err
    failures = _fail_lines(result)
    assert len(failures) == 1 and words in failures[0], result.out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["ftp://example.com/mcp"], "is not an http(s) URL"),
        (["https://example.com/mcp", "--stack", "s"], "not both"),
        (["https://example.com/mcp", "--timeout", "0"], "timeout"),
    ],
)
def test_bad_arguments_are_one_line(tenantry: Callable[..., Run], argv: list[str], words: str) -> None:
    result = tenantry("doctor", *argv)
    assert result.code == 2 and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tenantry: ") and words in lines[0], result.err


def test_no_url_and_no_local_server_is_one_line(tenantry: Callable[..., Run], tmp_path: Any) -> None:
    result = tenantry("doctor", state=tmp_path)
    assert result.code == 2
    assert "no local server state" in result.err and len(result.err.strip().splitlines()) == 1


def test_json_report_of_a_failure_names_expected_got_and_fix(tenantry: Callable[..., Run]) -> None:
    result = tenantry("doctor", "http://127.0.0.1:9/mcp", "--json", "--timeout", "5")
    assert result.code == 1
    report = json.loads(result.out)
    failure = next(c for c in report["checks"] if c["status"] == "FAIL")
    assert failure["step"] == 1 and failure["expected"] and failure["fix"]


class _Lambda:
    """GetAccountSettings and GetFunctionConcurrency answers, as botocore returns them."""

    def __init__(self, quota: int, reserved: dict[str, int]) -> None:
        self.quota, self.reserved = quota, reserved
        self.calls: list[str] = []

    def get_account_settings(self) -> dict[str, Any]:
        self.calls.append("GetAccountSettings")
        unreserved = self.quota - sum(self.reserved.values())
        return {"AccountLimit": {"ConcurrentExecutions": self.quota, "UnreservedConcurrentExecutions": unreserved}}

    def get_function_concurrency(self, FunctionName: str) -> dict[str, Any]:
        self.calls.append(f"GetFunctionConcurrency {FunctionName}")
        value = self.reserved.get(FunctionName)
        return {"ReservedConcurrentExecutions": value} if value else {}


OUTPUTS = {"McpUrl": "https://x/mcp", "FunctionName": "mcp-fn", "AuthorizationServerFunctionName": "auth-fn"}


def test_the_doctor_warns_when_the_concurrency_quota_cannot_hold_the_reservations() -> None:
    from tenantry_admin.doctor.account import concurrency

    # A new account's quota of 10 cannot hold the authorization server's 20 plus Lambda's 100 unreserved.
    low = concurrency(_Lambda(10, {"auth-fn": 20}), OUTPUTS)
    assert low.status == "WARN" and low.step == 8
    assert "authorization server 20" in low.detail and low.got == "10"
    assert low.expected and "120" in low.expected and low.fix and "auth_reserved_concurrency=0" in low.fix
    fits = _Lambda(1000, {"auth-fn": 20, "mcp-fn": 50})
    ok = concurrency(fits, OUTPUTS)
    assert ok.status == "PASS" and "MCP function 50" in ok.detail and "unreserved 930" in ok.detail
    # Exactly what the operator policy allows: the quota, and each function the outputs name.
    assert fits.calls == ["GetAccountSettings", "GetFunctionConcurrency mcp-fn", "GetFunctionConcurrency auth-fn"]
    # No reservation at all never warns, whatever the quota.
    assert concurrency(_Lambda(10, {}), OUTPUTS).status == "PASS"
