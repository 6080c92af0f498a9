"""Retry timing: exponential backoff with full jitter, capped (AWS architecture blog's
"full jitter": sleep = random(0, min(cap, base * 2**attempt)))."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=5)

    def delay(self, attempt: int, rand: Callable[[], float]) -> timedelta:
        """Delay before the next try after ``attempt`` (1-based) failed; ``rand`` in [0, 1)."""
        ceiling: timedelta = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return timedelta(seconds=ceiling.total_seconds() * rand())
