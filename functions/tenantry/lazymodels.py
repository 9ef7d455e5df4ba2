"""Pydantic models built when first used, not at import, and the call that builds every one left.

A pydantic model compiles its validator and serializer when its class is created: a millisecond or
several each (the first pattern of a kind compiles a regex; the e-mail pattern ~6 ms). An on-demand
Lambda init runs on the first caller's clock, and that call needs only a few of Tenantry's models, so
the others take `defer_build` and compile on first use. A SnapStart or provisioned init is nobody's
wait: `build_deferred_models` compiles them all there, so the snapshot holds them built.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

__all__ = ["BUILT_WHEN_USED", "build_deferred_models", "deferred_models"]

BUILT_WHEN_USED = ConfigDict(defer_build=True)


def _subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def deferred_models() -> list[str]:
    """Tenantry's models whose validator is not built yet, by qualified name."""
    found = {m for m in _subclasses(BaseModel) if m.__module__.startswith("tenantry.") and not m.__pydantic_complete__}
    return sorted(f"{m.__module__}.{m.__qualname__}" for m in found)


def build_deferred_models() -> None:
    for model in set(_subclasses(BaseModel)):
        if model.__module__.startswith("tenantry.") and not model.__pydantic_complete__:
            model.model_rebuild()
