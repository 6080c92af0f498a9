"""Clock port: the one source of "now" (the domain never reads a clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant as a timezone-aware datetime (UTC by convention)."""
        ...
