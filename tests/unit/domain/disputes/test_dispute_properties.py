"""Property: no sequence of commands leaves the transition table or skips a version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from domain.disputes import DISPUTE_TRANSITIONS, Dispute, DisputeStatus
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from tests.unit.domain.disputes.builders import (
    AGENT,
    BUYER,
    LEAD,
    OPENED_AT,
    SELLER,
    facts,
    file,
    open_dispute,
    state,
    statement,
    transcript,
)

# Weighted by repetition, so that random sequences reach the later statuses often.
OPS = (
    *("submit",) * 3,
    *("facts",) * 2,
    *("transcript",) * 2,
    *("gather",) * 2,
    *("review",) * 4,
    "withdraw",
    *("decide",) * 8,
    *("execute",) * 4,
    *("fail",) * 4,
    *("replay",) * 4,
    *("resolve",) * 3,
)


@dataclass(frozen=True)
class Op:
    name: str
    step: timedelta
    variant: int
    outcome: OutcomeCode
    tier: int | None


ops = st.builds(
    Op,
    name=st.sampled_from(OPS),
    # Up to 30 h per step, occasionally a step back in time (refused as before opening, or allowed).
    step=st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(hours=30)),
    variant=st.integers(0, 3),
    outcome=st.sampled_from(OutcomeCode),
    tier=st.sampled_from([None, None, 2_500, 5_000, 3_333]),
)


def run(dispute: Dispute, op: Op, at: datetime) -> Result[object, object]:
    actor, role = [(BUYER, "BUYER"), (SELLER, "SELLER"), (AGENT, "L1"), (LEAD, "L3")][op.variant]
    match op.name:
        case "submit":
            if op.variant % 2:
                return dispute.submit_evidence(file(f"ev-f{op.variant}", actor=actor, role=role, at=at), at)
            return dispute.submit_evidence(statement(f"ev-s{op.variant}", actor=actor, role=role, at=at), at)
        case "facts":
            return dispute.attach_platform_facts(facts(op.variant % 2), at)
        case "transcript":
            return dispute.attach_transcript(transcript(op.variant), at)
        case "gather":
            return dispute.start_gathering(at)
        case "review":
            return dispute.start_review(at)
        case "withdraw":
            return dispute.withdraw(at=at, by_actor=actor, by_role=role, reason="changed my mind")
        case "decide":
            return dispute.decide(
                outcome=op.outcome,
                reason_code=DecisionReasonCode.GOODWILL,
                decided_by_actor=AGENT,
                decided_by_role="L2",
                at=at,
                partial_refund_tier_bp=op.tier,
                allowed_tiers_bp=(2_500, 5_000) if op.variant else None,
            )
        case "execute":
            return dispute.start_execution(at)
        case "fail":
            return dispute.mark_execution_failed(at, f"provider error {op.variant}")
        case "replay":
            return dispute.replay(at=at, by_actor=LEAD, by_role="L3")
        case "resolve":
            return dispute.mark_resolved(at)
    raise AssertionError(op.name)


def content(snapshot: tuple[object, ...]) -> tuple[object, ...]:
    """A state snapshot without its version and updated_at (indices 1 and 2)."""
    return (snapshot[0], *snapshot[3:])


@settings(max_examples=400, deadline=None)
@given(st.lists(ops, min_size=10, max_size=60), st.booleans())
def test_random_command_sequences_respect_the_table_and_the_version(
    sequence: list[Op], prepared: bool
) -> None:
    dispute = open_dispute()
    if prepared:  # facts and transcript already attached, so that decisions are reached often
        dispute.attach_platform_facts(facts(), OPENED_AT).unwrap()
        dispute.attach_transcript(transcript(), OPENED_AT).unwrap()
        dispute.pull_events()
    at = OPENED_AT
    seen: set[DisputeStatus] = {dispute.status}
    for op in sequence:
        at += op.step
        before = state(dispute)
        status_before, version_before = dispute.status, dispute.version
        frozen_before = dispute.evidence if dispute.is_evidence_frozen else None

        result = run(dispute, op, at)
        events = dispute.pull_events()

        if isinstance(result, Failure):
            assert state(dispute) == before, op
            assert events == ()
            continue
        assert isinstance(result, Success)
        if content(state(dispute)) == content(before):
            # An idempotent no-op (same content resubmitted, equal facts re-attached).
            assert dispute.version == version_before
            assert events == ()
        else:
            assert dispute.version == version_before + 1, op
            assert events, op
            assert all(event.version == dispute.version for event in events)
            assert all(event.occurred_at == at for event in events)
            assert dispute.updated_at == at
        if dispute.status is not status_before:
            assert dispute.status in DISPUTE_TRANSITIONS[status_before], (status_before, dispute.status)
        seen.add(dispute.status)
        event(f"reached {dispute.status}")

        # Invariants that hold after every successful command.
        assert dispute.status.has_decision == (dispute.decision is not None)
        assert (dispute.status is DisputeStatus.WITHDRAWN) == (dispute.withdrawal is not None)
        if dispute.decision is not None:
            assert dispute.decision.outcome is not OutcomeCode.FORCE_COMPLETE
            assert dispute.decision.evidence_pack_hash == dispute.evidence.content_hash()
            assert (dispute.decision.partial_refund_tier_bp is not None) == (
                dispute.decision.outcome is OutcomeCode.PARTIAL_REFUND
            )
        if frozen_before is not None:
            assert dispute.evidence == frozen_before
        if dispute.is_evidence_frozen:
            assert dispute.frozen_pack_hash == dispute.evidence.content_hash()
        assert all(s.submitted_at <= dispute.evidence_deadline for s in dispute.evidence.submissions)
