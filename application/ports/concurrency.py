"""Optimistic concurrency: a lost update is a typed conflict, never silent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from domain.shared import DomainError


@dataclass(frozen=True, slots=True)
class ConcurrencyConflict(DomainError):
    """The aggregate changed since it was read (its version moved on): reload and retry."""

    code: ClassVar[str] = "CONCURRENCY_CONFLICT"
    aggregate: str
    aggregate_id: str
    expected_version: int

    @property
    def message(self) -> str:
        return (
            f"{self.aggregate} {self.aggregate_id} was changed by someone else "
            f"(expected version {self.expected_version}); reload and retry"
        )
