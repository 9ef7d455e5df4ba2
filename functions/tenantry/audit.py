"""The audit trail: denied access, cross-tenant attempts and admin actions.

Written with the function's own credentials (it may PutItem on the audit table
and nothing else there) and echoed as a structured log event, which is what
CloudWatch metric filters and alarms watch.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import audit_key
from tenantry.isolation.cache import tenant_cache_key
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.observability import get_logger

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["AuditEvent", "AuditLog", "AuditTally", "Outcome"]

Outcome = Literal["allowed", "denied", "error"]


class AuditEvent(BaseModel):
    model_config = BUILT_WHEN_USED
    tenant_id: str
    principal: str
    action: str
    resource: str
    outcome: Outcome
    reason: str = ""
    request_id: str = ""
    at: str = ""
    # How many like events this record stands for (refusals are aggregated per tenant per minute).
    count: int = 1


class AuditLog:
    def __init__(self, client: DynamoDBClient, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_days * 86400

    def record(self, event: AuditEvent) -> AuditEvent:
        now = time.time()
        stamped = self.log(event, now)
        self.store(stamped, now)
        return stamped

    def log(self, event: AuditEvent, now: float | None = None) -> AuditEvent:
        """Stamp the event and write it to the structured log (what metric filters and alarms watch)."""
        now = time.time() if now is None else now
        stamped = event.model_copy(update={"at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")})
        get_logger().warning(
            "audit", extra={"audit": stamped.model_dump(), "event": f"audit.{event.action}.{event.outcome}"}
        )
        return stamped

    def store(self, stamped: AuditEvent, now: float | None = None) -> None:
        """Put a stamped event in the audit table."""
        now = time.time() if now is None else now
        item = {
            **audit_key(stamped.tenant_id, stamped.at, uuid.uuid4().hex[:8]),
            "expires_at": int(now + self._retention),
            **stamped.model_dump(),
        }
        self._client.put_item(TableName=self._table, Item=to_attrs(item))

    def store_many(self, events: list[AuditEvent]) -> None:
        """Stamp and put many events, 25 to a BatchWriteItem (bulk imports: one round trip per 25 tenants).

        Not echoed to the log one by one: a bulk operation's thousands of lines would drown the
        alarms' metric filters, and every event is in the table.
        """
        now = time.time()
        at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        items = [
            {
                "PutRequest": {
                    "Item": to_attrs(
                        {
                            **audit_key(e.tenant_id, at, uuid.uuid4().hex[:8]),
                            "expires_at": int(now + self._retention),
                            **e.model_copy(update={"at": at}).model_dump(),
                        }
                    )
                }
            }
            for e in events
        ]
        for start in range(0, len(items), 25):
            pending: list[Any] = items[start : start + 25]
            for attempt in range(8):
                unprocessed = self._client.batch_write_item(RequestItems={self._table: pending}).get(
                    "UnprocessedItems", {}
                )
                pending = list(unprocessed.get(self._table, []))
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: back off before resending what was not written
            else:
                raise RuntimeError(f"DynamoDB kept {len(pending)} audit event(s) unprocessed after 8 attempts")

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


@dataclass
class _Tally:
    minute: str
    first: AuditEvent
    count: int = 1


class AuditTally:
    """Refusals aggregated per tenant, kind and minute: one audit record with a count, not one per call.

    The first refusal of a minute is logged at once (alarms see it); the record is
    put when its minute is over, at the container's next refusal or flush. A
    container that dies loses the record of its last open minute (the log line stays).
    """

    def __init__(self, audit: AuditLog, clock: Callable[[], float] = time.time, max_open: int = 10_000) -> None:
        self._audit = audit
        self._clock = clock
        self._open: dict[tuple[Hashable, ...], _Tally] = {}
        # Within one minute, a container refusing many tenants would hold a tally each: past the cap
        # the oldest tallies are stored early (their count so far), so memory stays bounded.
        self._max_open = max_open
        self._lock = threading.Lock()

    def add(self, event: AuditEvent, group: Hashable | None = None) -> None:
        """Count `event`; events are alike when tenant, action, resource and `group` (default: reason) match.

        A caller whose reasons carry caller-chosen text groups by something bounded (an error code),
        so varying the request does not make one record per request.
        """
        now = self._clock()
        minute = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M")
        key = tenant_cache_key(event.tenant_id, event.action, event.resource, event.reason if group is None else group)
        with self._lock:
            due = [k for k, tally in self._open.items() if tally.minute != minute]
            ended = [self._open.pop(k) for k in due]
            tally = self._open.get(key)
            if tally is None:
                self._open[key] = _Tally(minute, self._audit.log(event, now))
                while len(self._open) > self._max_open:
                    ended.append(self._open.pop(next(iter(self._open))))
            else:
                tally.count += 1
        self._store(ended)

    def flush(self) -> None:
        with self._lock:
            ended = list(self._open.values())
            self._open.clear()
        self._store(ended)

    def _store(self, tallies: list[_Tally]) -> None:
        for tally in tallies:
            self._audit.store(tally.first.model_copy(update={"count": tally.count}))
