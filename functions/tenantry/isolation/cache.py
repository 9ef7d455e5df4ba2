"""The one helper that builds in-process cache keys: the tenant id always comes first."""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["tenant_cache_key"]


def tenant_cache_key(tenant_id: str, *parts: Hashable) -> tuple[Hashable, ...]:
    """A key no other tenant can produce: (tenant_id, *parts). Refuses an empty tenant."""
    if not tenant_id:
        raise ValueError("a tenant-scoped cache key needs a tenant id")
    return (tenant_id, *parts)
