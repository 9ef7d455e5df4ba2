"""Memberships from the identity provider: the tenant ids a claim of the verified ID token names.

Off unless TENANTRY_OIDC_TENANTS_CLAIM is set (then the members table is not read at all:
the claim is the one source of memberships, docs/oauth.md "Memberships from the identity
provider"). This module only reads the claim; the authorization server intersects what it
names with the registry's active tenants (server.py).

What a claim may hold, so that Auth0, Cognito and Okta all fit:
- one string: `org_id` of an Auth0 organization, or a Cognito custom attribute
  (`custom:tenants`) listing several ids separated by commas and/or spaces;
- a list of strings: Okta's `groups`, an Auth0 Action's namespaced claim.
With a prefix (TENANTRY_OIDC_TENANTS_PREFIX=tenantry-), only values starting with it count,
the prefix stripped: a group `tenantry-acme` names the tenant `acme`, a group `admins` nothing.

Values are tenant ids, never slugs: an id is never reused, while a slug freed by an offboarded
tenant can be given to a new one, which a stale IdP group would then silently reach. A value
that is not the shape of a tenant id is dropped. A claim of another type (number, object),
longer than MAX_CLAIM_CHARS, or of more than MAX_VALUES values is ignored whole: the user is a
member of nothing. Every drop is reported as a problem for the operator's log, never to the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantry.tenancy.context import TENANT_ID_PATTERN

__all__ = ["MAX_CLAIM_CHARS", "MAX_VALUES", "ClaimedTenants", "TenantsClaim"]

# Okta's groups claim carries at most 100 groups; Cognito's custom attributes at most 2,048 characters.
MAX_VALUES = 100
MAX_CLAIM_CHARS = 4096
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class ClaimedTenants:
    """The tenant ids a claim names (deduplicated, in claim order), and what was dropped and why."""

    tenant_ids: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TenantsClaim:
    name: str
    prefix: str = ""

    def read(self, claims: Mapping[str, Any]) -> ClaimedTenants:
        """The tenants the (already verified) claims name; never raises, whatever the claim holds."""
        raw = claims.get(self.name)
        if raw is None:
            return ClaimedTenants(problems=(f"the ID token has no '{self.name}' claim",))
        values = self._values(raw)
        if isinstance(values, str):
            return ClaimedTenants(problems=(values,))
        tenant_ids: dict[str, None] = {}
        problems: list[str] = []
        unprefixed = 0
        for value in values:
            if self.prefix:
                if not value.startswith(self.prefix):
                    unprefixed += 1  # another application's group: expected, not a problem worth a line each
                    continue
                value = value[len(self.prefix) :]
            if TENANT_ID_PATTERN.fullmatch(value):
                tenant_ids[value] = None
            else:
                problems.append(f"'{self.name}' value {value[:70]!r} is not a tenant id; dropped")
        if unprefixed and not tenant_ids:
            problems.append(f"no '{self.name}' value starts with the prefix {self.prefix!r}")
        return ClaimedTenants(tuple(tenant_ids), tuple(problems))

    def _values(self, raw: Any) -> list[str] | str:
        """The claim's values, or a string saying why the claim is ignored whole."""
        if isinstance(raw, str):
            if len(raw) > MAX_CLAIM_CHARS:
                return f"'{self.name}' is longer than {MAX_CLAIM_CHARS} characters; ignored"
            values = [value for value in _SEPARATORS.split(raw) if value]
        elif isinstance(raw, list):
            if len(raw) > MAX_VALUES:
                return f"'{self.name}' holds {len(raw)} values, more than {MAX_VALUES}; ignored"
            if not all(isinstance(value, str) for value in raw):
                return f"'{self.name}' is a list of something other than strings; ignored"
            if sum(len(value) for value in raw) > MAX_CLAIM_CHARS:
                return f"'{self.name}' is longer than {MAX_CLAIM_CHARS} characters; ignored"
            values = [value.strip() for value in raw if value.strip()]
        else:
            return f"'{self.name}' is a {type(raw).__name__}, not a string or a list of strings; ignored"
        if len(values) > MAX_VALUES:
            return f"'{self.name}' holds {len(values)} values, more than {MAX_VALUES}; ignored"
        if not values:
            return f"'{self.name}' is empty"
        return values
