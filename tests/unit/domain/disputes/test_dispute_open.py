"""Opening a dispute: the window, the inputs, and the operational-cancellation factory."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from returns.result import Failure

from domain.disputes import (
    ActorRef,
    Dispute,
    DisputeDecided,
    DisputeOpened,
    DisputeOrigin,
    DisputeStatus,
    DisputeWindowClosed,
    EvidenceKind,
    EvidencePack,
    EvidencePackFrozen,
    opening_statement_id,
)
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.dispute import OPERATIONAL_CANCELLATION_NOTE
from domain.disputes.evidence import MAX_STATEMENT_CHARS
from domain.shared import InvalidInput
from domain.shared.ids import ActorId, DisputeId, OrderId
from tests.unit.domain.disputes.builders import (
    AGENT,
    BUYER,
    DELIVERED_AT,
    DISPUTE_WINDOW,
    EVIDENCE_WINDOW,
    MX,
    OPENED_AT,
    US,
    facts,
    open_dispute,
    sha,
    statement,
)


def attempt(**overrides: Any) -> Any:
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
    return Dispute.open(**kwargs)


def test_open_records_everything_and_one_event() -> None:
    dispute = attempt().unwrap()
    assert dispute.id == "dsp-1"
    assert dispute.order_id == "ord-1"
    assert dispute.country == MX
    assert dispute.reason is DisputeReason.DAMAGED
    assert dispute.origin is DisputeOrigin.PARTY
    assert dispute.opened_by == ActorRef(BUYER, "BUYER")
    assert dispute.opened_at == OPENED_AT == dispute.updated_at
    assert dispute.status is DisputeStatus.OPEN
    assert dispute.evidence_deadline == OPENED_AT + EVIDENCE_WINDOW
    assert dispute.decision is None and dispute.withdrawal is None
    assert dispute.last_execution_error is None
    assert dispute.version == 1
    assert not dispute.is_evidence_frozen
    assert dispute.frozen_pack_hash is None
    assert dispute.pull_events() == (
        DisputeOpened(
            occurred_at=OPENED_AT,
            dispute_id=DisputeId("dsp-1"),
            order_id=OrderId("ord-1"),
            country=MX,
            version=1,
            reason=DisputeReason.DAMAGED,
            origin=DisputeOrigin.PARTY,
            opened_by=ActorRef(BUYER, "BUYER"),
            evidence_deadline=OPENED_AT + EVIDENCE_WINDOW,
        ),
    )
    assert dispute.pull_events() == ()


def test_the_statement_is_the_first_submission() -> None:
    dispute = attempt(statement="  The mug arrived broken.  ").unwrap()
    (opening,) = dispute.evidence.submissions
    assert opening.evidence_id == opening_statement_id("dsp-1") == "dsp-1:statement"
    assert opening.kind is EvidenceKind.STATEMENT
    assert opening.submitted_by == ActorRef(BUYER, "BUYER")
    assert opening.submitted_at == OPENED_AT
    assert opening.content_sha256 == sha("The mug arrived broken.")
    assert dispute.opening_statement == "The mug arrived broken."
    assert dispute.evidence.platform_facts is None and dispute.evidence.transcript is None


def test_open_on_the_last_microsecond_of_the_window_is_allowed() -> None:
    closes = DELIVERED_AT + DISPUTE_WINDOW
    dispute = attempt(now=closes - US).unwrap()
    assert dispute.evidence_deadline == closes - US + EVIDENCE_WINDOW


def test_open_at_the_closing_instant_is_refused() -> None:
    # The window is half-open, like the order's: at the closing instant the order completes.
    closes = DELIVERED_AT + DISPUTE_WINDOW
    result = attempt(now=closes)
    assert result == Failure(DisputeWindowClosed(window_closed_at=closes, attempted_at=closes))
    assert result.failure().code == "DISPUTE_WINDOW_CLOSED"
    assert "closed at 2026-03-04T12:00:00+00:00" in result.failure().message


def test_open_right_at_delivery_is_allowed_before_it_is_not() -> None:
    assert attempt(now=DELIVERED_AT).unwrap().opened_at == DELIVERED_AT
    assert attempt(now=DELIVERED_AT - US) == Failure(InvalidInput("now", "precedes the delivery"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"now": datetime(2026, 3, 1, 18)}, "now"),
        ({"delivered_at": datetime(2026, 3, 1, 12)}, "delivered_at"),
        ({"statement": ""}, "statement"),
        ({"statement": " \t\n"}, "statement"),
        ({"statement": "x" * (MAX_STATEMENT_CHARS + 1)}, "statement"),
        ({"dispute_id": DisputeId(" ")}, "dispute_id"),
        ({"dispute_id": DisputeId("d" * 200)}, "dispute_id"),
        ({"order_id": OrderId("")}, "order_id"),
        ({"opened_by_actor": ActorId("")}, "opened_by_id"),
        ({"opened_by_role": "buyer"}, "opened_by_role"),
        ({"dispute_window": timedelta(0)}, "dispute_window"),
        ({"evidence_window": timedelta(hours=-1)}, "evidence_window"),
    ],
)
def test_open_refuses_bad_input(overrides: dict[str, Any], field: str) -> None:
    result = attempt(**overrides)
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), InvalidInput)
    assert result.failure().field == field


def test_statement_of_maximum_length_is_accepted() -> None:
    assert (
        attempt(statement="x" * MAX_STATEMENT_CHARS).unwrap().opening_statement == "x" * MAX_STATEMENT_CHARS
    )


def test_support_may_open_on_behalf_of_the_buyer() -> None:
    dispute = open_dispute(opened_by_actor=AGENT, opened_by_role="L1")
    assert dispute.opened_by == ActorRef(AGENT, "L1")


# --------------------------------------------------------------------------- operational cancellation


def cancel(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "dispute_id": DisputeId("dsp-oc"),
        "order_id": OrderId("ord-9"),
        "country": MX,
        "actor": AGENT,
        "role": "L2",
        "now": OPENED_AT,
        "platform_facts": facts(),
    }
    kwargs.update(overrides)
    return Dispute.open_for_operational_cancellation(**kwargs)


def test_operational_cancellation_is_born_decided_with_a_full_refund() -> None:
    dispute = cancel().unwrap()
    assert dispute.status is DisputeStatus.DECIDED
    assert dispute.origin is DisputeOrigin.OPERATIONAL_CANCELLATION
    assert dispute.reason is DisputeReason.OTHER
    assert dispute.version == 1
    assert dispute.evidence == EvidencePack(platform_facts=facts())
    assert dispute.is_evidence_frozen
    assert dispute.evidence_deadline == OPENED_AT
    decision = dispute.decision
    assert decision is not None
    assert decision.outcome is OutcomeCode.FULL_REFUND
    assert decision.reason_code is DecisionReasonCode.OPERATIONAL_CANCELLATION
    assert decision.partial_refund_tier_bp is None
    assert decision.decided_by == ActorRef(AGENT, "L2")
    assert decision.decided_at == OPENED_AT
    assert decision.note == OPERATIONAL_CANCELLATION_NOTE
    assert decision.evidence_pack_hash == EvidencePack(platform_facts=facts()).content_hash()
    assert dispute.frozen_pack_hash == decision.evidence_pack_hash
    assert dispute.opening_statement is None


def test_operational_cancellation_emits_opened_then_decided() -> None:
    dispute = cancel().unwrap()
    opened, decided = dispute.pull_events()
    assert isinstance(opened, DisputeOpened)
    assert opened.origin is DisputeOrigin.OPERATIONAL_CANCELLATION
    assert opened.opened_by == ActorRef(AGENT, "L2")
    assert isinstance(decided, DisputeDecided)
    assert decided.outcome is OutcomeCode.FULL_REFUND
    assert decided.reason_code is DecisionReasonCode.OPERATIONAL_CANCELLATION
    assert decided.partial_refund_tier_bp is None
    assert decided.evidence_pack_hash == dispute.evidence.content_hash()
    assert decided.version == opened.version == 1
    assert decided.dispute_id == "dsp-oc" and decided.order_id == "ord-9" and decided.country == MX


def test_operational_cancellation_pack_is_frozen_and_it_executes() -> None:
    dispute = cancel().unwrap()
    dispute.pull_events()
    at = OPENED_AT + timedelta(minutes=1)
    assert dispute.submit_evidence(statement(at=at), at) == Failure(EvidencePackFrozen(DisputeStatus.DECIDED))
    assert dispute.attach_platform_facts(facts(1), at) == Failure(EvidencePackFrozen(DisputeStatus.DECIDED))
    dispute.start_execution(at).unwrap()
    dispute.mark_resolved(at).unwrap()
    assert dispute.status is DisputeStatus.RESOLVED
    assert dispute.version == 3


def test_the_l0_system_may_cancel() -> None:
    assert cancel(actor=ActorId("system"), role="L0").unwrap().opened_by == ActorRef(ActorId("system"), "L0")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"now": datetime(2026, 3, 1, 18)}, "now"),
        ({"role": ""}, "actor_role"),
        ({"actor": ActorId(" ")}, "actor_id"),
        ({"order_id": OrderId("")}, "order_id"),
    ],
)
def test_operational_cancellation_refuses_bad_input(overrides: dict[str, Any], field: str) -> None:
    result = cancel(**overrides)
    assert isinstance(result, Failure)
    assert result.failure().field == field
