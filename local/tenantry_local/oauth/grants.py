"""Authorization codes, refresh tokens and the grants they belong to (in memory).

A grant is one sign-in: its code, and every refresh token rotated from it. A
reused code or a replayed (already rotated) refresh token revokes the whole
grant, as OAuth 2.1 advises. Access tokens are self-contained JWTs checked by
the gateway without calling back here, so they live until they expire (short).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["CodeRecord", "GrantStore", "RefreshRecord"]


@dataclass
class CodeRecord:
    client_id: str
    redirect_uri: str
    code_challenge: str
    resource: str
    scope: str
    subject: str
    tenant_id: str
    expires_at: float
    grant_id: str
    used: bool = False


@dataclass
class RefreshRecord:
    client_id: str
    resource: str
    scope: str
    subject: str
    tenant_id: str
    expires_at: float
    grant_id: str
    used: bool = False


_R = TypeVar("_R", CodeRecord, RefreshRecord)


class GrantStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._codes: dict[str, CodeRecord] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def new_code(self, record: CodeRecord) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            self._codes[code] = record
        return code

    def redeem_code(self, code: str) -> tuple[CodeRecord | None, bool]:
        """(record, first_use): the record is marked used either way, so a code works once."""
        return self._redeem(self._codes, code)

    def new_refresh(self, record: RefreshRecord) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = record
        return token

    def redeem_refresh(self, token: str) -> tuple[RefreshRecord | None, bool]:
        return self._redeem(self._refresh, token)

    def _redeem(self, store: dict[str, _R], key: str) -> tuple[_R | None, bool]:
        with self._lock:
            record = store.get(key)
            if record is None or record.expires_at < self._clock() or record.grant_id in self._revoked:
                return None, False
            first = not record.used
            record.used = True
            return record, first

    def revoke(self, grant_id: str) -> None:
        with self._lock:
            self._revoked.add(grant_id)

    def is_revoked(self, grant_id: str) -> bool:
        with self._lock:
            return grant_id in self._revoked

    def _drop_expired(self) -> None:
        now = self._clock()
        for code in [code for code, record in self._codes.items() if record.expires_at < now - 600]:
            del self._codes[code]
