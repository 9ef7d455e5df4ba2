"""Errors the boundary maps to HTTP statuses and MCP tool errors.

Messages are written for the person reading them in ChatGPT: they say what was
wrong and what to do, and never name another tenant or echo a secret.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "AdmissionContentionError",
    "ConflictError",
    "CrossTenantAccessError",
    "CrossTenantAttemptError",
    "DependencyError",
    "InvalidInputError",
    "LimitExceededError",
    "NoTenantContextError",
    "NotFoundError",
    "OAuthError",
    "QuotaExceededError",
    "RateLimitedError",
    "RegistryChangedError",
    "SecretUnavailableError",
    "StorageQuotaError",
    "TenantAccessError",
    "TenantBlockedError",
    "TenantMovingError",
    "TenantryError",
    "WebhookError",
    "aws_error_code",
    "dependency_error",
]


class TenantryError(Exception):
    """Base class: an expected failure with a message safe to show the caller."""

    http_status = 400
    code = "invalid_request"


class TenantAccessError(TenantryError):
    """The caller may not act for the tenant it claims (missing, unknown, suspended, mismatch)."""

    http_status = 403
    code = "tenant_access_denied"


class TenantBlockedError(TenantAccessError):
    """Admission found the tenant's usage item marked by suspend or offboard (seen by DynamoDB itself)."""

    code = "tenant_blocked"

    def __init__(self, tenant_id: str, status: str) -> None:
        if status == "suspended":
            message = f"Tenant '{tenant_id}' is suspended, so no tools can run. Ask your administrator to resume it."
        else:
            message = f"Tenant '{tenant_id}' is not registered with this service. Ask your administrator to onboard it."
        super().__init__(message)
        self.status = status


class RegistryChangedError(TenantryError):
    """Admission found the tenant's registry record changed since this container cached it; nothing was counted.

    Not shown to callers: the server re-reads the record and admits again under the new settings.
    """

    code = "registry_changed"

    def __init__(self, tenant_id: str, version: int) -> None:
        super().__init__(f"Tenant '{tenant_id}' changed (registry version {version}); its settings are re-read.")
        self.version = version


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


class DependencyError(TenantryError):
    """An AWS dependency failed after botocore's retries; says whether retrying can help."""

    http_status = 503
    code = "dependency_unavailable"

    def __init__(self, message: str, *, retryable: bool, aws_code: str) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.aws_code = aws_code


class AdmissionContentionError(DependencyError):
    """Admission could not be decided: the usage item kept changing under every attempt (not a limit)."""

    code = "admission_contention"

    def __init__(self) -> None:
        super().__init__(
            "Usage metering is busy (many calls at once); this call did not run and was not counted. "
            "Retry in a few seconds.",
            retryable=True,
            aws_code="AdmissionContention",
        )


# Codes that mean "busy or briefly broken": the same call can succeed a moment later.
_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionCanceledException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "LimitExceededException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
    }
)
_OPERATIONS = {
    "sts": {"AssumeRole", "GetCallerIdentity"},
    "kms": {"Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "DescribeKey"},
    "s3": {"GetObject", "PutObject", "DeleteObject", "ListObjectsV2", "HeadObject"},
}


def _service_of(operation: str) -> str:
    return next((service for service, names in _OPERATIONS.items() if operation in names), "dynamodb")


_SERVICE_NAMES = {"dynamodb": "The database", "sts": "Access control", "kms": "Encryption", "s3": "File storage"}


def dependency_error(exc: ClientError | BotoCoreError, service: str = "") -> DependencyError:
    """What to tell a caller when an AWS call failed: which part, whether to retry, never the raw text."""
    if isinstance(exc, ClientError):
        aws_code = aws_error_code(exc) or "Unknown"
        service = service or _service_of(exc.operation_name or "")
        retryable = aws_code in _RETRYABLE_CODES
    else:  # connection and read timeouts, endpoint errors: transient by nature
        aws_code = type(exc).__name__
        retryable = True
    what = _SERVICE_NAMES.get(service, "A service this tool depends on")
    if retryable:
        message = (
            f"{what} is busy or briefly unavailable ({aws_code}); this call did not complete. Retry in a few seconds."
        )
    else:
        message = (
            f"{what} refused this call ({aws_code}); retrying will not help. "
            "Ask your administrator to check the service's configuration."
        )
    return DependencyError(message, retryable=retryable, aws_code=aws_code)


class TenantMovingError(TenantryError):
    """A write arrived in the few seconds a move pauses writes; nothing ran, nothing was counted: retry."""

    http_status = 503
    code = "tenant_moving"

    def __init__(self, retry_after_seconds: int = 5) -> None:
        super().__init__(
            "Your studio's data is being moved to its new home; changes are paused for a few seconds and "
            f"nothing was changed. Retry in {retry_after_seconds} seconds. Reading works meanwhile."
        )
        self.retry_after_seconds = retry_after_seconds
