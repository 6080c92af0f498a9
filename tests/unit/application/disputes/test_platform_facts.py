"""Prong 1 from the records: audit entries mapped to timeline events (stable names, short
details without free text or party ids), the order row filling only what the log lacks,
and the tracking port's proof taken best effort."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from application.disputes import facts as facts_module
from application.disputes.facts import (
    NO_PROOF_RECORDED,
    TRACKING_FAILED,
    courier_proof,
    platform_facts_for,
    timeline_entry,
)
from domain.audit import AuditEntry
from domain.cases.l0 import DeliveryTrack
from domain.disputes.evidence import DeliveryProof, GpsPoint, PlatformFacts, TimelineEntry
from domain.orders import OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import ActorId
from tests.fakes.tracking import FakeTracking
from tests.unit.domain.orders.factories import (
    ACCEPTED_AT,
    CREATED_AT,
    DELIVERED_AT,
    ORDER_ID,
    PAID_AT,
    order_in,
)

MX = CountryCode("MX")
PHOTO = "c" * 64


def entry(
    action: str,
    *,
    target_type: str = "order",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    sequence: int = 1,
) -> AuditEntry:
    return AuditEntry(
        sequence=sequence,
        actor_id=ActorId("l3-1"),
        actor_role="L3",
        country=MX,
        action=action,
        target_type=target_type,
        target_id=ORDER_ID,
        before=before,
        after=after,
        request_id="req-1",
        occurred_at=ACCEPTED_AT,
        previous_hash="0" * 64,
        entry_hash="1" * 64,
    )


@pytest.mark.parametrize(
    ("audit", "kind", "detail"),
    [
        (entry("order.created", after={"status": "CREATED", "version": 1}), "ORDER_CREATED", ""),
        (
            entry(
                "order.payment_captured",
                after={"total_charged_minor": 123_000, "currency": "MXN", "policy_version": "MX-v1"},
            ),
            "PAYMENT_CAPTURED",
            "1230.00 MXN under policy MX-v1",
        ),
        (
            entry("order.transitioned", before={"status": "PAID"}, after={"status": "ACCEPTED"}),
            "ACCEPTED",
            "from PAID",
        ),
        (
            entry(
                "order.unfrozen",
                before={"status": "FROZEN", "incident_ref": "case_1"},
                after={"status": "PAID"},
            ),
            "ORDER_UNFROZEN",
            "back to PAID; case_1",
        ),
        (
            entry(
                "order.force_completed",
                before={"status": "IN_TRANSIT"},
                after={
                    "reason": "buyer Ana said +52 55 1234 5678",
                    "released_minor": 91_000,
                    "currency": "MXN",
                },
            ),
            "FORCE_COMPLETED",
            "from IN_TRANSIT; released 910.00 MXN",
        ),
        (entry("order.re_weighed", after={"note": "free text"}), "ORDER_RE_WEIGHED", ""),
        (
            entry(
                "incident.opened",
                target_type="case",
                after={"incident_type": "LATE", "frozen_from": "IN_TRANSIT", "title": "Ana's order"},
            ),
            "ORDER_FROZEN",
            "LATE incident; was IN_TRANSIT",
        ),
        (
            entry(
                "incident.action_applied",
                target_type="case",
                after={
                    "action": "URGENT_REPLACEMENT",
                    "order_status": "FROZEN",
                    "reason": "call me",
                    "entry": {"replace": "COURIER", "replacement_id": "cou_2", "replaced_id": "cou_1"},
                },
            ),
            "INCIDENT_URGENT_REPLACEMENT",
            "courier replaced; order FROZEN",
        ),
        (
            entry(
                "incident.store_credit_granted",
                target_type="case",
                after={"credit_minor": 10_000, "currency": "MXN"},
            ),
            "STORE_CREDIT_GRANTED",
            "100.00 MXN",
        ),
        (
            entry("dispute.opened", target_type="dispute", after={"reason": "DAMAGED"}),
            "DISPUTE_OPENED",
            "DAMAGED",
        ),
    ],
)
def test_audit_entries_become_timeline_events(audit: AuditEntry, kind: str, detail: str) -> None:
    assert timeline_entry(audit) == TimelineEntry(ACCEPTED_AT, kind, detail)


@pytest.mark.parametrize(
    "audit",
    [
        entry("conversation.reason_blocked", after={"reason": "x"}),  # about the order, not an order event
        entry("case.acknowledged", target_type="case"),
        entry("dispute.evidence_submitted", target_type="dispute"),
        entry("ledger.posted", target_type="ledger_account"),
    ],
)
def test_other_entries_are_not_order_events(audit: AuditEntry) -> None:
    assert timeline_entry(audit) is None


def test_the_order_row_fills_only_what_the_log_lacks() -> None:
    order = order_in(OrderStatus.DELIVERED)
    synthesized = platform_facts_for(order)
    assert [e.kind for e in synthesized.timeline] == ["ORDER_CREATED", "PAYMENT_CAPTURED", "DELIVERED"]
    assert synthesized.delivery_proof == DeliveryProof(delivered_at=DELIVERED_AT)

    recorded = (
        TimelineEntry(CREATED_AT, "ORDER_CREATED"),
        TimelineEntry(ACCEPTED_AT, "ACCEPTED", "from PAID"),
    )
    facts = platform_facts_for(order, recorded=recorded)
    assert facts.timeline == (
        TimelineEntry(CREATED_AT, "ORDER_CREATED"),
        synthesized.timeline[1],  # captured: not in the log, from the snapshot
        TimelineEntry(ACCEPTED_AT, "ACCEPTED", "from PAID"),
        TimelineEntry(DELIVERED_AT, "DELIVERED"),
    )
    assert facts.timeline[1].at == PAID_AT
    # the same records in another order make the same facts (and pack hash)
    assert platform_facts_for(order, recorded=tuple(reversed(recorded))) == facts
    assert PlatformFacts(timeline=facts.timeline) == PlatformFacts(timeline=tuple(reversed(facts.timeline)))


class _Broken:
    def __init__(self, *, hang: bool) -> None:
        self.hang = hang

    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        if self.hang:
            await asyncio.sleep(30)
        raise RuntimeError("down")


async def test_the_courier_proof_is_taken_best_effort(monkeypatch: pytest.MonkeyPatch) -> None:
    order = order_in(OrderStatus.DELIVERED)
    fallback = DeliveryProof(delivered_at=DELIVERED_AT)
    tracking = FakeTracking()
    assert await courier_proof(tracking, order) == (fallback, NO_PROOF_RECORDED)
    tracking.set(MX, ORDER_ID, DeliveryTrack(delivery_proof=DeliveryProof(delivered_at=DELIVERED_AT)))
    assert await courier_proof(tracking, order) == (fallback, NO_PROOF_RECORDED)  # nothing but a time

    point = GpsPoint(DELIVERED_AT - timedelta(minutes=1), 19_432_600, -99_133_200)
    tracking.set(MX, ORDER_ID, DeliveryTrack(delivery_proof=DeliveryProof(None, (point,), (PHOTO,))))
    assert await courier_proof(tracking, order) == (DeliveryProof(DELIVERED_AT, (point,), (PHOTO,)), None)

    monkeypatch.setattr(facts_module, "TRACKING_TIMEOUT", 0.01)
    for hang in (False, True):
        assert await courier_proof(_Broken(hang=hang), order) == (fallback, TRACKING_FAILED)
