"""The local user directory: demo people and the tenants each may act for.

Deployed, this is the user pool plus the tenant-membership lookup of the
pre-token-generation trigger; the rule is the same: a token's tenant is chosen
at sign-in among the user's memberships, and a user with none gets no token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEMO_USERS", "Directory", "DirectoryUser"]


@dataclass(frozen=True)
class DirectoryUser:
    email: str
    name: str
    tenants: tuple[str, ...]


DEMO_USERS = (
    DirectoryUser("owner@ironworks", "Ines Owner (Ironworks Gym)", ("ironworks-gym",)),
    DirectoryUser("owner@lotus", "Lou Owner (Lotus Yoga)", ("lotus-yoga",)),
    DirectoryUser("owner@summit", "Sam Owner (Summit Climbing)", ("summit-climbing",)),
    # One person serving three studios: the tenant is picked at sign-in, per token.
    DirectoryUser("accountant@books", "Alex Accountant", ("ironworks-gym", "lotus-yoga", "summit-climbing")),
    # Signed in but a member of nothing: must get no token.
    DirectoryUser("visitor@nowhere", "Vic Visitor (no tenant)", ()),
)


class Directory:
    def __init__(self, users: Iterable[DirectoryUser], tenant_names: dict[str, str] | None = None) -> None:
        self._users = {user.email: user for user in users}
        self.tenant_names = dict(tenant_names or {})

    def get(self, email: str) -> DirectoryUser | None:
        return self._users.get(email.strip().lower())

    def users(self) -> list[DirectoryUser]:
        return list(self._users.values())

    def tenant_name(self, tenant_id: str) -> str:
        return self.tenant_names.get(tenant_id, tenant_id)
