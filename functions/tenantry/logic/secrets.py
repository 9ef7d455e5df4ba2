"""What a tenant's users may learn about its integration secrets: names and fingerprints."""

from __future__ import annotations

from pydantic import BaseModel

from tenantry.dal.secrets import SecretInfo, SecretStore
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import current_tenant

__all__ = ["SecretList", "SecretService"]


class SecretList(BaseModel):
    model_config = BUILT_WHEN_USED
    secrets: list[SecretInfo]


class SecretService:
    def __init__(self, store: SecretStore) -> None:
        self._store = store

    def list(self) -> SecretList:
        return SecretList(secrets=self._store.list(current_tenant()))
