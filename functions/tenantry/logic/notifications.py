"""Booking notifications to the studio's own webhook, whose URL is a tenant secret."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel

from tenantry.audit import AuditEvent, AuditLog
from tenantry.dal.customers import CustomerStore
from tenantry.dal.secrets import SecretStore
from tenantry.errors import InvalidInputError, WebhookError
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import current_tenant

__all__ = [
    "WEBHOOK_SECRET",
    "NotificationResult",
    "NotificationService",
    "UrllibWebhookSender",
    "WebhookSender",
]

WEBHOOK_SECRET = "booking_webhook_url"


class WebhookSender(Protocol):
    def post_json(self, url: str, payload: dict[str, Any], timeout: float) -> int: ...


class UrllibWebhookSender:
    """Plain stdlib POST; redirects are not followed (a redirect could leave the allowed hosts)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(self._NoRedirect)

    def post_json(self, url: str, payload: dict[str, Any], timeout: float) -> int:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked by NotificationService
            url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise WebhookError("The studio's booking webhook could not be reached.") from exc


class NotificationResult(BaseModel):
    model_config = BUILT_WHEN_USED
    customer_id: str
    delivered: bool
    webhook_status: int


def _check_url(url: str, allow_loopback: bool) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if allow_loopback and parts.scheme == "http" and loopback:
        return
    # Never echo the URL: it usually embeds a token.
    raise InvalidInputError("The studio's booking webhook must be an https:// URL; ask your administrator to fix it.")


class NotificationService:
    def __init__(
        self,
        customers: CustomerStore,
        secrets: SecretStore,
        sender: WebhookSender,
        allow_loopback: bool = False,
        timeout: float = 5.0,
        audit: AuditLog | None = None,
    ) -> None:
        self._audit = audit
        self._customers = customers
        self._secrets = secrets
        self._sender = sender
        self._allow_loopback = allow_loopback
        self._timeout = timeout

    def booking(self, customer_id: str, class_name: str, starts_at: str) -> NotificationResult:
        tenant = current_tenant()
        customer = self._customers.get(tenant, customer_id)
        url = self._secrets.reveal(tenant, WEBHOOK_SECRET)
        if self._audit is not None:  # secret access is audited by name, never by value
            self._audit.record(
                AuditEvent(
                    tenant_id=tenant.tenant_id,
                    principal=tenant.principal,
                    action="secret:use",
                    resource=WEBHOOK_SECRET,
                    outcome="allowed",
                    reason="send_booking_notification",
                    request_id=tenant.request_id,
                )
            )
        _check_url(url, self._allow_loopback)
        payload = {
            "type": "booking.created",
            "studio": tenant.display_name,
            "customer": {"id": customer.customer_id, "name": customer.name, "email": customer.email},
            "class": class_name,
            "starts_at": starts_at,
        }
        status = self._sender.post_json(url, payload, self._timeout)
        if not 200 <= status < 300:
            raise WebhookError(f"The studio's booking webhook refused the notification (HTTP {status}).")
        return NotificationResult(customer_id=customer.customer_id, delivered=True, webhook_status=status)
