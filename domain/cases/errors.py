"""Typed errors of cases (each code is listed in ``docs/errors.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from domain.shared import DomainError, InvalidInput


@dataclass(frozen=True, slots=True)
class IllegalCaseTransition(DomainError):
    code: ClassVar[str] = "ILLEGAL_CASE_TRANSITION"
    from_status: str
    to_status: str

    @property
    def message(self) -> str:
        return f"a case cannot go from {self.from_status} to {self.to_status}"


@dataclass(frozen=True, slots=True)
class CaseClosed(DomainError):
    """The case is resolved or closed; it takes no more work (a rating aside)."""

    code: ClassVar[str] = "CASE_CLOSED"
    case_id: str
    status: str

    @property
    def message(self) -> str:
        return f"case {self.case_id} is {self.status}; it takes no more changes"


@dataclass(frozen=True, slots=True)
class AlreadyAtTopTier(DomainError):
    code: ClassVar[str] = "ALREADY_AT_TOP_TIER"
    case_id: str

    @property
    def message(self) -> str:
        return f"case {self.case_id} is already at L3; it cannot be escalated further"


@dataclass(frozen=True, slots=True)
class CaseNotResolved(DomainError):
    code: ClassVar[str] = "CASE_NOT_RESOLVED"
    case_id: str
    status: str

    @property
    def message(self) -> str:
        return f"case {self.case_id} is {self.status}; only a resolved case can be rated"


@dataclass(frozen=True, slots=True)
class AlreadyRated(DomainError):
    code: ClassVar[str] = "CASE_ALREADY_RATED"
    case_id: str

    @property
    def message(self) -> str:
        return f"case {self.case_id} has already been rated; a rating is given once"


CaseError = IllegalCaseTransition | CaseClosed | AlreadyAtTopTier | InvalidInput
RateError = CaseNotResolved | AlreadyRated | InvalidInput
