"""What the authorization server promises to check again, not only at sign-in.

Consent (server.py, step 3) takes a CSRF token that must equal the one on this sign-in's page, and
a tenant among the user's memberships *read again* of a tenant that is active *now*. A refresh
re-reads the tenant's status (whatever revoked or did not revoke the grant) and may only narrow the
scope. Each test changes the world between two steps of one sign-in, as an operator or an attacker
would, without going through the CLI (which also revokes grants and would hide a missing check).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tenantry.oauth.server import AuthorizationServer
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.platform import LocalPlatform
from tests.oauth.conftest import Browser, Flow, hidden_fields, query_of


@pytest.fixture
def member_tenant(oauth: AuthorizationServer, new_tenant: Any) -> Iterator[TenantRecord]:
    """A fresh tenant whose only member is owner@lotus.example (which then has two tenants to pick from)."""
    tenant: TenantRecord = new_tenant()
    oauth.members.add("owner@lotus.example", tenant.tenant_id, added_by="test")
    yield tenant
    oauth.members.remove("owner@lotus.example", tenant.tenant_id)


def _set_status(platform: LocalPlatform, tenant: TenantRecord, status: str) -> None:
    record = platform.services.registry.load(tenant.tenant_id)
    assert record is not None
    # Straight in the registry: no grant is revoked, as when an operator edits the table.
    platform.services.registry.put(record.model_copy(update={"status": status}))


def _consent_page(flow: Flow, browser: Browser, tenant: TenantRecord) -> httpx.Response:
    page = browser.sign_in(flow.authorize_url(), "owner@lotus.example")
    assert page.status_code == 200, page.text
    assert tenant.tenant_id in page.text  # offered on the page: the check that refuses is the later one
    return page


def _no_code(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = query_of(response.headers["location"])
    assert "code" not in query, query
    return query["error"] + ": " + query.get("error_description", "")


def test_consent_with_a_wrong_csrf_value_is_refused_and_issues_no_code(flow: Flow, browser: Browser) -> None:
    page = browser.sign_in(flow.authorize_url(), "owner@ironworks.example")
    form = hidden_fields(page.text) | {"decision": "allow"}
    # Same browser (the session cookie rides along), a CSRF value of the right shape that is not this page's.
    forged = form | {"csrf": secrets.token_urlsafe(24)}
    assert forged["csrf"] != form["csrf"]
    refused = browser.http.post("/consent", data=forged)
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "stale" in refused.text


def test_a_membership_removed_while_the_consent_page_is_open_is_refused(
    flow: Flow, browser: Browser, oauth: AuthorizationServer, member_tenant: TenantRecord
) -> None:
    page = _consent_page(flow, browser, member_tenant)
    oauth.members.remove("owner@lotus.example", member_tenant.tenant_id)
    assert _no_code(browser.consent(page, tenant=member_tenant.tenant_id)) == (
        "access_denied: you are not a member of the tenant you picked"
    )


def test_a_tenant_suspended_while_the_consent_page_is_open_is_refused(
    flow: Flow, browser: Browser, platform: LocalPlatform, member_tenant: TenantRecord
) -> None:
    page = _consent_page(flow, browser, member_tenant)
    _set_status(platform, member_tenant, "suspended")
    assert _no_code(browser.consent(page, tenant=member_tenant.tenant_id)) == (
        f"access_denied: tenant '{member_tenant.tenant_id}' is not active"
    )


def test_a_suspended_tenant_is_not_offered_on_the_consent_page(
    flow: Flow, browser: Browser, platform: LocalPlatform, member_tenant: TenantRecord
) -> None:
    _set_status(platform, member_tenant, "suspended")
    page = browser.sign_in(flow.authorize_url(), "owner@lotus.example")
    assert page.status_code == 200, page.text
    assert member_tenant.tenant_id not in page.text  # the member's other, active tenant is still offered
    _set_status(platform, member_tenant, "active")
    assert member_tenant.tenant_id in browser.sign_in(flow.authorize_url(), "owner@lotus.example").text


def test_a_tenant_suspended_between_two_refreshes_ends_the_sign_in(
    flow: Flow, platform: LocalPlatform, member_tenant: TenantRecord
) -> None:
    tokens = flow.redeem(flow.code("owner@lotus.example", member_tenant.tenant_id))
    assert tokens.status_code == 200, tokens.text
    first = flow.refresh(tokens.json()["refresh_token"])
    assert first.status_code == 200, first.text
    _set_status(platform, member_tenant, "suspended")
    refused = flow.refresh(first.json()["refresh_token"])
    assert refused.status_code == 400, refused.text
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": f"tenant '{member_tenant.tenant_id}' is not active; sign in again",
    }
    # The sign-in is over, not paused: resuming the tenant does not bring it back.
    _set_status(platform, member_tenant, "active")
    assert flow.refresh(first.json()["refresh_token"]).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("wider", ["mcp:tools mcp:admin", "mcp:admin", "openid mcp:tools"])
def test_a_refresh_cannot_widen_the_granted_scope(flow: Flow, wider: str) -> None:
    tokens = flow.redeem(flow.code())
    assert tokens.status_code == 200 and tokens.json()["scope"] == "mcp:tools", tokens.text
    refused = flow.refresh(tokens.json()["refresh_token"], scope=wider)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_scope"
    # Refused before the token was spent: the same refresh token still works for the granted scope.
    kept = flow.refresh(tokens.json()["refresh_token"], scope="mcp:tools")
    assert kept.status_code == 200 and kept.json()["scope"] == "mcp:tools", kept.text
