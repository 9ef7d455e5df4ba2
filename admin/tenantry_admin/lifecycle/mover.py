"""`tenantry tenants move`: move a tenant's data to another table while it keeps being served.

1. copy      the tenant's usage items say `move=copy` (every container learns it on its next
             admission and marks what it writes, isolation/tracking.py); after a drain (calls
             admitted before the mark finish) the partition is copied page by page.
2. catch-up  marked keys are re-copied from the source, in rounds, until few are left.
3. verify    item counts and a SHA-256 per item kind, source against target; a key may differ
             only if a write marked it (it is compared again in the pause). Anything else stops
             the move before the flip.
4. pause     `move=paused`: admission refuses *writes* (reads go on) with a retryable error;
             the mover waits for writes already running (they registered themselves), re-copies
             the last marked keys and compares each. Its length depends on the writes of the
             last seconds, not on the tenant's size.
5. flip      the registry record's placement, then the usage items' `home` and epoch (ending the
             pause): every container's next call goes to the new table.
6. drain     calls admitted before the flip (reads) finish.
7. delete    the source partition, or the source silo table (`--keep-source` keeps it).

The journal (journal.py) is saved before each step's work, and each step can run again, so a
killed move is finished by running the same command again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from tenantry.errors import ConflictError, InvalidInputError
from tenantry.isolation.clients import TenantClients
from tenantry.metering.placement import PlacementMarks
from tenantry.tenancy.placement import Placement, table_for
from tenantry.tenancy.registry import TenantRecord
from tenantry_admin.lifecycle.copying import PartitionCopier, Progress
from tenantry_admin.lifecycle.journal import STEPS, MoveJournal, Step, describe, owner_alive, this_owner
from tenantry_admin.tenants import TenantAdmin

__all__ = ["MoveReport", "Mover", "parse_target"]

# Marked keys left after the online catch-up rounds that the pause may re-copy: this bounds the pause.
_PAUSE_BACKLOG = 10
_ROUNDS = 20
# Fault injection for the kill-and-resume tests: the process kills itself once this step is journaled.
_KILL_ENV = "TENANTRY_TEST_KILL_MOVE_AT"


class MoveReport(BaseModel):
    tenant_id: str
    move_id: str
    source: str
    target: str
    source_table: str
    target_table: str
    resumed_at: str | None = None
    copied: int = 0
    caught_up: int = 0
    kinds: list[dict[str, Any]] = []
    pause_seconds: float | None = None
    source_kept: bool = False
    changed: bool = True
    message: str = ""


def parse_target(value: str, cells: int) -> Placement:
    if value == "pool":
        return Placement(mode="pool", cell=0)
    if value == "silo":
        return Placement(mode="silo")
    kind, _, number = value.partition(":")
    if kind == "cell" and number.isdigit():
        if not 0 <= int(number) < cells:
            raise InvalidInputError(f"This deployment has cells 0 to {cells - 1}; there is no cell {number}.")
        return Placement(mode="cell", cell=int(number))
    raise InvalidInputError(f"Unknown placement '{value[:40]}': use pool, silo or cell:N.")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Mover:
    def __init__(
        self,
        admin: TenantAdmin,
        clients: TenantClients,
        marks: PlacementMarks,
        drain_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = lambda _: None,
        after_step: Callable[[Step], None] | None = None,
    ) -> None:
        self._admin = admin
        self._clients = clients
        self._marks = marks
        self._drain = drain_seconds
        self._sleep = sleep
        self._say = say
        # Told when a step's work is done (tests interleave a writer with every step through it).
        self._after_step = after_step

    def target_table(self, tenant_id: str, target: Placement) -> str:
        settings = self._admin.settings
        return table_for(tenant_id, target, settings.cells(), settings.silo_table_prefix)

    @staticmethod
    def _resumable(record: TenantRecord, target: Placement) -> MoveJournal | None:
        """The unfinished move to `target`, or None; ConflictError naming a move that runs or goes elsewhere."""
        if record.move is None:
            return None
        journal = MoveJournal.model_validate(record.move)
        alive = owner_alive(journal)
        if journal.target != target or alive:
            raise ConflictError(
                f"Tenant {record.tenant_id} is already being moved: {journal.id} to {describe(journal.target)}, "
                f"started {journal.started_at} by {journal.started_by or '?'} ({journal.owner}), at step "
                f"{journal.step}. "
                + (
                    "Wait for it to finish."
                    if alive
                    else f"Finish it with `tenantry tenants move {record.tenant_id} --to {describe(journal.target)}`."
                )
            )
        return journal

    def plan(self, tenant_id: str, target: Placement) -> str:
        """One line saying what a move would do (before confirmation)."""
        record = self._admin._changeable(tenant_id)
        journal = self._resumable(record, target)
        if journal is not None:
            return (
                f"Resume move {journal.id} of {tenant_id}: {describe(journal.source)} ({journal.source_table}) -> "
                f"{describe(journal.target)} ({journal.target_table}), at step {journal.step}."
            )
        source = self._admin.table_of(record)
        destination = self.target_table(tenant_id, target)
        if destination == source:
            return f"Tenant {tenant_id} already lives in {source}; nothing to move."
        items = PartitionCopier(self._clients, self._admin.context_for(record), source, destination).count(source)
        return (
            f"Move {tenant_id} from {describe(record.placement)} ({source}) to {describe(target)} ({destination}): "
            f"{items:,} item(s); writes pause for a few seconds at the end, reads never stop."
        )

    # -- the run ------------------------------------------------------------------------------
    def run(
        self, tenant_id: str, target: Placement, keep_source: bool = False, progress: Progress | None = None
    ) -> MoveReport:
        record = self._admin._changeable(tenant_id)
        resumed = None
        journal = self._resumable(record, target)
        if journal is not None:
            resumed = journal.step
            journal = self._save(tenant_id, journal.model_copy(update={"owner": this_owner()}))
        else:
            source_table = self._admin.table_of(record)
            target_table = self.target_table(tenant_id, target)
            if source_table == target_table:
                return MoveReport(
                    tenant_id=tenant_id,
                    move_id="-",
                    source=describe(record.placement),
                    target=describe(target),
                    source_table=source_table,
                    target_table=target_table,
                    changed=False,
                    message=f"Tenant {tenant_id} already lives in {target_table}; nothing to move.",
                )
            if target.mode == "silo":
                self._admin._ensure_silo_table(tenant_id)
            journal = MoveJournal(
                source=record.placement,
                target=target,
                source_table=source_table,
                target_table=target_table,
                keep_source=keep_source,
                started_by=self._admin.principal,
                epoch=int(time.time()),
            )
            journal = self._save(tenant_id, journal)
            self._admin.record_audit(
                tenant_id, "move", "allowed", f"started {journal.id}: {source_table} -> {target_table}"
            )
        report = MoveReport(
            tenant_id=tenant_id,
            move_id=journal.id,
            source=describe(journal.source),
            target=describe(journal.target),
            source_table=journal.source_table,
            target_table=journal.target_table,
            resumed_at=resumed,
            source_kept=journal.keep_source,
            copied=journal.copied,
        )
        copier = PartitionCopier(
            self._clients, self._admin.context_for(record), journal.source_table, journal.target_table
        )
        for step in STEPS[STEPS.index(journal.step) :]:
            journal = self._step(tenant_id, journal, step, copier, report, progress)
            if self._after_step is not None:
                self._after_step(step)
        report.pause_seconds = None if journal.pause_ms is None else journal.pause_ms / 1000
        self._admin.record_audit(
            tenant_id,
            "move",
            "allowed",
            f"completed {journal.id}: {journal.source_table} -> {journal.target_table}; "
            f"pause {(journal.pause_ms or 0) / 1000:.2f}s; source {'kept' if journal.keep_source else 'deleted'}",
        )
        report.message = (
            f"Moved {tenant_id} to {describe(journal.target)} ({journal.target_table}): {report.copied:,} item(s) "
            f"copied, {report.caught_up:,} re-copied after writes, verified; writes paused "
            f"{(journal.pause_ms or 0) / 1000:.2f} s; source {journal.source_table} "
            + ("kept." if journal.keep_source else "deleted.")
        )
        return report

    def _step(
        self,
        tenant_id: str,
        journal: MoveJournal,
        step: Step,
        copier: PartitionCopier,
        report: MoveReport,
        progress: Progress | None,
    ) -> MoveJournal:
        journal = self._save(tenant_id, journal.model_copy(update={"step": step}))
        if os.environ.get(_KILL_ENV) == step:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == "copy":
            self._marks.set_move(tenant_id, "copy")
            # Calls admitted before the mark do not mark their writes: let them finish before reading.
            self._sleep(self._drain)
            report.copied = copier.copy(progress, copier.count(journal.source_table) if progress else 0)
            journal = self._save(tenant_id, journal.model_copy(update={"copied": report.copied}))
        elif step == "catch-up":
            for _ in range(_ROUNDS):
                report.caught_up += len(copier.catch_up())
                if len(copier.marks()) <= _PAUSE_BACKLOG:
                    break
        elif step == "verify":
            self._verify(tenant_id, journal, copier, report)
        elif step == "pause":
            return self._pause(tenant_id, journal, copier, report)
        elif step == "flip":
            record = self._admin.get(tenant_id)
            self._admin.registry.save(record.model_copy(update={"placement": journal.target}), record.version)
            self._marks.flip(tenant_id, journal.target_table, journal.epoch)
            if journal.paused_at and journal.pause_ms is None:
                began = datetime.fromisoformat(journal.paused_at)
                ms = round((datetime.now(UTC) - began).total_seconds() * 1000)
                journal = self._save(tenant_id, journal.model_copy(update={"pause_ms": ms}))
        elif step == "drain":
            self._sleep(self._drain)  # reads admitted before the flip finish on the source
        elif step == "delete":
            self._delete_source(tenant_id, journal, copier)
        return journal

    def _verify(self, tenant_id: str, journal: MoveJournal, copier: PartitionCopier, report: MoveReport) -> None:
        verified = copier.verify()
        report.kinds = [
            {
                "kind": k.kind,
                "source_items": k.source_items,
                "target_items": k.target_items,
                "source_sha256": k.source_sha256,
                "target_sha256": k.target_sha256,
                "equal": k.equal,
            }
            for k in verified.kinds
        ]
        if not verified.ok:
            # Back to the copy: nothing was flipped, the tenant is still served from the source.
            self._save(tenant_id, journal.model_copy(update={"step": "copy"}))
            self._admin.record_audit(tenant_id, "move", "denied", f"{journal.id}: verification failed")
            raise ConflictError(
                f"Move {journal.id}: {len(verified.unexplained)} item(s) differ between {journal.source_table} and "
                f"{journal.target_table} without a write to explain it (first: {verified.unexplained[0]}); nothing "
                "was flipped and the tenant is served from the source. Run the move again to copy afresh."
            )

    def _pause(self, tenant_id: str, journal: MoveJournal, copier: PartitionCopier, report: MoveReport) -> MoveJournal:
        if journal.paused_at is None:
            # Writes went on during the verify: catch up online first, so the pause re-copies only
            # what the last round's seconds wrote (each round is shorter than the one before).
            for _ in range(_ROUNDS):
                if len(copier.marks()) <= _PAUSE_BACKLOG:
                    break
                report.caught_up += len(copier.catch_up())
            journal = self._save(tenant_id, journal.model_copy(update={"paused_at": _now()}))
        self._marks.set_move(tenant_id, "paused")
        # Writes admitted before the pause registered themselves; wait for them (not for the timeout).
        deadline = time.monotonic() + max(self._drain, 0.0)
        while self._marks.writers_in_flight(tenant_id, younger_than=max(self._drain, 1.0)):
            if time.monotonic() >= deadline:
                break
            self._sleep(0.02)
        while True:
            keys = copier.catch_up()
            if not keys:
                break
            report.caught_up += len(keys)
            different = [k for k in keys if not copier.same(k)]
            if different:
                # Should not happen with writes paused; resume serving writes from the source and stop.
                self._marks.set_move(tenant_id, "copy")
                self._save(tenant_id, journal.model_copy(update={"step": "catch-up", "paused_at": None}))
                raise ConflictError(
                    f"Move {journal.id}: {len(different)} item(s) still differ after the final catch-up (first: "
                    f"{different[0]}); writes were resumed on the source and nothing was flipped. Run the move again."
                )
        return journal

    def _delete_source(self, tenant_id: str, journal: MoveJournal, copier: PartitionCopier) -> None:
        if not journal.keep_source:
            if journal.source.mode == "silo":
                self._admin.drop_silo_table(tenant_id)
            else:
                copier.delete_partition(journal.source_table)
        record = self._admin.get(tenant_id)
        self._admin.registry.save(record.model_copy(update={"move": None}), record.version)

    def _save(self, tenant_id: str, journal: MoveJournal) -> MoveJournal:
        """Save the journal on the current record (a concurrent plan or name change is kept, not lost)."""
        journal = journal.model_copy(update={"heartbeat_at": _now()})
        for _ in range(5):
            record: TenantRecord = self._admin.get(tenant_id)
            try:
                self._admin.registry.save(
                    record.model_copy(update={"move": journal.model_dump(mode="json")}), record.version
                )
                return journal
            except ConflictError:
                continue
        raise ConflictError(f"Tenant {tenant_id} kept changing while the move saved its journal; run the move again.")
