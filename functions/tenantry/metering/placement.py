"""The placement a tenant's usage items carry while (and after) it is moved between tables.

Admission writes the tenant's month item on every tools/call, in every container, so
the same write is where a container learns where the tenant lives now (`home`, a
table name, with the move's `epoch`) and whether a move is running (`move`:
`copy` while the data is copied, `paused` for the few seconds of the final
catch-up and the flip). The registry record says the same for the admin side, but
a warm container caches that record for minutes; the month item it reads on every
call it cannot miss. The mover writes these attributes on this month's and next
month's items, like the status marks, so a month rollover in the middle of a move
does not lose them.

Write tools admitted during `copy` register themselves in `writers` (a string set of
`<epoch seconds>:<token>`) before they run and leave it when they are done, so the
mover can wait for writes already running before its final catch-up instead of
waiting out the function timeout.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import usage_month_key
from tenantry.errors import TenantMovingError, aws_error_code

if TYPE_CHECKING:  # boto3-stubs: types for mypy only, nothing imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "EPOCH",
    "HOME",
    "MOVE",
    "MoveState",
    "Placed",
    "PlacementMarks",
]

HOME = "home"
EPOCH = "epoch"
MOVE = "move"
WRITERS = "writers"
MoveState = Literal["", "copy", "paused"]
# Seconds a write that paused waits before retrying: the pause is the final catch-up and the flip.
RETRY_SECONDS = 5
_RETENTION_SECONDS = 400 * 86400


@dataclass(frozen=True)
class Placed:
    """What one admission learned: where the tenant lives now and whether a move is running."""

    month: str
    home: str = ""
    move: MoveState = ""


def _months(now: float) -> list[str]:
    current = datetime.fromtimestamp(now, UTC)
    first = current.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return [current.strftime("%Y-%m"), following.strftime("%Y-%m")]


class PlacementMarks:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    # -- the function's side ---------------------------------------------------------------
    def enter_write(self, tenant_id: str, month: str) -> str:
        """Register a write tool about to run during a copy; TenantMovingError if the copy is over."""
        token = f"{int(self._clock())}:{uuid.uuid4().hex}"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(usage_month_key(tenant_id, month)),
                UpdateExpression="ADD #w :token",
                ConditionExpression="#mv = :copy",
                ExpressionAttributeNames={"#w": WRITERS, "#mv": MOVE},
                ExpressionAttributeValues=to_attrs({":token": {token}, ":copy": "copy"}),
            )
        except ClientError as exc:
            if aws_error_code(exc) != "ConditionalCheckFailedException":
                raise
            # Paused since admission, or flipped (this container's idea of the home may be old): retry.
            raise TenantMovingError(RETRY_SECONDS) from None
        return token

    def leave_write(self, tenant_id: str, month: str, token: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(usage_month_key(tenant_id, month)),
            UpdateExpression="DELETE #w :token",
            ExpressionAttributeNames={"#w": WRITERS},
            ExpressionAttributeValues=to_attrs({":token": {token}}),
        )

    # -- the mover's side ------------------------------------------------------------------
    def set_move(self, tenant_id: str, state: MoveState) -> None:
        for month in _months(self._clock()):
            self._update(tenant_id, month, "SET #mv = :state", {"#mv": MOVE}, {":state": state})

    def flip(self, tenant_id: str, home: str, epoch: int) -> None:
        """Point every container at `home` on its next call and end the pause (one write per month item)."""
        for month in _months(self._clock()):
            self._update(
                tenant_id,
                month,
                "SET #home = :home, #epoch = :epoch, #mv = :none",
                {"#home": HOME, "#epoch": EPOCH, "#mv": MOVE},
                {":home": home, ":epoch": epoch, ":none": ""},
            )

    def writers_in_flight(self, tenant_id: str, younger_than: float) -> int:
        """Write tools registered and not done, ignoring tokens older than `younger_than` s (dead containers)."""
        oldest = self._clock() - younger_than
        running = 0
        for month in _months(self._clock()):
            item = self._client.get_item(
                TableName=self._table, Key=to_attrs(usage_month_key(tenant_id, month)), ConsistentRead=True
            ).get("Item")
            tokens = from_attrs(item).get(WRITERS, []) if item else []
            running += sum(1 for token in tokens if int(str(token).split(":", 1)[0]) >= oldest)
        return running

    def state(self, tenant_id: str) -> Placed:
        month = _months(self._clock())[0]
        item = self._client.get_item(
            TableName=self._table, Key=to_attrs(usage_month_key(tenant_id, month)), ConsistentRead=True
        ).get("Item")
        values = from_attrs(item) if item else {}
        move = str(values.get(MOVE, ""))
        return Placed(month, str(values.get(HOME, "")), move if move in ("copy", "paused") else "")  # type: ignore[arg-type]

    def _update(
        self, tenant_id: str, month: str, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(usage_month_key(tenant_id, month)),
            UpdateExpression=expression + ", expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_attrs({**values, ":expires": int(self._clock()) + _RETENTION_SECONDS}),
        )
