"""Deterministic clock and ids for tests (time travel, never sleeps)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment


class SequentialIds:
    def __init__(self, namespace: str = "") -> None:
        self._counter = itertools.count(1)
        self._namespace = namespace

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._namespace}{next(self._counter):06d}"
