"""The dispute state machine: every legal edge, every illegal one, decisions and evidence."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from returns.result import Failure, Success

from domain.disputes import (
    DISPUTE_TRANSITIONS,
    MAX_SUBMISSIONS_PER_DISPUTE,
    ActorRef,
    ConversationTranscript,
    Decision,
    Dispute,
    DisputeDecided,
    DisputeExecutionFailed,
    DisputeExecutionStarted,
    DisputeReplayed,
    DisputeResolved,
    DisputeReviewStarted,
    DisputeStatus,
    DisputeWithdrawn,
    DuplicateEvidenceId,
    EvidenceDeadlinePassed,
    EvidenceGatheringStarted,
    EvidencePackFrozen,
    EvidencePackIncomplete,
    EvidenceSubmitted,
    ForceCompleteNotADisputeOutcome,
    IllegalDisputeTransition,
    PartialRefundTierForbidden,
    PartialRefundTierNotInPolicy,
    PartialRefundTierRequired,
    PlatformFactsAttached,
    ReservedDecisionReason,
    TooManySubmissions,
    TranscriptAttached,
    Withdrawal,
)
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from domain.disputes.dispute import MAX_ERROR_SUMMARY_CHARS
from domain.shared import InvalidInput, InvariantViolation
from tests.unit.domain.disputes.builders import (
    AGENT,
    BUYER,
    COMMANDS,
    DEADLINE,
    EDGE_COMMAND,
    LATER,
    LEAD,
    OPENED_AT,
    SELLER,
    US,
    decide,
    dispute_in,
    facts,
    file,
    open_dispute,
    state,
    statement,
    transcript,
)

S = DisputeStatus
AT = OPENED_AT + timedelta(hours=2)

EXPECTED_EVENT = {
    "start_gathering": EvidenceGatheringStarted,
    "start_review": DisputeReviewStarted,
    "decide": DisputeDecided,
    "start_execution": DisputeExecutionStarted,
    "replay": DisputeReplayed,
    "mark_resolved": DisputeResolved,
    "mark_execution_failed": DisputeExecutionFailed,
    "withdraw": DisputeWithdrawn,
}


def test_the_table_is_the_specified_one() -> None:
    edges = {(a, b) for a, targets in DISPUTE_TRANSITIONS.items() for b in targets}
    assert edges == set(EDGE_COMMAND)
    assert set(DISPUTE_TRANSITIONS) == set(S)
    assert {s for s in S if s.is_terminal} == {S.RESOLVED, S.WITHDRAWN}
    assert not any(S.OPEN in targets for targets in DISPUTE_TRANSITIONS.values())


@pytest.mark.parametrize(("source", "target"), sorted(EDGE_COMMAND))
def test_every_legal_edge(source: DisputeStatus, target: DisputeStatus) -> None:
    dispute = dispute_in(source)
    version = dispute.version
    name = EDGE_COMMAND[(source, target)]
    assert isinstance(COMMANDS[name][1](dispute, AT), Success)
    assert dispute.status is target
    assert dispute.version == version + 1
    assert dispute.updated_at == AT
    (event,) = dispute.pull_events()
    assert isinstance(event, EXPECTED_EVENT[name])
    assert event.occurred_at == AT
    assert event.version == dispute.version
    assert (event.dispute_id, event.order_id, event.country) == (
        dispute.id,
        dispute.order_id,
        dispute.country,
    )


ALL_ATTEMPTS = [
    (source, name)
    for source, name in itertools.product(S, COMMANDS)
    if EDGE_COMMAND.get((source, COMMANDS[name][0])) != name
]


@pytest.mark.parametrize(("source", "name"), ALL_ATTEMPTS)
def test_every_illegal_transition_is_refused_and_changes_nothing(source: DisputeStatus, name: str) -> None:
    dispute = dispute_in(source)
    before = state(dispute)
    target, command = COMMANDS[name]
    result = command(dispute, AT)
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, IllegalDisputeTransition)
    assert (error.from_status, error.to_status) == (source, target)
    assert error.code == "ILLEGAL_DISPUTE_TRANSITION"
    assert f"from {source} to {target}" in error.message
    assert state(dispute) == before
    assert dispute.pull_events() == ()


def test_the_illegal_product_is_complete() -> None:
    """Every (from, to) outside the table is exercised by some command (OPEN has none: nothing goes back)."""
    exercised = {(source, COMMANDS[name][0]) for source, name in ALL_ATTEMPTS}
    illegal = {
        (a, b) for a, b in itertools.product(S, S) if b not in DISPUTE_TRANSITIONS[a] and b is not S.OPEN
    }
    assert illegal <= exercised


def test_start_execution_and_replay_point_at_each_other() -> None:
    failed = dispute_in(S.EXECUTION_FAILED)
    error = failed.start_execution(AT).failure()
    assert isinstance(error, IllegalDisputeTransition)
    assert "replay()" in error.message
    decided = dispute_in(S.DECIDED)
    error = decided.replay(at=AT, by_actor=LEAD, by_role="L3").failure()
    assert isinstance(error, IllegalDisputeTransition)
    assert "start_execution()" in error.message


def test_full_happy_path_and_a_replay() -> None:
    dispute = open_dispute()
    assert dispute.submit_evidence(statement(), LATER) == Success(statement())
    dispute.attach_platform_facts(facts(), LATER).unwrap()
    dispute.attach_transcript(transcript(), LATER).unwrap()
    dispute.start_review(LATER).unwrap()
    decide(dispute, LATER, outcome=OutcomeCode.PARTIAL_REFUND, tier=2_500).unwrap()
    dispute.start_execution(LATER).unwrap()
    dispute.mark_execution_failed(LATER, "psp down").unwrap()
    dispute.replay(at=LATER, by_actor=LEAD, by_role="L3").unwrap()
    dispute.mark_resolved(LATER).unwrap()
    assert dispute.status is S.RESOLVED
    assert dispute.version == 10
    assert dispute.last_execution_error == "psp down"
    names = [event.name for event in dispute.pull_events()]
    assert names == [
        "EvidenceGatheringStarted",
        "EvidenceSubmitted",
        "PlatformFactsAttached",
        "TranscriptAttached",
        "DisputeReviewStarted",
        "DisputeDecided",
        "DisputeExecutionStarted",
        "DisputeExecutionFailed",
        "DisputeReplayed",
        "DisputeResolved",
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_time_before_opening_or_naive_is_refused(name: str) -> None:
    source = next(a for (a, _), n in EDGE_COMMAND.items() if n == name)
    dispute = dispute_in(source)
    before = state(dispute)
    command = COMMANDS[name][1]
    assert command(dispute, OPENED_AT - US) == Failure(
        InvalidInput("at", "precedes the opening of the dispute")
    )
    assert command(dispute, datetime(2026, 3, 2)) == Failure(InvalidInput("at", "must be timezone-aware"))
    assert state(dispute) == before


# --------------------------------------------------------------------------- decide


def reviewing() -> Dispute:
    return dispute_in(S.UNDER_REVIEW)


def assert_refused(dispute: Dispute, result: object, error: object) -> None:
    assert result == Failure(error)
    assert dispute.status is S.UNDER_REVIEW
    assert dispute.decision is None
    assert dispute.pull_events() == ()


def test_decision_freezes_the_pack_and_records_its_hash() -> None:
    dispute = reviewing()
    pack_hash = dispute.evidence.content_hash()
    decision = decide(dispute, AT, outcome=OutcomeCode.PARTIAL_REFUND, tier=5_000).unwrap()
    assert decision == Decision(
        outcome=OutcomeCode.PARTIAL_REFUND,
        reason_code=DecisionReasonCode.EVIDENCE_SUPPORTS_SELLER,
        partial_refund_tier_bp=5_000,
        decided_by=ActorRef(AGENT, "L2"),
        decided_at=AT,
        note="photos match the seller's packing video",
        evidence_pack_hash=pack_hash,
    )
    assert dispute.decision == decision
    assert dispute.frozen_pack_hash == pack_hash
    assert dispute.is_evidence_frozen
    (event,) = dispute.pull_events()
    assert isinstance(event, DisputeDecided)
    assert event.evidence_pack_hash == pack_hash
    assert event.partial_refund_tier_bp == 5_000
    assert event.outcome is OutcomeCode.PARTIAL_REFUND
    assert event.reason_code is DecisionReasonCode.EVIDENCE_SUPPORTS_SELLER
    assert event.decided_by == ActorRef(AGENT, "L2")


@pytest.mark.parametrize("status", [S.DECIDED, S.EXECUTING, S.EXECUTION_FAILED, S.RESOLVED, S.WITHDRAWN])
def test_frozen_pack_refuses_every_change(status: DisputeStatus) -> None:
    dispute = dispute_in(status)
    before = state(dispute)
    frozen_hash = dispute.frozen_pack_hash
    assert frozen_hash == dispute.evidence.content_hash()
    assert dispute.submit_evidence(statement(at=AT), AT) == Failure(EvidencePackFrozen(status))
    assert dispute.attach_platform_facts(facts(1), AT) == Failure(EvidencePackFrozen(status))
    assert dispute.attach_transcript(transcript(5), AT) == Failure(EvidencePackFrozen(status))
    assert state(dispute) == before
    assert dispute.evidence.content_hash() == frozen_hash
    assert dispute.pull_events() == ()


def test_partial_refund_requires_a_tier() -> None:
    dispute = reviewing()
    result = decide(dispute, AT, outcome=OutcomeCode.PARTIAL_REFUND, tier=None)
    assert_refused(dispute, result, PartialRefundTierRequired())


@pytest.mark.parametrize(
    "outcome",
    [OutcomeCode.FULL_REFUND, OutcomeCode.STORE_CREDIT, OutcomeCode.REPLACEMENT, OutcomeCode.REJECTED],
)
def test_other_outcomes_forbid_a_tier(outcome: OutcomeCode) -> None:
    dispute = reviewing()
    assert_refused(
        dispute, decide(dispute, AT, outcome=outcome, tier=2_500), PartialRefundTierForbidden(outcome, 2_500)
    )
    assert decide(dispute, AT, outcome=outcome).unwrap().partial_refund_tier_bp is None


def test_the_tier_must_be_in_the_policy_when_the_policy_is_given() -> None:
    dispute = reviewing()
    result = decide(dispute, AT, outcome=OutcomeCode.PARTIAL_REFUND, tier=3_000, allowed=(5_000, 2_500))
    assert_refused(dispute, result, PartialRefundTierNotInPolicy(3_000, (2_500, 5_000)))
    decision = decide(dispute, AT, outcome=OutcomeCode.PARTIAL_REFUND, tier=3_000, allowed=None).unwrap()
    assert decision.partial_refund_tier_bp == 3_000


@pytest.mark.parametrize("tier", [0, -1, 10_000, 12_000])
def test_the_tier_must_be_a_fraction(tier: int) -> None:
    dispute = reviewing()
    result = decide(dispute, AT, outcome=OutcomeCode.PARTIAL_REFUND, tier=tier, allowed=None)
    assert_refused(
        dispute, result, InvalidInput("partial_refund_tier_bp", "must be an int strictly between 0 and 10000")
    )


def test_force_complete_is_not_a_dispute_outcome() -> None:
    dispute = reviewing()
    result = decide(dispute, AT, outcome=OutcomeCode.FORCE_COMPLETE)
    assert_refused(dispute, result, ForceCompleteNotADisputeOutcome())
    assert result.failure().code == "FORCE_COMPLETE_NOT_A_DISPUTE_OUTCOME"


def test_operational_cancellation_reason_is_reserved() -> None:
    dispute = reviewing()
    result = decide(
        dispute, AT, outcome=OutcomeCode.FULL_REFUND, reason_code=DecisionReasonCode.OPERATIONAL_CANCELLATION
    )
    assert_refused(dispute, result, ReservedDecisionReason(DecisionReasonCode.OPERATIONAL_CANCELLATION))


def test_a_decision_needs_facts_and_a_transcript() -> None:
    dispute = open_dispute()
    dispute.start_review(LATER).unwrap()
    dispute.pull_events()
    assert_refused(dispute, decide(dispute, AT), EvidencePackIncomplete(("platform_facts", "transcript")))
    dispute.attach_platform_facts(facts(), AT).unwrap()
    dispute.pull_events()
    assert_refused(dispute, decide(dispute, AT), EvidencePackIncomplete(("transcript",)))
    dispute.attach_transcript(ConversationTranscript(), AT).unwrap()  # no conversation ever: still attached
    decide(dispute, AT).unwrap()


def test_decide_validates_who_and_the_note() -> None:
    dispute = reviewing()
    result = dispute.decide(
        outcome=OutcomeCode.REJECTED,
        reason_code=DecisionReasonCode.OTHER,
        decided_by_actor=AGENT,
        decided_by_role="agent",
        at=AT,
    )
    assert isinstance(result, Failure) and result.failure().field == "decided_by_role"
    result = dispute.decide(
        outcome=OutcomeCode.REJECTED,
        reason_code=DecisionReasonCode.OTHER,
        decided_by_actor=AGENT,
        decided_by_role="L2",
        at=AT,
        note="x" * 2_001,
    )
    assert isinstance(result, Failure) and result.failure().field == "note"
    assert dispute.decision is None
    decision = dispute.decide(
        outcome=OutcomeCode.REJECTED,
        reason_code=DecisionReasonCode.OTHER,
        decided_by_actor=AGENT,
        decided_by_role="L0",
        at=AT,
    ).unwrap()
    assert decision.note == ""


# --------------------------------------------------------------------------- evidence submissions


def test_first_submission_moves_open_to_gathering() -> None:
    dispute = open_dispute()
    submission = file(at=LATER)
    assert dispute.submit_evidence(submission, LATER) == Success(submission)
    assert dispute.status is S.GATHERING_EVIDENCE
    assert dispute.version == 2
    gathering, submitted = dispute.pull_events()
    assert isinstance(gathering, EvidenceGatheringStarted)
    assert isinstance(submitted, EvidenceSubmitted)
    assert submitted.evidence_id == submission.evidence_id
    assert submitted.content_sha256 == submission.content_sha256
    assert submitted.submitted_by == ActorRef(BUYER, "BUYER")
    assert gathering.version == submitted.version == 2
    assert dispute.evidence.submission(submission.evidence_id) == submission


@pytest.mark.parametrize("status", [S.GATHERING_EVIDENCE, S.UNDER_REVIEW])
def test_later_submissions_keep_the_status(status: DisputeStatus) -> None:
    dispute = dispute_in(status)
    version = dispute.version
    dispute.submit_evidence(statement(at=AT), AT).unwrap()
    assert dispute.status is status
    assert dispute.version == version + 1
    (event,) = dispute.pull_events()
    assert isinstance(event, EvidenceSubmitted)


def test_submission_exactly_at_the_deadline_is_accepted() -> None:
    dispute = open_dispute()
    assert dispute.evidence_deadline == DEADLINE
    dispute.submit_evidence(statement(at=DEADLINE), DEADLINE).unwrap()
    assert dispute.evidence.submission("ev-1") is not None


def test_submission_one_microsecond_after_the_deadline_is_refused() -> None:
    dispute = open_dispute()
    before = state(dispute)
    result = dispute.submit_evidence(statement(at=DEADLINE + US), DEADLINE + US)
    assert result == Failure(EvidenceDeadlinePassed(deadline=DEADLINE, attempted_at=DEADLINE + US))
    assert result.failure().code == "EVIDENCE_DEADLINE_PASSED"
    assert state(dispute) == before
    assert dispute.pull_events() == ()


def test_platform_facts_are_not_bound_by_the_party_deadline() -> None:
    dispute = dispute_in(S.UNDER_REVIEW)
    dispute.attach_platform_facts(facts(3), DEADLINE + timedelta(days=1)).unwrap()
    assert dispute.evidence.platform_facts == facts(3)


def test_resubmitting_the_same_content_is_idempotent() -> None:
    dispute = open_dispute()
    first = file("ev-a", at=LATER)
    dispute.submit_evidence(first, LATER).unwrap()
    dispute.pull_events()
    before = state(dispute)
    retry = file("ev-b", at=LATER + timedelta(seconds=3))  # same bytes, a new id from a retried request
    assert dispute.submit_evidence(retry, LATER + timedelta(seconds=3)) == Success(first)
    assert state(dispute) == before
    assert dispute.pull_events() == ()


def test_the_opening_statement_resubmitted_is_idempotent() -> None:
    dispute = open_dispute()
    again = statement("ev-x", actor=BUYER, role="BUYER", text="The mug arrived broken.")
    assert dispute.submit_evidence(again, LATER).unwrap().evidence_id == "dsp-1:statement"
    assert dispute.status is S.OPEN and dispute.version == 1


def test_the_same_content_from_another_party_is_a_new_submission() -> None:
    dispute = open_dispute()
    dispute.submit_evidence(file("ev-a"), LATER).unwrap()
    dispute.submit_evidence(file("ev-b", actor=SELLER, role="SELLER"), LATER).unwrap()
    assert len(dispute.evidence.submissions) == 3


def test_idempotent_retry_succeeds_even_after_the_freeze() -> None:
    dispute = dispute_in(S.UNDER_REVIEW)
    submission = file(at=AT)
    dispute.submit_evidence(submission, AT).unwrap()
    decide(dispute, AT).unwrap()
    assert dispute.submit_evidence(submission, AT) == Success(submission)


def test_an_evidence_id_cannot_be_reused_for_other_content() -> None:
    dispute = open_dispute()
    dispute.submit_evidence(file("ev-a"), LATER).unwrap()
    before = state(dispute)
    result = dispute.submit_evidence(file("ev-a", content="different"), LATER)
    assert result == Failure(DuplicateEvidenceId("ev-a"))
    assert state(dispute) == before


def test_submission_times_must_be_consistent() -> None:
    dispute = open_dispute()
    future = statement(at=LATER + US)
    assert isinstance(dispute.submit_evidence(future, LATER), Failure)
    past = statement(at=OPENED_AT - US)
    assert isinstance(dispute.submit_evidence(past, LATER), Failure)
    assert dispute.version == 1


def test_submissions_are_capped() -> None:
    dispute = open_dispute()
    for i in range(MAX_SUBMISSIONS_PER_DISPUTE - 1):
        dispute.submit_evidence(statement(f"ev-{i}", text=f"statement {i}"), LATER).unwrap()
    assert len(dispute.evidence.submissions) == MAX_SUBMISSIONS_PER_DISPUTE
    result = dispute.submit_evidence(statement("ev-last", text="one too many"), LATER)
    assert result == Failure(TooManySubmissions(MAX_SUBMISSIONS_PER_DISPUTE))


def test_attach_replaces_until_frozen_and_equal_is_a_no_op() -> None:
    dispute = open_dispute()
    dispute.attach_platform_facts(facts(), LATER).unwrap()
    dispute.attach_transcript(transcript(), LATER).unwrap()
    assert dispute.version == 3
    assert dispute.status is S.OPEN  # platform evidence is not a party submission
    facts_event, transcript_event = dispute.pull_events()
    assert isinstance(facts_event, PlatformFactsAttached)
    assert isinstance(transcript_event, TranscriptAttached)
    assert transcript_event.message_count == 2
    assert transcript_event.evidence_pack_hash == dispute.evidence.content_hash()
    dispute.attach_platform_facts(facts(), AT).unwrap()
    dispute.attach_transcript(transcript(), AT).unwrap()
    assert dispute.version == 3 and dispute.pull_events() == ()
    dispute.attach_platform_facts(facts(1), AT).unwrap()
    dispute.attach_transcript(transcript(3), AT).unwrap()
    assert dispute.evidence.platform_facts == facts(1)
    assert dispute.evidence.transcript == transcript(3)
    assert dispute.version == 5


# --------------------------------------------------------------------------- withdrawal and execution


def test_withdrawal_records_who_why_and_the_pack_hash() -> None:
    dispute = dispute_in(S.GATHERING_EVIDENCE)
    pack_hash = dispute.evidence.content_hash()
    dispute.withdraw(at=AT, by_actor=BUYER, by_role="BUYER", reason="  seller sent a new one ").unwrap()
    assert dispute.withdrawal == Withdrawal(ActorRef(BUYER, "BUYER"), AT, "seller sent a new one", pack_hash)
    assert dispute.frozen_pack_hash == pack_hash
    (event,) = dispute.pull_events()
    assert isinstance(event, DisputeWithdrawn)
    assert event.reason == "seller sent a new one" and event.evidence_pack_hash == pack_hash


def test_withdrawal_needs_a_reason() -> None:
    dispute = open_dispute()
    result = dispute.withdraw(at=AT, by_actor=BUYER, by_role="BUYER", reason=" ")
    assert result == Failure(InvalidInput("reason", "must not be blank"))
    assert dispute.status is S.OPEN and dispute.version == 1


def test_execution_failure_needs_a_summary_and_long_ones_are_truncated() -> None:
    dispute = dispute_in(S.EXECUTING)
    assert dispute.mark_execution_failed(AT, "  ") == Failure(
        InvalidInput("error_summary", "must not be blank")
    )
    assert dispute.status is S.EXECUTING
    dispute.mark_execution_failed(AT, "x" * 5_000).unwrap()
    assert dispute.last_execution_error is not None
    assert len(dispute.last_execution_error) == MAX_ERROR_SUMMARY_CHARS
    assert dispute.last_execution_error.endswith("…")


def test_replay_records_who_replayed() -> None:
    dispute = dispute_in(S.EXECUTION_FAILED)
    assert isinstance(dispute.replay(at=AT, by_actor=LEAD, by_role="l3"), Failure)
    dispute.replay(at=AT, by_actor=LEAD, by_role="L3").unwrap()
    (event,) = dispute.pull_events()
    assert isinstance(event, DisputeReplayed)
    assert event.replayed_by == ActorRef(LEAD, "L3")
    assert event.outcome is OutcomeCode.REJECTED


# --------------------------------------------------------------------------- rehydrate


def rehydrate_like(dispute: Dispute, **changes: object) -> Dispute:
    fields: dict[str, object] = {
        "dispute_id": dispute.id,
        "order_id": dispute.order_id,
        "country": dispute.country,
        "reason": dispute.reason,
        "origin": dispute.origin,
        "opened_by": dispute.opened_by,
        "opened_at": dispute.opened_at,
        "status": dispute.status,
        "evidence_deadline": dispute.evidence_deadline,
        "evidence": dispute.evidence,
        "decision": dispute.decision,
        "withdrawal": dispute.withdrawal,
        "last_execution_error": dispute.last_execution_error,
        "updated_at": dispute.updated_at,
        "version": dispute.version,
    }
    fields.update(changes)
    return Dispute.rehydrate(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", list(S))
def test_rehydrate_round_trips_without_events(status: DisputeStatus) -> None:
    original = dispute_in(status)
    copy = rehydrate_like(original)
    assert state(copy) == state(original)
    assert copy.pull_events() == ()
    assert copy.opening_statement == original.opening_statement


def test_rehydrate_detects_a_tampered_frozen_pack() -> None:
    decided = dispute_in(S.DECIDED)
    tampered = decided.evidence.with_submission(statement("ev-late", at=AT))
    with pytest.raises(InvariantViolation, match="does not match"):
        rehydrate_like(decided, evidence=tampered)
    withdrawn = dispute_in(S.WITHDRAWN)
    with pytest.raises(InvariantViolation, match="does not match"):
        rehydrate_like(withdrawn, evidence=withdrawn.evidence.with_platform_facts(facts(9)))


def test_rehydrate_refuses_inconsistent_state() -> None:
    decided = dispute_in(S.DECIDED)
    with pytest.raises(InvariantViolation):
        rehydrate_like(decided, status=S.UNDER_REVIEW)
    with pytest.raises(InvariantViolation):
        rehydrate_like(dispute_in(S.UNDER_REVIEW), status=S.EXECUTING)
    with pytest.raises(InvariantViolation):
        rehydrate_like(dispute_in(S.OPEN), status=S.WITHDRAWN)
    with pytest.raises(InvariantViolation):
        rehydrate_like(decided, version=0)
    with pytest.raises(InvariantViolation):
        rehydrate_like(decided, updated_at=datetime(2026, 3, 2))
    assert decided.decision is not None
    with pytest.raises(InvariantViolation):
        replace(decided.decision, outcome=OutcomeCode.FORCE_COMPLETE)
    with pytest.raises(InvariantViolation):
        replace(decided.decision, partial_refund_tier_bp=2_500)
