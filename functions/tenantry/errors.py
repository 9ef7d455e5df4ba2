"""Errors the boundary maps to HTTP statuses and MCP tool errors.

Messages are written for the person reading them in ChatGPT: they say what was
wrong and what to do, and never name another tenant or echo a secret.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = [
    "ConflictError",
    "CrossTenantAccessError",
    "CrossTenantAttemptError",
    "InvalidInputError",
    "LimitExceededError",
    "NoTenantContextError",
    "NotFoundError",
    "OAuthError",
    "QuotaExceededError",
    "RateLimitedError",
    "SecretUnavailableError",
    "StorageQuotaError",
    "TenantAccessError",
    "TenantryError",
    "WebhookError",
    "aws_error_code",
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


class LimitExceededError(TenantryError):
    http_status = 429
    code = "limit_exceeded"


class QuotaExceededError(LimitExceededError):
    code = "quota_exceeded"


class RateLimitedError(LimitExceededError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class CrossTenantAccessError(TenantryError):
    """A request for data outside the caller's tenant was stopped before it left the process."""

    http_status = 403
    code = "cross_tenant_denied"


class CrossTenantAttemptError(TenantAccessError):
    """A request named a tenant other than the one its token was issued for."""

    code = "cross_tenant_attempt"


class NoTenantContextError(RuntimeError):
    """Code that needs a tenant ran outside a request: a programming error, fail closed."""


class SecretUnavailableError(TenantryError):
    """The stored ciphertext could not be decrypted for this tenant."""

    http_status = 403
    code = "secret_unavailable"


class StorageQuotaError(TenantryError):
    """The tenant's plan allows no more customers."""

    http_status = 429
    code = "storage_quota_exceeded"


class WebhookError(TenantryError):
    http_status = 502
    code = "webhook_failed"


class OAuthError(Exception):
    """An OAuth refusal, named as the RFCs name it (RFC 6749 4.1.2.1 and 5.2, RFC 7591 3.2.2, RFC 8707 2).

    Answered as `{"error", "error_description"}`, an error page, or a redirect. `redirect_uri`
    is set only once the client and its redirect URI were validated: errors go back to the
    client then, and are shown on a page otherwise (never redirect to an unvalidated URI).
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirect_uri = redirect_uri
        self.state = state

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def aws_error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ClientError ('' when the response has none)."""
    return str(exc.response.get("Error", {}).get("Code") or "")
