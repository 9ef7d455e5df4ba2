"""Lambda's init phase without the cyclic garbage collector, and what it built frozen afterwards.

Importing the SDKs and building the app allocates hundreds of thousands of long-lived objects
(pydantic schemas, botocore models, modules), and every few hundred allocations CPython's cyclic
collector walks the young ones, then, now and then, the whole heap, finding almost nothing to
free. Switching it off for init and calling `gc.freeze()` at the end moves everything init built
into the permanent generation: init runs faster (the bench's cold rows show by how much), and
later collections, during requests, no longer walk the import-time heap. Reference counting still
frees what init drops; only cycles created during init and dropped before its end stay allocated,
which is a bounded, one-off amount.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["init_phase"]


@contextmanager
def init_phase() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
