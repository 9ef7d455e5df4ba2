"""The one place that builds DynamoDB keys, for every table.

Tenant data, usage and audit items: the partition key is exactly the tenant id; that is what
IAM's `dynamodb:LeadingKeys` condition compares against the `tenant_id`
principal tag, so an item under any other partition is out of reach of the
tenant's credentials. Sort keys carry the entity type and the entity id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re

from tenantry.errors import InvalidInputError
from tenantry.tenancy.context import TenantContext

__all__ = [
    "ENTITY_ID_PATTERN",
    "PK",
    "SK",
    "audit_key",
    "canary_item_key",
    "canary_result_key",
    "counter_key",
    "customer_key",
    "customer_prefix",
    "decode_cursor",
    "encode_cursor",
    "is_slug_reservation",
    "member_key",
    "member_partition",
    "move_mark_key",
    "move_mark_prefix",
    "moved_key",
    "oauth_client_key",
    "oauth_code_key",
    "oauth_grant_key",
    "oauth_grants_partition",
    "oauth_rate_key",
    "oauth_refresh_key",
    "oauth_registration_key",
    "oauth_session_key",
    "registry_key",
    "secret_key",
    "secret_prefix",
    "slug_reservation_key",
    "tenant_partition",
    "usage_month_key",
    "usage_month_sk",
    "validate_entity_id",
]

PK = "pk"
SK = "sk"
_CUSTOMER = "CUSTOMER#"
_SECRET = "SECRET#"
_COUNTER = "COUNTER#"
# Ids are ASCII letters, digits, '_' and '-': no separators ('#', '/'), no
# escapes ('%'), no control characters, no look-alike Unicode.
ENTITY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_entity_id(kind: str, value: str) -> str:
    if not ENTITY_ID_PATTERN.fullmatch(value):
        shown = value if len(value) <= 40 and value.isprintable() else value[:40].encode("unicode_escape").decode()
        raise InvalidInputError(
            f"'{shown}' is not a valid {kind} id: use 1-64 characters from A-Z, a-z, 0-9, '_' and '-'."
        )
    return value


def customer_key(tenant: TenantContext, customer_id: str) -> dict[str, str]:
    validate_entity_id("customer", customer_id)
    return {PK: tenant.tenant_id, SK: _CUSTOMER + customer_id}


def counter_key(tenant: TenantContext, name: str) -> dict[str, str]:
    """A per-tenant counter item (e.g. how many customers exist, for the storage quota)."""
    return {PK: tenant.tenant_id, SK: _COUNTER + name}


def secret_key(tenant: TenantContext, name: str) -> dict[str, str]:
    return {PK: tenant.tenant_id, SK: _SECRET + name}


def secret_prefix(tenant: TenantContext) -> tuple[str, str]:
    return tenant.tenant_id, _SECRET


def customer_prefix(tenant: TenantContext) -> tuple[str, str]:
    """(partition, sort-key prefix) for a query over one tenant's customers."""
    return tenant.tenant_id, _CUSTOMER


# -- moves: a write made while the tenant's data is being copied leaves a mark beside the item -----
# The mark sits in the tenant's own partition (so the tenant's credentials and the guard allow it),
# under a prefix no entity sort key starts with; the mover re-copies each marked key and removes it.
_MOVE_MARK = "~MOVE#"


def move_mark_key(tenant_id: str, sort_key: str) -> dict[str, str]:
    return {PK: tenant_id, SK: _MOVE_MARK + sort_key}


def move_mark_prefix(tenant_id: str) -> tuple[str, str]:
    """(partition, sort-key prefix) of a tenant's move marks."""
    return tenant_id, _MOVE_MARK


def moved_key(tenant_id: str, sort_key: str) -> dict[str, str]:
    """The key an item of `tenant_id` has in any table: rebuilt from the tenant id, never copied from a source."""
    if sort_key.startswith(_MOVE_MARK):
        raise ValueError("a move mark is not tenant data")
    return {PK: tenant_id, SK: sort_key}


def tenant_partition(tenant: TenantContext) -> str:
    """The partition holding every item of a tenant (offboarding sweeps it whole)."""
    return tenant.tenant_id


# -- the registry: one item per tenant, plus one per reserved slug ---------------------------------
# Slug reservations share the registry table under a key no tenant id can take ('@' is not allowed in one).
_SLUG_PREFIX = "@slug:"


def registry_key(tenant_id: str) -> dict[str, str]:
    return {"tenant_id": tenant_id}


