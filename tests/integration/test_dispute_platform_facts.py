"""Prong 1 of the trident at decision time, on SQLite and PostgreSQL: the pack's platform
facts are the order's recorded timeline (its audit entries, its incidents' freezes and
actions, the dispute's opening) and the courier's delivery proof from the tracking port;
a tracking outage falls back to the delivery time and still decides."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.incidents import (
    ApplyIncidentAction,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.cases.use_cases import ResolveCase, resolve_case
from application.context import Services
from application.disputes import facts as facts_module
from application.disputes.facts import NO_PROOF_RECORDED, PROOF_UNAVAILABLE, TRACKING_FAILED
from application.disputes.use_cases import OpenDispute, StartReview, open_dispute, start_review
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.security.principal import Role
from domain.cases.kinds import IncidentAction, IncidentType, Severity
from domain.cases.l0 import DeliveryTrack, Point
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.disputes.evidence import DeliveryProof, GpsPoint, PlatformFacts, TimelineEntry
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import BuyerId, CourierId, DisputeId, OrderId, SellerId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.fakes.tracking import FakeTracking
from tests.integration.scenario import L1, L2, MX, MXN, SYSTEM, add_policy, ctx, decide
from tests.integration.scenario import delivered_order as delivered_at_once

BUYER = ctx(Role.BUYER, "buy_1", ("MX",))
HOME = Point(19_432_600, -99_133_200)
PHOTOS = ("b" * 64, "a" * 64)
STEP = timedelta(minutes=1)


class CountingTracking(FakeTracking):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        self.calls += 1
        return await super().track(country, order_id)


class FailingTracking:
    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.calls = 0

    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(30)
        raise ConnectionError("tracking service down")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def tracking() -> CountingTracking:
    return CountingTracking()


@pytest.fixture
async def svc(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock, tracking: CountingTracking
) -> Services:
    services = Services(uow=uow_factory, clock=clock, ids=SequentialIds(), tracking=tracking)
    await add_policy(services)
    return services


def with_tracking(svc: Services, tracking: object) -> Services:
    return Services(uow=svc.uow, clock=svc.clock, ids=svc.ids, tracking=tracking)  # type: ignore[arg-type]


async def eventful_delivery(svc: Services, clock: FixedClock, order_id: str = "o1") -> Order:
    """Created, captured, accepted, prepared, on its way; frozen by an incident, its courier
    replaced, unfrozen when the incident resolves; delivered. A minute between steps."""
    oid = OrderId(order_id)
    (
        await create_order(
            svc, SYSTEM, CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), CourierId("cou_1"), oid)
        )
    ).unwrap()
    clock.advance(STEP)
    (
        await capture_payment(
            svc, SYSTEM, CapturePayment(MX, oid, MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
        )
    ).unwrap()
    for status in (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT):
        clock.advance(STEP)
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, status))).unwrap()
    clock.advance(STEP)
    case = (
        await open_order_incident(
            svc,
            L1,
            OpenOrderIncident(
                MX, oid, IncidentType.COURIER_UNAVAILABLE, Severity.SEV2, "Courier not answering"
            ),
        )
    ).unwrap()
    clock.advance(STEP)
    replace = ApplyIncidentAction(
        MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, "call +52 55 1234 5678", "COURIER", "cou_2"
    )
    (await apply_incident_action(svc, L2, replace)).unwrap()
    clock.advance(STEP)
    (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "courier found"))).unwrap()
    clock.advance(STEP)
    order = (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, OrderStatus.DELIVERED))).unwrap()
    clock.advance(STEP)
    return order


async def dispute_on(
    svc: Services, clock: FixedClock, order_id: str = "o1", reason: DisputeReason = DisputeReason.DAMAGED
) -> Dispute:
    dispute = (
        await open_dispute(svc, BUYER, OpenDispute(MX, OrderId(order_id), reason, "It broke"))
    ).unwrap()
    clock.advance(STEP)
    return (await start_review(svc, L1, StartReview(MX, dispute.id))).unwrap()


async def stored(svc: Services, dispute_id: str) -> Dispute:
    async with svc.uow() as uow:
        found = await uow.disputes.get(MX, DisputeId(dispute_id))
    assert found is not None
    return found


def facts_of(dispute: Dispute) -> PlatformFacts:
    facts = dispute.evidence.platform_facts
    assert facts is not None
    return facts


def courier_proof(order: Order) -> DeliveryProof:
    assert order.delivered_at is not None
    at = order.delivered_at
    return DeliveryProof(
        delivered_at=at,
        gps_points=(
            GpsPoint(at - timedelta(minutes=2), HOME.lat_microdeg + 2_000, HOME.lon_microdeg),
            GpsPoint(at, HOME.lat_microdeg + 300, HOME.lon_microdeg),
        ),
        photo_sha256=PHOTOS,
    )


async def test_the_decided_pack_holds_the_recorded_timeline_and_the_couriers_proof(
    svc: Services, clock: FixedClock, tracking: CountingTracking
) -> None:
    order = await eventful_delivery(svc, clock)
    proof = courier_proof(order)
    tracking.set(MX, "o1", DeliveryTrack(destination=HOME, delivery_proof=proof))
    dispute = await dispute_on(svc, clock)
    calls = tracking.calls
    clock.advance(STEP)
    receipt = await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    assert tracking.calls == calls + 1  # the decision asked the tracking port once

    decided = await stored(svc, dispute.id)
    facts = facts_of(decided)
    assert [entry.kind for entry in facts.timeline] == [
        "ORDER_CREATED",
        "PAYMENT_CAPTURED",
        "ACCEPTED",
        "IN_PREPARATION",
        "IN_TRANSIT",
        "ORDER_FROZEN",
        "INCIDENT_URGENT_REPLACEMENT",
        "ORDER_UNFROZEN",
        "DELIVERED",
        "DISPUTE_OPENED",
    ]
    times = [entry.at for entry in facts.timeline]
    assert times == sorted(times) and len(set(times)) == len(times)
    details = {entry.kind: entry.detail for entry in facts.timeline}
    assert details["PAYMENT_CAPTURED"] == "1230.00 MXN under policy MX-v1"
    assert details["ACCEPTED"] == "from PAID"
    assert details["DELIVERED"] == "from IN_TRANSIT"
    assert details["ORDER_FROZEN"] == "COURIER_UNAVAILABLE incident; was IN_TRANSIT"
    assert details["INCIDENT_URGENT_REPLACEMENT"] == "courier replaced; order FROZEN"
    assert details["ORDER_UNFROZEN"].startswith("back to IN_TRANSIT")
    assert details["DISPUTE_OPENED"] == "DAMAGED"
    text = " ".join(entry.detail for entry in facts.timeline)
    for personal in ("cou_1", "cou_2", "buy_1", "5678", "It broke"):  # no ids, free text or phones
        assert personal not in text
    assert facts.delivery_proof == proof
    assert proof.photo_sha256 == tuple(sorted(PHOTOS)) and len(proof.gps_points) == 2

    # the pack hash is stable: the stored pack re-reads to the same bytes and hash, and a
    # replay of the decision answers the same hash
    again = await stored(svc, dispute.id)
    assert decided.decision is not None
    assert again.evidence.canonical_json() == decided.evidence.canonical_json()
    assert again.evidence.content_hash() == decided.decision.evidence_pack_hash == receipt.evidence_pack_hash
    assert (
        await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    ).evidence_pack_hash == receipt.evidence_pack_hash
    assert tracking.calls == calls + 1  # a replay asks nobody


@pytest.mark.parametrize("hang", [False, True], ids=["error", "timeout"])
async def test_a_tracking_outage_still_decides_on_the_delivery_time(
    svc: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, hang: bool
) -> None:
    monkeypatch.setattr(facts_module, "TRACKING_TIMEOUT", 0.05)
    order = await eventful_delivery(svc, clock)
    dispute = await dispute_on(svc, clock)
    failing = FailingTracking(hang=hang)
    receipt = await decide(with_tracking(svc, failing), dispute, OutcomeCode.REJECTED)
    assert failing.calls == 1

    decided = await stored(svc, dispute.id)
    facts = facts_of(decided)
    assert facts.delivery_proof == DeliveryProof(delivered_at=order.delivered_at)
    assert order.delivered_at is not None
    assert TimelineEntry(order.delivered_at, PROOF_UNAVAILABLE, TRACKING_FAILED) in facts.timeline
    assert decided.decision is not None
    assert (
        decided.evidence.content_hash() == decided.decision.evidence_pack_hash == receipt.evidence_pack_hash
    )


async def test_no_recorded_proof_is_said_so_and_an_attached_courier_proof_is_kept(
    svc: Services, clock: FixedClock, tracking: CountingTracking
) -> None:
    # nothing recorded by the tracking service: delivery time only, and the facts say so
    order = await delivered_at_once(svc, "o1")
    assert order.delivered_at is not None
    dispute = await dispute_on(svc, clock)
    await decide(svc, dispute, OutcomeCode.REJECTED)
    facts = facts_of(await stored(svc, dispute.id))
    assert facts.delivery_proof == DeliveryProof(delivered_at=order.delivered_at)
    assert TimelineEntry(order.delivered_at, PROOF_UNAVAILABLE, NO_PROOF_RECORDED) in facts.timeline

    # L0 attached the courier's proof to a "not delivered" claim: the decision keeps it,
    # does not ask again, and replaces only the synthesized timeline with the recorded one
    other = await delivered_at_once(svc, "o2")
    proof = courier_proof(other)
    tracking.set(MX, "o2", DeliveryTrack(destination=HOME, delivery_proof=proof))
    claim = await dispute_on(svc, clock, "o2", DisputeReason.NOT_DELIVERED)
    assert facts_of(await stored(svc, claim.id)).delivery_proof == proof  # L0's
    calls = tracking.calls
    await decide(svc, claim, OutcomeCode.REJECTED, key="k2")
    assert tracking.calls == calls
    decided = facts_of(await stored(svc, claim.id))
    assert decided.delivery_proof == proof
    kinds = [entry.kind for entry in decided.timeline]
    assert {"ACCEPTED", "IN_TRANSIT", "DELIVERED", "DISPUTE_OPENED"} <= set(kinds)
    assert PROOF_UNAVAILABLE not in kinds
