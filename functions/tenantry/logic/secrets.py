"""What a tenant's users may learn about its integration secrets: names and fingerprints."""

from __future__ import annotations

from pydantic import BaseModel

from tenantry.dal.secrets import SecretInfo, SecretStore
from tenantry.tenancy.context import current_tenant

__all__ = ["SecretList", "SecretService"]


class SecretList(BaseModel):
    secrets: list[SecretInfo]


class SecretService:
    def __init__(self, store: SecretStore) -> None:
        self._store = store

    def list(self) -> SecretList:
        return SecretList(secrets=self._store.list(current_tenant()))
