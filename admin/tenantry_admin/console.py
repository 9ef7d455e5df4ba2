"""What every operator command writes through: the target's services and the two output streams.

Shared by commands.py and the modules that add commands (lifecycle/, fleet, bulk imports), so none
of them needs commands.py for it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from tenantry.dal.members import MembershipStore
from tenantry.dal.oauth import OAuthStore
from tenantry.errors import InvalidInputError
from tenantry_admin.offboarding import DRAIN_SECONDS
from tenantry_admin.tenants import TenantAdmin
from tenantry_admin.wiring import OperatorServices

__all__ = ["Command", "Ops", "ProgressBar", "table"]


@dataclass
class Ops:
    services: OperatorServices
    admin: TenantAdmin
    out: TextIO
    err: TextIO
    # Parallel deletes when offboarding: DynamoDB takes many; moto's in-process server is not thread-safe.
    delete_workers: int = 8
    # How long offboarding waits between refusing calls and deleting: the function timeout deployed;
    # locally a few seconds (the emulator's calls are short and the demo should not stall).
    drain_seconds: float = DRAIN_SECONDS
    # The authorization server's stores, when the target has them (memberships, sign-ins).
    members: MembershipStore | None = None
    oauth: OAuthStore | None = None

    def oauth_stores(self) -> tuple[MembershipStore, OAuthStore]:
        if self.members is None or self.oauth is None:
            raise InvalidInputError(
                "This target has no authorization server tables (MembersTable/OAuthTable outputs, or a "
                "local.json from an older `tenantry local`); deploy or restart the current version."
            )
        return self.members, self.oauth

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, sort_keys=False, default=str), file=self.out)


Command = Callable[[argparse.Namespace, Ops], int]


def table(ops: Ops, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        ops.say("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip())


class ProgressBar:
    """A stderr bar for large tenants: redrawn in place on a terminal, a line per quarter otherwise."""

    def __init__(self, stream: TextIO, label: str, threshold: int = 100, width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._threshold = threshold
        self._width = width
        self._tty = stream.isatty()
        self._shown_quarter = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if total < self._threshold:
            return
        filled = self._width * done // max(total, 1)
        text = f"{self._label} [{'#' * filled}{'.' * (self._width - filled)}] {done}/{total}"
        if self._tty:
            self._stream.write("\r" + text)
            self._drawn = True
        elif (quarter := 4 * done // max(total, 1)) > self._shown_quarter:
            self._shown_quarter = quarter
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
