"""``tune_gc`` (D63): start-up objects frozen, the young generation collected less often,
and cycles still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from interfaces.runtime import YOUNG_GENERATION_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_tune_gc_freezes_start_up_and_raises_the_young_threshold(restored_gc: None) -> None:
    _, middle, old = gc.get_threshold()
    before = gc.get_freeze_count()
    tune_gc()
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > before
    assert gc.isenabled()


def test_cycles_made_after_tuning_are_still_collected(restored_gc: None) -> None:
    tune_gc(young=1_000)
    node = Node()
    gone = weakref.ref(node)
    del node
    kept: list[list[int]] = [
        [] for _ in range(5_000)
    ]  # net allocations past the threshold: a young pass runs
    assert len(kept) == 5_000
    assert gone() is None
