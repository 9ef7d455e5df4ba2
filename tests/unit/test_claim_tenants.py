"""Reading the tenants claim (oauth/claim_tenants.py): what counts, what is dropped, what spoils the claim.

The end-to-end flow, the registry intersection and the isolation guards are in
tests/oauth/test_idp_memberships.py; these pin the edges of the parser.
"""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.oauth.claim_tenants import MAX_CLAIM_CHARS, MAX_VALUES, TenantsClaim
from tenantry_local.signin import DemoUser, DevIdentityProvider

CLAIM = TenantsClaim("custom:tenants")


def test_exactly_the_cap_is_accepted_and_one_more_is_not() -> None:
    ids = [f"tenant-{n:03d}" for n in range(MAX_VALUES)]
    assert CLAIM.read({"custom:tenants": ids}).tenant_ids == tuple(ids)
    assert CLAIM.read({"custom:tenants": " ".join(ids)}).tenant_ids == tuple(ids)
    over = CLAIM.read({"custom:tenants": [*ids, "tenant-999"]})
    assert over.tenant_ids == ()
    assert over.problems == (f"'custom:tenants' holds {MAX_VALUES + 1} values, more than {MAX_VALUES}; ignored",)


def test_the_length_cap_counts_a_list_too() -> None:
    long = ["a" + "b" * 60 + "c"] * 80  # each a valid id, together past the cap
    assert sum(map(len, long)) > MAX_CLAIM_CHARS
    assert CLAIM.read({"custom:tenants": long}).tenant_ids == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "the ID token has no 'custom:tenants' claim"),
        (3.5, "'custom:tenants' is a float, not a string or a list of strings; ignored"),
        ({"a": 1}, "'custom:tenants' is a dict, not a string or a list of strings; ignored"),
        (["acme", None], "'custom:tenants' is a list of something other than strings; ignored"),
        ("", "'custom:tenants' is empty"),
    ],
)
def test_a_claim_of_the_wrong_kind_is_ignored_whole_with_a_reason(raw: Any, problem: str) -> None:
    read = CLAIM.read({} if raw is None else {"custom:tenants": raw})
    assert read.tenant_ids == ()
    assert read.problems == (problem,)


def test_values_that_are_not_tenant_ids_are_dropped_one_by_one() -> None:
    read = CLAIM.read({"custom:tenants": ["acme", "Globex", "x", "a" * 64, "initech"]})
    assert read.tenant_ids == ("acme", "initech")
    assert len(read.problems) == 3


def test_a_prefix_is_stripped_once_and_unprefixed_values_are_not_problems() -> None:
    claim = TenantsClaim("groups", "tenantry-")
    read = claim.read({"groups": ["Everyone", "tenantry-acme", "TENANTRY-globex", "tenantry-tenantry-x1"]})
    assert read.tenant_ids == ("acme", "tenantry-x1")  # the second is a tenant id only if registered
    assert read.problems == ()
    assert claim.read({"groups": ["Everyone"]}).problems == ("no 'groups' value starts with the prefix 'tenantry-'",)


def test_the_dev_provider_puts_each_users_tenants_in_the_claim_unless_the_user_says_otherwise() -> None:
    plain = DevIdentityProvider("http://127.0.0.1:1")
    user = DemoUser("a@example.com", "A", ("acme", "globex"))
    assert "custom:tenants" not in plain.claims_of(user)  # members-table mode: no claim
    claimed = DevIdentityProvider("http://127.0.0.1:1", tenants_claim="groups", tenants_prefix="tenantry-")
    claims = claimed.claims_of(user)
    assert claims["groups"] == ["tenantry-acme", "tenantry-globex"]
    assert claims["email"] == "a@example.com" and claims["email_verified"] is True
    override = DemoUser("b@example.com", "B", ("acme",), {"groups": "not-a-list"})
    assert claimed.claims_of(override)["groups"] == "not-a-list"
