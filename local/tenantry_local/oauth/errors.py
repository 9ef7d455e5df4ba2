"""OAuth errors as the RFCs name them (RFC 6749 5.2 and 4.1.2.1, RFC 7591 3.2.2, RFC 8707 2)."""

from __future__ import annotations

__all__ = ["OAuthError"]


class OAuthError(Exception):
    """An error answered with `{"error", "error_description"}` (or an error page / redirect).

    `redirect_uri` is set only once the client and its redirect URI were validated:
    authorization errors are sent back to the client then, and shown on a page
    otherwise (RFC 6749 4.1.2.1: never redirect to an unvalidated URI).
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
