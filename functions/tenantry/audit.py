"""The audit trail: denied access, cross-tenant attempts and admin actions.

Written with the function's own credentials (it may PutItem on the audit table
and nothing else there) and echoed as a structured log event, which is what
CloudWatch metric filters and alarms watch.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import audit_key
from tenantry.observability import get_logger

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["AuditEvent", "AuditLog", "Outcome"]

Outcome = Literal["allowed", "denied", "error"]


class AuditEvent(BaseModel):
    tenant_id: str
    principal: str
    action: str
    resource: str
    outcome: Outcome
    reason: str = ""
    request_id: str = ""
    at: str = ""


class AuditLog:
    def __init__(self, client: DynamoDBClient, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_days * 86400

    def record(self, event: AuditEvent) -> AuditEvent:
        now = time.time()
        stamped = event.model_copy(update={"at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")})
        get_logger().warning(
            "audit", extra={"audit": stamped.model_dump(), "event": f"audit.{event.action}.{event.outcome}"}
        )
        item = {
            **audit_key(stamped.tenant_id, stamped.at, uuid.uuid4().hex[:8]),
            "expires_at": int(now + self._retention),
            **stamped.model_dump(),
        }
        self._client.put_item(TableName=self._table, Item=to_attrs(item))
        return stamped

    def recent(self, tenant_id: str, limit: int = 50) -> list[AuditEvent]:
        """Newest first. Operator use (the CLI); tools never read the audit trail."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :t",
            ExpressionAttributeValues=to_attrs({":t": tenant_id}),
            ScanIndexForward=False,
            Limit=limit,
        )
        fields = AuditEvent.model_fields
        return [
            AuditEvent.model_validate({k: v for k, v in from_attrs(item).items() if k in fields})
            for item in response.get("Items", [])
        ]
