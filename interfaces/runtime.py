"""Process-level tuning for the long-running commands (``serve``, ``worker``; D63).

CPython's cyclic garbage collector runs a young-generation pass every 700 net allocations
and, every hundred of those, walks the whole heap - here a large one: the GraphQL schema,
SQLAlchemy's metadata and compiled caches, every imported module. A page of 50 disputes
allocates tens of thousands of objects, so a request paid for several full walks of objects
that live as long as the process (a quarter of the console list's CPU in the benchmark).

:func:`tune_gc` runs once, when the service or a worker has started: it collects, moves
every object alive at that point into the permanent generation (``gc.freeze``: never
scanned again), and raises the young generation's threshold so that short-lived request
garbage is mostly freed by reference counting before a pass runs. Cycles are still
collected, only less often; memory held by uncollected cycles stays bounded by the threshold.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_GENERATION_THRESHOLD: Final = 50_000


def tune_gc(young: int = YOUNG_GENERATION_THRESHOLD) -> None:
    """Freeze what start-up built and collect the young generation every ``young`` allocations."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
