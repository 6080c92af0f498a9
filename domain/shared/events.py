"""Domain events: immutable, past-tense facts recorded by aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every event. ``occurred_at`` is passed in by the caller (no clock here)."""

    occurred_at: datetime

    @property
    def name(self) -> str:
        return type(self).__name__
