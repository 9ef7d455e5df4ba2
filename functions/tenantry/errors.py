"""Errors the boundary maps to HTTP statuses and MCP tool errors.

Messages are written for the person reading them in ChatGPT: they say what was
wrong and what to do, and never name another tenant or echo a secret.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "TenantAccessError",
    "TenantryError",
]


class TenantryError(Exception):
    """Base class: an expected failure with a message safe to show the caller."""

    http_status = 400
    code = "invalid_request"


class TenantAccessError(TenantryError):
    """The caller may not act for the tenant it claims (missing, unknown, suspended, mismatch)."""

    http_status = 403
    code = "tenant_access_denied"


class NotFoundError(TenantryError):
    """The item does not exist for this tenant (also when it belongs to someone else)."""

    http_status = 404
    code = "not_found"


class ConflictError(TenantryError):
    """The write lost a race or would overwrite something that exists."""

    http_status = 409
    code = "conflict"


class InvalidInputError(TenantryError):
    """The input is well-formed JSON but not acceptable (bad id, bad cursor)."""

    http_status = 400
    code = "invalid_input"
