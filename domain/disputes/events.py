"""Past-tense facts recorded by the :class:`~domain.disputes.dispute.Dispute` aggregate.

Every event names the dispute, its order and its country (the outbox routes and the
audit log scopes by them) and carries the dispute's ``version`` after the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.evidence import ActorRef, EvidenceKind
from domain.disputes.status import DisputeOrigin
from domain.shared.country import CountryCode
from domain.shared.events import DomainEvent
from domain.shared.ids import DisputeId, EvidenceId, OrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeEvent(DomainEvent):
    dispute_id: DisputeId
    order_id: OrderId
    country: CountryCode
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeOpened(DisputeEvent):
    reason: DisputeReason
    origin: DisputeOrigin
    opened_by: ActorRef
    evidence_deadline: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceGatheringStarted(DisputeEvent):
    """OPEN -> GATHERING_EVIDENCE, explicitly or on the first party submission."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceSubmitted(DisputeEvent):
    evidence_id: EvidenceId
    kind: EvidenceKind
    content_sha256: str
    submitted_by: ActorRef
    submitted_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformFactsAttached(DisputeEvent):
    evidence_pack_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptAttached(DisputeEvent):
    message_count: int
    evidence_pack_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeReviewStarted(DisputeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeDecided(DisputeEvent):
    outcome: OutcomeCode
    reason_code: DecisionReasonCode
    partial_refund_tier_bp: int | None
    decided_by: ActorRef
    evidence_pack_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeWithdrawn(DisputeEvent):
    withdrawn_by: ActorRef
    reason: str
    evidence_pack_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeExecutionStarted(DisputeEvent):
    outcome: OutcomeCode


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeResolved(DisputeEvent):
    outcome: OutcomeCode


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeExecutionFailed(DisputeEvent):
    error_summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeReplayed(DisputeEvent):
    replayed_by: ActorRef
    outcome: OutcomeCode