def slug_reservation_key(slug: str) -> dict[str, str]:
    return {"tenant_id": _SLUG_PREFIX + slug}


def is_slug_reservation(item_key: str) -> bool:
    return item_key.startswith(_SLUG_PREFIX)


# -- usage and audit: partitioned by tenant id like tenant data ------------------------------------
def usage_month_key(tenant_id: str, month: str) -> dict[str, str]:
    """The tenant's usage item of one month (YYYY-MM): counters, limits' state, outcomes."""
    return {PK: tenant_id, SK: usage_month_sk(month)}


def usage_month_sk(month: str) -> str:
    """The sort key every tenant's usage item of that month has (a fleet-wide scan filters on it)."""
    return f"MONTH#{month}"


def audit_key(tenant_id: str, at: str, unique: str) -> dict[str, str]:
    """An audit record: sorted by time (ISO 8601) within the tenant's partition."""
    return {PK: tenant_id, SK: f"{at}#{unique}"}


# -- the isolation canary (tenantry/canary/) --------------------------------------------------------
def canary_item_key(tenant_id: str) -> dict[str, str]:
    """The canary's probe item in a (synthetic canary) tenant's partition, like any tenant item."""
    return {PK: tenant_id, SK: "CANARY#probe"}


def canary_result_key() -> dict[str, str]:
    """The canary's last run, in the audit table under a partition no tenant id can take ('@')."""
    return {PK: "@canary", SK: "last"}


def _tenant_tag(tenant: TenantContext) -> str:
    return hashlib.sha256(tenant.tenant_id.encode()).hexdigest()[:16]


def encode_cursor(tenant: TenantContext, last_key: dict[str, str]) -> str:
    """An opaque cursor: the sort key to resume after, bound to the tenant.

    The partition is never taken from a cursor; the tag only turns a cursor
    replayed by another tenant into a clear error instead of an empty page.
    """
    payload = {"v": 1, "t": _tenant_tag(tenant), "s": last_key[SK]}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(tenant: TenantContext, cursor: str, prefix: str) -> dict[str, str]:
    invalid = InvalidInputError("The cursor is not valid for this list. Start again without a cursor.")
    if len(cursor) > 512:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise invalid from None
    if not isinstance(payload, dict) or payload.get("v") != 1 or payload.get("t") != _tenant_tag(tenant):
        raise invalid
    sort_key = payload.get("s")
    if not isinstance(sort_key, str) or not sort_key.startswith(prefix):
        raise invalid
    if not ENTITY_ID_PATTERN.fullmatch(sort_key[len(prefix) :]):
        raise invalid
    return {PK: tenant.tenant_id, SK: sort_key}


# -- the authorization server's table: clients, codes, refresh tokens, grants, sign-in sessions ----
# Secrets (codes, refresh tokens, session ids) and DCR client ids are never keys themselves: their
# SHA-256 is, so a read of the table yields nothing that can be presented. Grants sit under their tenant's
# partition so suspending a tenant or removing a membership finds them with one Query.
def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def oauth_client_key(client_id: str) -> dict[str, str]:
    return {PK: "CLIENT#" + _digest(client_id), SK: "CLIENT"}


def oauth_code_key(code: str) -> dict[str, str]:
    return {PK: "CODE#" + _digest(code), SK: "CODE"}


def oauth_refresh_key(token: str) -> dict[str, str]:
    return {PK: "REFRESH#" + _digest(token), SK: "REFRESH"}


def oauth_session_key(session_id: str) -> dict[str, str]:
    return {PK: "SESSION#" + _digest(session_id), SK: "SESSION"}


def oauth_grants_partition(tenant_id: str) -> str:
    return "GRANTS#" + tenant_id


def oauth_grant_key(tenant_id: str, grant_id: str) -> dict[str, str]:
    return {PK: oauth_grants_partition(tenant_id), SK: "GRANT#" + grant_id}


def oauth_registration_key(host: str, day: str) -> dict[str, str]:
    """How many clients were registered for one redirect host on one day (DCR per-host cap)."""
    return {PK: "DCRHOST#" + host, SK: day}


def oauth_rate_key(endpoint: str, caller: str, minute: str) -> dict[str, str]:
    return {PK: f"RATE#{endpoint}#{caller}", SK: minute}


# -- memberships: which tenants a signed-in user may act for ---------------------------------------
def member_partition(user: str) -> dict[str, str]:
    return {"user": user}


def member_key(user: str, tenant_id: str) -> dict[str, str]:
    return {"user": user, "tenant_id": tenant_id}
