"""The real clock and id generator."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TimeOrderedIds:
    """Ids that sort by creation time: ``<prefix>_<ms since epoch, 12 hex><80 random bits>``.

    Time-ordered like ULIDs/UUIDv7, so keyset pagination by id follows creation order and
    index inserts stay local.
    """

    def new_id(self, prefix: str) -> str:
        millis = time.time_ns() // 1_000_000
        return f"{prefix}_{millis:012x}{os.urandom(10).hex()}"
