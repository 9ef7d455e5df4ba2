"""A move's journal: one field of the tenant's registry record, saved (conditionally) after every step.

Steps, in order: copy -> catch-up -> verify -> pause -> flip -> drain -> delete. Each step
can run again from its start, so a killed move is finished by running the same command
again. The journal names the process running it; another process finding it alive (same
host, pid still running; or another host's heartbeat younger than the lease) refuses to run.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from tenantry.tenancy.placement import Placement

__all__ = ["STEPS", "MoveJournal", "Step", "describe", "owner_alive", "this_owner"]

Step = Literal["copy", "catch-up", "verify", "pause", "flip", "drain", "delete"]
STEPS: tuple[Step, ...] = ("copy", "catch-up", "verify", "pause", "flip", "drain", "delete")
# Another host's run is taken for dead when its heartbeat is older than this.
LEASE_SECONDS = 120.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class MoveJournal(BaseModel):
    id: str = Field(default_factory=lambda: f"mv-{uuid.uuid4().hex[:10]}")
    source: Placement
    target: Placement
    source_table: str
    target_table: str
    step: Step = "copy"
    keep_source: bool = False
    # Placement epoch after the flip; containers see it (and the home) on their next admission.
    epoch: int = 1
    started_at: str = Field(default_factory=_now)
    started_by: str = ""
    owner: str = Field(default_factory=this_owner)
    heartbeat_at: str = Field(default_factory=_now)
    # When the write pause began (ISO 8601) and how long it lasted, for the report.
    paused_at: str | None = None
    pause_ms: int | None = None  # DynamoDB takes no floats
    copied: int = 0


def owner_alive(journal: MoveJournal) -> bool:
    host, _, pid = journal.owner.rpartition(":")
    if host == socket.gethostname():
        if not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            return False  # this process itself (a resume in the same process after an error)
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    beat = datetime.fromisoformat(journal.heartbeat_at)
    return (datetime.now(UTC) - beat).total_seconds() < LEASE_SECONDS


def describe(placement: Placement) -> str:
    return f"cell:{placement.cell}" if placement.mode == "cell" else placement.mode
