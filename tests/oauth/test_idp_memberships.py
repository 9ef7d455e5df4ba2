"""Memberships from the identity provider (TENANTRY_OIDC_TENANTS_CLAIM), end to end over HTTP.

Every sign-in goes /authorize -> the upstream provider -> /callback -> consent -> /token, through
the IdentityProvider interface: the dev sign-in page (whose users carry the claim as an ID
token's verified claims would), or the real OidcProvider against a small OIDC provider on
127.0.0.1 that signs, or forges, the ID token (tests/oauth/oidc_server.py).

In claim mode the claim alone decides, intersected with the registry's active tenants: the
members table is not read. The members table stays the default (tests/oauth/test_rechecks.py
and the rest of tests/oauth run in that mode); the last tests here check the claim is ignored then.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from tenantry.oauth.claim_tenants import MAX_VALUES, TenantsClaim
from tenantry.oauth.server import AuthorizationServer
from tenantry.oauth.upstream import OidcProvider
from tenantry.tenancy.registry import TenantRecord
from tenantry_local.platform import LocalPlatform
from tenantry_local.signin import DemoUser, DevIdentityProvider
from tests.oauth.conftest import REDIRECT_URI, Browser, Flow, hidden_fields, query_of, tenant_options
from tests.oauth.oidc_server import CLIENT_ID, CLIENT_SECRET, FORGERIES, OidcTestProvider

CLAIM = "custom:tenants"


@pytest.fixture
def claim_mode(oauth: AuthorizationServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Switch the running authorization server to claim mode (as TENANTRY_OIDC_TENANTS_* would), for one test."""

    def switch(name: str = CLAIM, prefix: str = "") -> None:
        monkeypatch.setattr(oauth, "tenants_claim", TenantsClaim(name, prefix))

    switch()
    return switch


