"""`tenantry members add|remove|list` against the local server, and what they do to sign-ins.

Removing a membership or suspending a tenant revokes the refresh tokens of its sign-ins;
independently, every refresh re-reads the membership and the tenant's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import Run
from tests.oauth.conftest import Browser, Flow


def _new_user() -> str:
    return f"Person-{uuid.uuid4().hex[:8]}@Example.com"


def _signed_in(platform: LocalPlatform, user: str, tenant: str) -> tuple[Flow, dict[str, Any]]:
    browser = Browser(platform)
    http = httpx.Client(base_url=platform.base_url, follow_redirects=False, timeout=15)
    flow = Flow(http, platform, browser)
    flow.register()
    code = flow.code(user, tenant)
    tokens = flow.redeem(code)
    assert tokens.status_code == 200, tokens.text
    return flow, tokens.json()


def test_add_list_and_remove_a_membership(tenantry: Callable[..., Run], new_tenant: Any) -> None:
    tenant = new_tenant()
    user = _new_user()
    added = tenantry("members", "add", "--tenant", tenant.tenant_id, "--user", user)
    assert added.code == 0, added.err
    assert f"{user.lower()} is now a member of {tenant.tenant_id}" in added.out
    assert "was already" in tenantry("members", "add", "--tenant", tenant.tenant_id, "--user", user).out
    assert tenantry("members", "list", "--tenant", tenant.tenant_id, "--json").json()["members"] == [user.lower()]
    assert tenantry("members", "list", "--user", user).out.strip() == tenant.tenant_id
    removed = tenantry("members", "remove", "--tenant", tenant.tenant_id, "--user", user)
    assert removed.code == 0 and "Removed" in removed.out
    assert "(no members" in tenantry("members", "list", "--tenant", tenant.tenant_id).out


def test_adding_a_member_to_an_unknown_tenant_is_refused(tenantry: Callable[..., Run]) -> None:
    result = tenantry("members", "add", "--tenant", "no-such-tenant", "--user", _new_user())
    assert result.code == 2 and "no-such-tenant" in result.err


def test_removing_a_membership_ends_the_sign_in(tenantry: Callable[..., Run], platform: LocalPlatform) -> None:
    # accountant@books.example is a demo user of three tenants; give it a fresh one and take it away.
    tenant = "lotus-yoga"
    flow, tokens = _signed_in(platform, "accountant@books.example", tenant)
    try:
        assert tenantry("members", "remove", "--tenant", tenant, "--user", "accountant@books.example").code == 0
        refused = flow.refresh(tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    finally:
        assert tenantry("members", "add", "--tenant", tenant, "--user", "accountant@books.example").code == 0


def test_a_refresh_re_checks_the_membership_even_without_revocation(platform: LocalPlatform) -> None:
    assert platform.oauth is not None
    flow, tokens = _signed_in(platform, "accountant@books.example", "summit-climbing")
    members = platform.oauth.members
    members.remove("accountant@books.example", "summit-climbing")  # straight in the table: no revocation
    try:
        refused = flow.refresh(tokens["refresh_token"])
        assert refused.status_code == 400 and "no longer a member" in refused.json()["error_description"]
    finally:
        members.add("accountant@books.example", "summit-climbing", added_by="test")


def test_suspending_a_tenant_revokes_its_sign_ins(
    tenantry: Callable[..., Run], platform: LocalPlatform, new_tenant: Any
) -> None:
    assert platform.oauth is not None
    tenant = new_tenant()
    platform.oauth.members.add("owner@lotus.example", tenant.tenant_id, added_by="test")
    flow, tokens = _signed_in(platform, "owner@lotus.example", tenant.tenant_id)
    suspended = tenantry("tenants", "suspend", tenant.tenant_id)
    assert suspended.code == 0 and "Revoked 1 sign-in(s)" in suspended.out
    assert tenantry("tenants", "resume", tenant.tenant_id).code == 0
    # Resuming does not bring the sign-in back: the grant stays revoked.
    refused = flow.refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
