"""SnapStart runtime hooks, registered with the module Lambda's Python runtime provides.

`snapshot_restore_py` exists only in Lambda's managed Python runtimes (3.12+); elsewhere
(the laptop, the local emulator) there is no snapshot and nothing to register. Tests put
a small stand-in under that name to run the hooks in process.
"""

from __future__ import annotations

import importlib
from typing import Protocol

__all__ = ["RUNTIME_HOOKS_MODULE", "SnapshotAware", "register_hooks"]

RUNTIME_HOOKS_MODULE = "snapshot_restore_py"


class SnapshotAware(Protocol):
    def before_snapshot(self) -> None: ...

    def after_restore(self) -> None: ...


def register_hooks(target: SnapshotAware) -> bool:
    """Register `target`'s hooks with the runtime; False where the runtime offers none."""
    try:
        hooks = importlib.import_module(RUNTIME_HOOKS_MODULE)
    except ModuleNotFoundError:
        return False
    hooks.register_before_snapshot(target.before_snapshot)
    hooks.register_after_restore(target.after_restore)
    return True
