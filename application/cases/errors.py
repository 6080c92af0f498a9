"""Typed errors of the case and incident use cases (each code is in ``docs/errors.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from domain.shared import DomainError


@dataclass(frozen=True, slots=True)
class IncidentAlreadyOpen(DomainError):
    """One live incident per order at a time: the order's payout hold names it."""

    code: ClassVar[str] = "INCIDENT_ALREADY_OPEN"
    order_id: str
    case_id: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} already has an open incident: case {self.case_id}"


@dataclass(frozen=True, slots=True)
class NotAnIncident(DomainError):
    """Incident actions apply to order incidents only."""

    code: ClassVar[str] = "CASE_NOT_AN_INCIDENT"
    case_id: str
    kind: str

    @property
    def message(self) -> str:
        return f"case {self.case_id} is a {self.kind} case; incident actions apply to order incidents"


@dataclass(frozen=True, slots=True)
class CaseFollowsDispute(DomainError):
    """A dispute's case is resolved by its dispute (resolved or withdrawn), not by hand."""

    code: ClassVar[str] = "CASE_FOLLOWS_DISPUTE"
    case_id: str
    dispute_id: str
    dispute_status: str

    @property
    def message(self) -> str:
        return (
            f"case {self.case_id} resolves with dispute {self.dispute_id}, which is {self.dispute_status};"
            " decide or withdraw the dispute"
        )


@dataclass(frozen=True, slots=True)
class CaseFollowsPlatformIncident(DomainError):
    """A platform incident's own case moves with the incident (D46), never by hand: its
    status updates, mitigation, resolution and closing are the incident's."""

    code: ClassVar[str] = "CASE_FOLLOWS_PLATFORM_INCIDENT"
    case_id: str
    incident_id: str

    @property
    def message(self) -> str:
        return (
            f"case {self.case_id} follows platform incident {self.incident_id}:"
            " use platformIncidentUpdate / platformIncidentClose"
        )