@pytest.fixture
def idp_user(oauth: AuthorizationServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """A dev sign-in user of this test whose ID token carries `claims`; their email (a member of nothing)."""
    provider = oauth.upstream
    assert isinstance(provider, DevIdentityProvider)

    def add(**claims: Any) -> str:
        email = f"user-{secrets.token_hex(4)}@idp.example"
        monkeypatch.setitem(provider.users, email, DemoUser(email, "IdP User", (), claims))
        return email

    return add


def _claims(name: str, value: Any) -> dict[str, Any]:
    return {name: value}


def offered(page: httpx.Response) -> list[str]:
    """The tenants the consent page offers (radio buttons, or the one hidden field)."""
    assert page.status_code == 200, page.text
    return tenant_options(page.text) or [hidden_fields(page.text)["tenant"]]


def denied(response: httpx.Response) -> str:
    """The access_denied redirect back to the client, as for a user of no membership today."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = query_of(location)
    assert "code" not in query, query
    return query["error"] + ": " + query.get("error_description", "")


def tenant_of(flow: Flow, tokens: httpx.Response) -> str:
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    return str(claims["tenant_id"])


def _set_status(platform: LocalPlatform, tenant: TenantRecord, status: str) -> None:
    record = platform.services.registry.load(tenant.tenant_id)
    assert record is not None
    platform.services.registry.put(record.model_copy(update={"status": status}))


# --- Claim mode through the dev sign-in page -------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "ironworks-gym,lotus-yoga",  # Cognito custom attribute: comma separated
        "ironworks-gym lotus-yoga",  # or space separated
        " ironworks-gym , lotus-yoga ,lotus-yoga",  # spaces around, a repeat
        ["ironworks-gym", "lotus-yoga"],  # a list (an Auth0 Action's claim)
    ],
)
def test_the_claim_names_the_tenants_offered_and_the_token_carries_the_one_picked(
    flow: Flow, browser: Browser, claim_mode: Any, idp_user: Callable[..., str], value: Any
) -> None:
    user = idp_user(**_claims(CLAIM, value))
    page = browser.sign_in(flow.authorize_url(), user)
    assert offered(page) == ["ironworks-gym", "lotus-yoga"]
    location = browser.consent(page, tenant="lotus-yoga").headers["location"]
    assert tenant_of(flow, flow.redeem(query_of(location)["code"])) == "lotus-yoga"


def test_an_auth0_organization_id_names_one_tenant(
    flow: Flow, browser: Browser, claim_mode: Any, idp_user: Callable[..., str]
) -> None:
    claim_mode("org_id")
    user = idp_user(org_id="summit-climbing")
    page = browser.sign_in(flow.authorize_url(), user)
    assert offered(page) == ["summit-climbing"]
    location = browser.consent(page).headers["location"]
    assert tenant_of(flow, flow.redeem(query_of(location)["code"])) == "summit-climbing"


def test_the_members_table_is_not_read_in_claim_mode(
    flow: Flow, browser: Browser, oauth: AuthorizationServer, claim_mode: Any, idp_user: Callable[..., str]
) -> None:
    # A member of ironworks-gym in the table, whose IdP says lotus-yoga: the claim alone decides.
    user = idp_user(**_claims(CLAIM, "lotus-yoga"))
    oauth.members.add(user, "ironworks-gym", added_by="test")
    try:
        assert offered(browser.sign_in(flow.authorize_url(), user)) == ["lotus-yoga"]
        # And a member in the table whose ID token has no claim is a member of nothing.
        assert denied(browser.sign_in(flow.authorize_url(), "owner@ironworks.example")) == (
            "access_denied: owner@ironworks.example is not a member of any tenant; ask your administrator"
        )
    finally:
        oauth.members.remove(user, "ironworks-gym")


def test_a_claim_naming_tenant_a_never_gets_a_code_for_tenant_b(
    flow: Flow, browser: Browser, claim_mode: Any, idp_user: Callable[..., str]
) -> None:
    user = idp_user(**_claims(CLAIM, "ironworks-gym"))
    page = browser.sign_in(flow.authorize_url(), user)
    assert offered(page) == ["ironworks-gym"]
    # The form edited to name another tenant: refused, whatever the table or registry say of it.
    assert denied(browser.consent(page, tenant="lotus-yoga")) == (
        "access_denied: you are not a member of the tenant you picked"
    )


def test_unknown_and_inactive_tenants_in_the_claim_are_dropped_and_logged(
    flow: Flow,
    browser: Browser,
    platform: LocalPlatform,
    claim_mode: Any,
    idp_user: Callable[..., str],
    new_tenant: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    suspended: TenantRecord = new_tenant()
    _set_status(platform, suspended, "suspended")
    offboarded: TenantRecord = new_tenant()
    _set_status(platform, offboarded, "offboarded")
    claim = f"no-such-tenant {suspended.tenant_id} {offboarded.tenant_id} lotus-yoga NOT_AN_ID"
    user = idp_user(**_claims(CLAIM, claim))
    with caplog.at_level("WARNING", logger="tenantry.oauth.server"):
        page = browser.sign_in(flow.authorize_url(), user)
    assert offered(page) == ["lotus-yoga"]
    # The user sees nothing of it; the operator's log says what was dropped and why.
    for hidden in ("no-such-tenant", suspended.tenant_id, offboarded.tenant_id):
        assert hidden not in page.text
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "'no-such-tenant' is not a registered tenant" in logged
    assert f"tenant '{suspended.tenant_id}' is suspended" in logged
    assert f"tenant '{offboarded.tenant_id}' is offboarded" in logged
    assert "'NOT_AN_ID' is not a tenant id" in logged


def test_a_claim_naming_only_a_suspended_tenant_is_refused(
    flow: Flow,
    browser: Browser,
    platform: LocalPlatform,
    claim_mode: Any,
    idp_user: Callable[..., str],
    new_tenant: Any,
) -> None:
    suspended: TenantRecord = new_tenant()
    _set_status(platform, suspended, "suspended")
    user = idp_user(**_claims(CLAIM, suspended.tenant_id))
    assert denied(browser.sign_in(flow.authorize_url(), user)) == (
        f"access_denied: {user} is not a member of any tenant; ask your administrator"
    )


def test_with_a_prefix_only_prefixed_values_count_and_the_prefix_is_stripped(
    flow: Flow, browser: Browser, claim_mode: Any, idp_user: Callable[..., str]
) -> None:
    claim_mode("groups", "tenantry-")
    groups = [
        "Everyone",
        "ironworks-gym",  # a tenant id without the prefix: another application's group
        "otherapp-summit-climbing",  # another application's prefix
        "tenantry-lotus-yoga",
        "tenantry-tenantry-ironworks-gym",  # stripped once: names "tenantry-ironworks-gym", no tenant
    ]
    user = idp_user(groups=groups)
    assert offered(browser.sign_in(flow.authorize_url(), user)) == ["lotus-yoga"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  , ",
        [],
        42,
        True,
        {"tenant": "ironworks-gym"},
        ["ironworks-gym", 7],  # one non-string spoils the list
        [["ironworks-gym"]],
        ["lotus-yoga"] * (MAX_VALUES + 1),  # too many values
        " ".join(["lotus-yoga"] * (MAX_VALUES + 1)),
        "lotus-yoga " + "x" * 5000,  # too long
        "Ironworks-Gym",  # not the shape of an id (ids are lower case)
        "ironworks-gym;lotus-yoga",  # not a separator
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_malformed_or_empty_claim_gets_the_no_membership_answer(
    flow: Flow, browser: Browser, claim_mode: Any, idp_user: Callable[..., str], value: Any
) -> None:
    user = idp_user(**_claims(CLAIM, value))
    assert denied(browser.sign_in(flow.authorize_url(), user)) == (
        f"access_denied: {user} is not a member of any tenant; ask your administrator"
    )


# --- Rechecks in claim mode --------------------------------------------------------------------------


def test_a_tenant_suspended_while_the_consent_page_is_open_is_refused_in_claim_mode(
    flow: Flow,
    browser: Browser,
    platform: LocalPlatform,
    claim_mode: Any,
    idp_user: Callable[..., str],
    new_tenant: Any,
) -> None:
    tenant: TenantRecord = new_tenant()
    page = browser.sign_in(flow.authorize_url(), idp_user(**_claims(CLAIM, tenant.tenant_id)))
    assert offered(page) == [tenant.tenant_id]
    _set_status(platform, tenant, "suspended")
    assert denied(browser.consent(page)) == f"access_denied: tenant '{tenant.tenant_id}' is not active"


def test_a_tenant_suspended_between_refreshes_ends_a_claim_sign_in(
    flow: Flow,
    browser: Browser,
    platform: LocalPlatform,
    claim_mode: Any,
    idp_user: Callable[..., str],
    new_tenant: Any,
) -> None:
    tenant: TenantRecord = new_tenant()
    user = idp_user(**_claims(CLAIM, tenant.tenant_id))
    tokens = flow.redeem(flow.code(user))
    assert tenant_of(flow, tokens) == tenant.tenant_id
    first = flow.refresh(tokens.json()["refresh_token"])
    assert first.status_code == 200, first.text
    _set_status(platform, tenant, "suspended")
    refused = flow.refresh(first.json()["refresh_token"])
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": f"tenant '{tenant.tenant_id}' is not active; sign in again",
    }
    _set_status(platform, tenant, "active")
    assert flow.refresh(first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_claim_sign_in_records_its_origin_and_ends_sooner(
    flow: Flow, oauth: AuthorizationServer, claim_mode: Any, idp_user: Callable[..., str]
) -> None:
    user = idp_user(**_claims(CLAIM, "lotus-yoga"))
    code = flow.code(user)
    before = oauth.store.now()
    tokens = flow.redeem(code)
    assert tenant_of(flow, tokens) == "lotus-yoga"
    grants = oauth.store.revoke_grants("lotus-yoga", "test: look, then end", subject=user)
    assert [grant.membership for grant in grants] == ["idp_claim"]
    # The claim is read only at sign-in: its sign-in lasts claim_absolute_seconds, not the table's 90 days.
    ends_in = grants[0].expires_at - before
    assert oauth.lifetimes.claim_absolute_seconds - 5 <= ends_in <= oauth.lifetimes.claim_absolute_seconds + 5
    assert ends_in < oauth.lifetimes.refresh_absolute_seconds


def test_switching_the_source_of_memberships_ends_sign_ins_of_the_other(
    flow: Flow, oauth: AuthorizationServer, monkeypatch: pytest.MonkeyPatch, idp_user: Callable[..., str]
) -> None:
    # A members-table sign-in, then the deployment turns claim mode on: its next refresh ends it.
    tokens = flow.redeem(flow.code("owner@ironworks.example"))
    assert tenant_of(flow, tokens) == "ironworks-gym"
    monkeypatch.setattr(oauth, "tenants_claim", TenantsClaim(CLAIM))
    assert flow.refresh(tokens.json()["refresh_token"]).json() == {
        "error": "invalid_grant",
        "error_description": "memberships now come from the identity provider's claim; sign in again",
    }
    # A claim sign-in, then claim mode is turned off: the table, which does not list the user, decides.
    claimed = flow.redeem(flow.code(idp_user(**_claims(CLAIM, "lotus-yoga"))))
    assert tenant_of(flow, claimed) == "lotus-yoga"
    monkeypatch.setattr(oauth, "tenants_claim", None)
    assert flow.refresh(claimed.json()["refresh_token"]).json() == {
        "error": "invalid_grant",
        "error_description": "memberships now come from the members table; sign in again",
    }


# --- The members table is the default -----------------------------------------------------------------


def test_without_the_setting_the_claim_is_ignored_and_the_table_decides(
    flow: Flow, browser: Browser, oauth: AuthorizationServer, idp_user: Callable[..., str]
) -> None:
    assert oauth.tenants_claim is None
    user = idp_user(**_claims(CLAIM, "lotus-yoga"))
    assert denied(browser.sign_in(flow.authorize_url(), user)).startswith("access_denied: ")
    oauth.members.add(user, "summit-climbing", added_by="test")
    try:
        page = browser.sign_in(flow.authorize_url(), user)
        assert offered(page) == ["summit-climbing"]
        location = browser.consent(page).headers["location"]
        assert tenant_of(flow, flow.redeem(query_of(location)["code"])) == "summit-climbing"
    finally:
        oauth.members.remove(user, "summit-climbing")


# --- The real OIDC client: only a verified ID token's claim counts --------------------------------------


@pytest.fixture
def oidc(oauth: AuthorizationServer, claim_mode: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[OidcTestProvider]:
    """The authorization server signing users in with OidcProvider against a provider on 127.0.0.1, in claim mode."""
    with OidcTestProvider.serving() as provider:
        upstream = OidcProvider(provider.base, CLIENT_ID, lambda: CLIENT_SECRET)
        monkeypatch.setattr(oauth, "upstream", upstream)
        provider.claims = {"sub": "u-1", "email": "idp-user@idp.example", "email_verified": True}
        yield provider


def _through(browser: Browser, authorize_url: str) -> httpx.Response:
    """/authorize -> the provider (which signs in at once) -> /callback: the consent page or a redirect."""
    to_provider = browser.start(authorize_url)
    assert to_provider.status_code == 302, to_provider.text
    back = httpx.get(to_provider.headers["location"], follow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    return browser.http.get(back.headers["location"])


def test_a_verified_id_tokens_claim_names_the_tenant(flow: Flow, browser: Browser, oidc: OidcTestProvider) -> None:
    oidc.claims[CLAIM] = "summit-climbing"
    page = _through(browser, flow.authorize_url())
    assert offered(page) == ["summit-climbing"]
    location = browser.consent(page).headers["location"]
    assert tenant_of(flow, flow.redeem(query_of(location)["code"])) == "summit-climbing"


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_id_token_carrying_the_claim_gets_nothing(
    flow: Flow, browser: Browser, oidc: OidcTestProvider, forgery: str
) -> None:
    oidc.claims[CLAIM] = "summit-climbing"
    oidc.forge = forgery
    reason = denied(_through(browser, flow.authorize_url()))
    assert reason in (
        "access_denied: the identity provider's ID token did not verify",
        "access_denied: the identity provider's answer belongs to another sign-in",
    ), reason
