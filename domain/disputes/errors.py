"""Typed, expected failures of the dispute domain (values, never raised).

Each has a stable ``code`` (to be catalogued in ``docs/errors.md``). Field-level input
problems (naive datetimes, blank text, malformed hashes) are the shared
:class:`~domain.shared.errors.InvalidInput`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, TypeAlias

from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from domain.disputes.evidence import utc_iso
from domain.disputes.status import DisputeStatus
from domain.orders.errors import DisputeWindowClosed
from domain.shared.errors import DomainError, InvalidInput


@dataclass(frozen=True, slots=True)
class IllegalDisputeTransition(DomainError):
    """``from_status -> to_status`` is not an edge of the lifecycle (or not for this command)."""

    code: ClassVar[str] = "ILLEGAL_DISPUTE_TRANSITION"
    from_status: DisputeStatus
    to_status: DisputeStatus
    detail: str = ""

    @property
    def message(self) -> str:
        base = f"a dispute cannot go from {self.from_status} to {self.to_status}"
        return f"{base}: {self.detail}" if self.detail else base


@dataclass(frozen=True, slots=True)
class EvidenceDeadlinePassed(DomainError):
    """Submissions close at the evidence deadline (a submission exactly at it is accepted)."""

    code: ClassVar[str] = "EVIDENCE_DEADLINE_PASSED"
    deadline: datetime
    attempted_at: datetime

    @property
    def message(self) -> str:
        return f"evidence closed at {utc_iso(self.deadline)}"


@dataclass(frozen=True, slots=True)
class EvidencePackFrozen(DomainError):
    """The pack was frozen by the decision (or by withdrawal) and can no longer change."""

    code: ClassVar[str] = "EVIDENCE_PACK_FROZEN"
    status: DisputeStatus

    @property
    def message(self) -> str:
        return f"the evidence pack is frozen (dispute is {self.status})"


@dataclass(frozen=True, slots=True)
class EvidencePackIncomplete(DomainError):
    """A decision needs every prong attached (an empty transcript counts as attached)."""

    code: ClassVar[str] = "EVIDENCE_PACK_INCOMPLETE"
    missing: tuple[str, ...]

    @property
    def message(self) -> str:
        return "the evidence pack lacks " + ", ".join(self.missing)


@dataclass(frozen=True, slots=True)
class DuplicateEvidenceId(DomainError):
    """The evidence id is already used in this pack for different content or by someone else."""

    code: ClassVar[str] = "DUPLICATE_EVIDENCE_ID"
    evidence_id: str

    @property
    def message(self) -> str:
        return f"evidence id {self.evidence_id!r} is already used in this dispute"


@dataclass(frozen=True, slots=True)
class TooManySubmissions(DomainError):
    code: ClassVar[str] = "TOO_MANY_SUBMISSIONS"
    limit: int

    @property
    def message(self) -> str:
        return f"a dispute accepts at most {self.limit} submissions"


@dataclass(frozen=True, slots=True)
class ForceCompleteNotADisputeOutcome(DomainError):
    """``FORCE_COMPLETE`` belongs to live incidents (L3), never to a dispute decision."""

    code: ClassVar[str] = "FORCE_COMPLETE_NOT_A_DISPUTE_OUTCOME"

    @property
    def message(self) -> str:
        return "FORCE_COMPLETE is a live-incident action, not a dispute outcome"


@dataclass(frozen=True, slots=True)
class PartialRefundTierRequired(DomainError):
    code: ClassVar[str] = "PARTIAL_REFUND_TIER_REQUIRED"

    @property
    def message(self) -> str:
        return "PARTIAL_REFUND needs a tier from the refund policy"


@dataclass(frozen=True, slots=True)
class PartialRefundTierForbidden(DomainError):
    code: ClassVar[str] = "PARTIAL_REFUND_TIER_FORBIDDEN"
    outcome: OutcomeCode
    tier_bp: int

    @property
    def message(self) -> str:
        return f"only PARTIAL_REFUND takes a tier, not {self.outcome}"


@dataclass(frozen=True, slots=True)
class PartialRefundTierNotInPolicy(DomainError):
    code: ClassVar[str] = "PARTIAL_REFUND_TIER_NOT_IN_POLICY"
    tier_bp: int
    allowed_tiers_bp: tuple[int, ...]

    @property
    def message(self) -> str:
        allowed = ", ".join(str(tier) for tier in self.allowed_tiers_bp)
        return f"tier {self.tier_bp} bp is not one of the policy's tiers ({allowed})"


@dataclass(frozen=True, slots=True)
class ReservedDecisionReason(DomainError):
    """A reason code only the system may use (``OPERATIONAL_CANCELLATION``)."""

    code: ClassVar[str] = "RESERVED_DECISION_REASON"
    reason_code: DecisionReasonCode

    @property
    def message(self) -> str:
        return f"{self.reason_code} is reserved for automatically opened disputes"


OpenDisputeError: TypeAlias = DisputeWindowClosed | InvalidInput
TransitionError: TypeAlias = IllegalDisputeTransition | InvalidInput
AttachEvidenceError: TypeAlias = EvidencePackFrozen | InvalidInput
SubmitEvidenceError: TypeAlias = (
    EvidencePackFrozen | EvidenceDeadlinePassed | DuplicateEvidenceId | TooManySubmissions | InvalidInput
)
DecideError: TypeAlias = (
    IllegalDisputeTransition
    | ForceCompleteNotADisputeOutcome
    | PartialRefundTierRequired
    | PartialRefundTierForbidden
    | PartialRefundTierNotInPolicy
    | ReservedDecisionReason
    | EvidencePackIncomplete
    | InvalidInput
)
DisputeError: TypeAlias = (
    OpenDisputeError | TransitionError | AttachEvidenceError | SubmitEvidenceError | DecideError
)
"""Every failure a :class:`~domain.disputes.dispute.Dispute` method can return."""
