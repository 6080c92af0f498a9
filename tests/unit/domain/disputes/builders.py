"""Small builders for the dispute tests: a dispute in any status, evidence, commands."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from returns.result import Result

from domain.disputes import (
    ConversationTranscript,
    DecideError,
    Decision,
    DeliveryProof,
    Dispute,
    DisputeStatus,
    EvidencePack,
    EvidenceSubmission,
    GpsPoint,
    PlatformFacts,
    TimelineEntry,
    TranscriptEntry,
)
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.shared import CountryCode
from domain.shared.ids import ActorId, DisputeId, OrderId

S = DisputeStatus
MX = CountryCode("MX")
DELIVERED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPENED_AT = DELIVERED_AT + timedelta(hours=5)
DISPUTE_WINDOW = timedelta(hours=72)
EVIDENCE_WINDOW = timedelta(hours=48)
DEADLINE = OPENED_AT + EVIDENCE_WINDOW
LATER = OPENED_AT + timedelta(hours=1)
US = timedelta(microseconds=1)
BUYER = ActorId("buyer-1")
SELLER = ActorId("seller-1")
AGENT = ActorId("agent-7")
LEAD = ActorId("lead-3")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def open_dispute(**overrides: Any) -> Dispute:
    kwargs: dict[str, Any] = {
        "dispute_id": DisputeId("dsp-1"),
        "order_id": OrderId("ord-1"),
        "country": MX,
        "reason": DisputeReason.DAMAGED,
        "opened_by_actor": BUYER,
        "opened_by_role": "BUYER",
        "statement": "The mug arrived broken.",
        "delivered_at": DELIVERED_AT,
        "now": OPENED_AT,
        "dispute_window": DISPUTE_WINDOW,
        "evidence_window": EVIDENCE_WINDOW,
    }
    kwargs.update(overrides)
    dispute = Dispute.open(**kwargs).unwrap()
    dispute.pull_events()
    return dispute


def statement(
    evidence_id: str = "ev-1",
    *,
    actor: str = SELLER,
    role: str = "SELLER",
    at: datetime = LATER,
    text: str = "It left the shop intact.",
) -> EvidenceSubmission:
    return EvidenceSubmission.of_statement(
        evidence_id=evidence_id, submitted_by_actor=actor, submitted_by_role=role, submitted_at=at, text=text
    ).unwrap()


def file(
    evidence_id: str = "ev-f1",
    *,
    actor: str = BUYER,
    role: str = "BUYER",
    at: datetime = LATER,
    content: str = "photo-bytes",
    filename: str = "broken.jpg",
    media_type: str = "image/jpeg",
    size: int = 2048,
) -> EvidenceSubmission:
    return EvidenceSubmission.of_file(
        evidence_id=evidence_id,
        submitted_by_actor=actor,
        submitted_by_role=role,
        submitted_at=at,
        content_sha256=sha(content),
        filename=filename,
        media_type=media_type,
        size_bytes=size,
    ).unwrap()


def facts(variant: int = 0) -> PlatformFacts:
    return PlatformFacts(
        timeline=(
            TimelineEntry(DELIVERED_AT - timedelta(hours=3), "PAID", "captured"),
            TimelineEntry(DELIVERED_AT - timedelta(hours=1), "IN_TRANSIT", f"courier c-{variant}"),
            TimelineEntry(DELIVERED_AT, "DELIVERED"),
        ),
        delivery_proof=DeliveryProof(
            delivered_at=DELIVERED_AT,
            gps_points=(
                GpsPoint(DELIVERED_AT - timedelta(minutes=5), 19_432_608, -99_133_209),
                GpsPoint(DELIVERED_AT, 19_432_700 + variant, -99_133_100),
            ),
            photo_sha256=(sha("door photo"),),
        ),
    )


def transcript(messages: int = 2) -> ConversationTranscript:
    return ConversationTranscript(
        conversation_id="conv-1",
        entries=tuple(
            TranscriptEntry(
                message_id=f"msg-{i}",
                sender_role="BUYER" if i % 2 == 0 else "SELLER",
                sent_at=OPENED_AT + timedelta(minutes=i),
                body_sha256=sha(f"body {i}"),
                blocked=i == 1,
                chain_hash=sha(f"chain {i}"),
            )
            for i in range(messages)
        ),
    )


def full_pack(dispute: Dispute) -> EvidencePack:
    return dispute.evidence.with_platform_facts(facts()).with_transcript(transcript())


def decide(
    dispute: Dispute,
    at: datetime = LATER,
    *,
    outcome: OutcomeCode = OutcomeCode.REJECTED,
    reason_code: DecisionReasonCode = DecisionReasonCode.EVIDENCE_SUPPORTS_SELLER,
    tier: int | None = None,
    allowed: tuple[int, ...] | None = (2_500, 5_000),
) -> Result[Decision, DecideError]:
    return dispute.decide(
        outcome=outcome,
        reason_code=reason_code,
        decided_by_actor=AGENT,
        decided_by_role="L2",
        at=at,
        note="photos match the seller's packing video",
        partial_refund_tier_bp=tier,
        allowed_tiers_bp=allowed,
    )


# One command per target status; EXECUTING has two (first run and replay).
Command = Callable[[Dispute, datetime], Result[object, object]]
COMMANDS: dict[str, tuple[DisputeStatus, Command]] = {
    "start_gathering": (S.GATHERING_EVIDENCE, lambda d, at: d.start_gathering(at)),
    "start_review": (S.UNDER_REVIEW, lambda d, at: d.start_review(at)),
    "decide": (S.DECIDED, decide),
    "start_execution": (S.EXECUTING, lambda d, at: d.start_execution(at)),
    "replay": (S.EXECUTING, lambda d, at: d.replay(at=at, by_actor=LEAD, by_role="L3")),
    "mark_resolved": (S.RESOLVED, lambda d, at: d.mark_resolved(at)),
    "mark_execution_failed": (
        S.EXECUTION_FAILED,
        lambda d, at: d.mark_execution_failed(at, "psp refund timed out"),
    ),
    "withdraw": (
        S.WITHDRAWN,
        lambda d, at: d.withdraw(at=at, by_actor=BUYER, by_role="BUYER", reason="sorted it out"),
    ),
}

# The command that walks each legal edge.
EDGE_COMMAND: dict[tuple[DisputeStatus, DisputeStatus], str] = {
    (S.OPEN, S.GATHERING_EVIDENCE): "start_gathering",
    (S.OPEN, S.UNDER_REVIEW): "start_review",
    (S.OPEN, S.WITHDRAWN): "withdraw",
    (S.GATHERING_EVIDENCE, S.UNDER_REVIEW): "start_review",
    (S.GATHERING_EVIDENCE, S.WITHDRAWN): "withdraw",
    (S.UNDER_REVIEW, S.DECIDED): "decide",
    (S.UNDER_REVIEW, S.WITHDRAWN): "withdraw",
    (S.DECIDED, S.EXECUTING): "start_execution",
    (S.EXECUTING, S.RESOLVED): "mark_resolved",
    (S.EXECUTING, S.EXECUTION_FAILED): "mark_execution_failed",
    (S.EXECUTION_FAILED, S.EXECUTING): "replay",
}

_PATHS: dict[DisputeStatus, tuple[str, ...]] = {
    S.OPEN: (),
    S.GATHERING_EVIDENCE: ("start_gathering",),
    S.UNDER_REVIEW: ("start_gathering", "start_review"),
    S.DECIDED: ("start_gathering", "start_review", "decide"),
    S.EXECUTING: ("start_gathering", "start_review", "decide", "start_execution"),
    S.RESOLVED: ("start_gathering", "start_review", "decide", "start_execution", "mark_resolved"),
    S.EXECUTION_FAILED: (
        "start_gathering",
        "start_review",
        "decide",
        "start_execution",
        "mark_execution_failed",
    ),
    S.WITHDRAWN: ("withdraw",),
}


def dispute_in(status: DisputeStatus) -> Dispute:
    """A dispute walked to ``status`` through legal commands, with facts and a transcript."""
    dispute = open_dispute()
    dispute.attach_platform_facts(facts(), OPENED_AT).unwrap()
    dispute.attach_transcript(transcript(), OPENED_AT).unwrap()
    for name in _PATHS[status]:
        COMMANDS[name][1](dispute, OPENED_AT + timedelta(minutes=1)).unwrap()
    assert dispute.status is status
    dispute.pull_events()
    return dispute


def state(dispute: Dispute) -> tuple[object, ...]:
    """Everything a failed command must leave untouched."""
    return (
        dispute.status,
        dispute.version,
        dispute.updated_at,
        dispute.evidence_deadline,
        dispute.evidence,
        dispute.decision,
        dispute.withdrawal,
        dispute.last_execution_error,
    )
