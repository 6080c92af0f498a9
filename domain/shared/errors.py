"""Domain errors are values, not exceptions.

Every expected failure is a frozen dataclass deriving from :class:`DomainError`, with a
stable machine-readable ``code`` (catalogued in ``docs/errors.md``) and a human message.
Use cases return them inside ``returns.result.Failure``; GraphQL maps them onto typed
union members. Exceptions are reserved for bugs (broken invariants) and infrastructure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class DomainError:
    """Base of every expected, typed failure."""

    code: ClassVar[str] = "DOMAIN_ERROR"

    @property
    def message(self) -> str:
        return self.code.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class InvalidInput(DomainError):
    """A value given to the domain breaks one of its rules (bad country, bad currency...)."""

    code: ClassVar[str] = "INVALID_INPUT"
    field: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.reason}"


class InvariantViolation(Exception):
    """A broken invariant: a bug in the caller, never an expected outcome."""


class CurrencyMismatch(InvariantViolation):
    """Arithmetic or comparison across two currencies was attempted."""
