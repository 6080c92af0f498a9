"""The dispute repository contract, on SQLite and PostgreSQL: round trips in every status with
the evidence pack hashing exactly as before storage, one dispute in progress per order,
country scoping, optimistic concurrency, rollback and domain-event collection."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from returns.result import Failure, Success
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from adapters.persistence.mappers import order_to_row
from adapters.persistence.tables import disputes
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.ports.concurrency import ConcurrencyConflict
from domain.disputes import (
    Dispute,
    DisputeDecided,
    DisputeEvent,
    DisputeOpened,
    DisputeStatus,
    EvidenceGatheringStarted,
    EvidenceSubmitted,
)
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from domain.orders import Order, OrderStatus, OrderStatusChanged
from domain.shared import CountryCode, InvariantViolation
from domain.shared.ids import ActorId, DisputeId, OrderId
from tests.integration.aggregate_builders import (
    CO,
    MX,
    at,
    buyer_statement,
    decided,
    delivered,
    dispute_state,
    ok,
    open_dispute,
    platform_facts,
    resolved,
    seller_photo,
    store,
    transcript,
    with_all_prongs,
    withdrawn,
)

UowFactory = Callable[[], SqlAlchemyUnitOfWork]


async def load(uow_factory: UowFactory, country: CountryCode, dispute_id: str) -> Dispute | None:
    async with uow_factory() as uow:
        return await uow.disputes.get(country, DisputeId(dispute_id))


async def loaded(uow_factory: UowFactory, dispute_id: str = "dsp_1", country: CountryCode = MX) -> Dispute:
    dispute = await load(uow_factory, country, dispute_id)
    assert dispute is not None
    return dispute


def execution_failed(dispute: Dispute) -> Dispute:
    ok(dispute.start_execution(at(8)))
    ok(dispute.mark_execution_failed(at(9), "psp timeout: refund not confirmed"))
    return dispute


def replayed(dispute: Dispute) -> Dispute:
    ok(dispute.replay(at=at(10), by_actor=ActorId("l3_1"), by_role="L3"))
    return dispute


def operational_cancellation(order: Order) -> Dispute:
    return ok(
        Dispute.open_for_operational_cancellation(
            dispute_id=DisputeId("dsp_1"),
            order_id=order.id,
            country=order.country,
            actor=ActorId("l2_1"),
            role="L2",
            now=at(1),
            platform_facts=platform_facts(),
        )
    )


STAGES: dict[str, Callable[[Order], Dispute]] = {
    "OPEN": open_dispute,
    "GATHERING_EVIDENCE, all three prongs": lambda order: with_all_prongs(open_dispute(order)),
    "UNDER_REVIEW": lambda order: _review(with_all_prongs(open_dispute(order))),
    "DECIDED, partial refund": lambda order: decided(with_all_prongs(open_dispute(order))),
    "DECIDED, rejected": lambda order: decided(with_all_prongs(open_dispute(order)), OutcomeCode.REJECTED),
    "EXECUTING": lambda order: _executing(decided(with_all_prongs(open_dispute(order)))),
    "EXECUTION_FAILED": lambda order: execution_failed(decided(with_all_prongs(open_dispute(order)))),
    "EXECUTING again after a replay": lambda order: replayed(
        execution_failed(decided(with_all_prongs(open_dispute(order))))
    ),
    "RESOLVED": lambda order: resolved(decided(with_all_prongs(open_dispute(order)))),
    "WITHDRAWN": lambda order: withdrawn(with_all_prongs(open_dispute(order))),
    "WITHDRAWN while OPEN": lambda order: withdrawn(open_dispute(order)),
    "operational cancellation (born DECIDED)": operational_cancellation,
}


def _review(dispute: Dispute) -> Dispute:
    ok(dispute.start_review(at(6)))
    return dispute


def _executing(dispute: Dispute) -> Dispute:
    ok(dispute.start_execution(at(8)))
    return dispute


@pytest.mark.parametrize("stage", list(STAGES))
async def test_a_dispute_in_every_status_reads_back_with_the_same_evidence_hash(
    uow_factory: UowFactory, stage: str
) -> None:
    order = delivered("ord_1")
    dispute = STAGES[stage](order)
    hash_before = dispute.evidence.content_hash()
    await store(uow_factory, order, dispute)

    back = await loaded(uow_factory)

    assert dispute_state(back) == dispute_state(dispute)
    assert back.evidence.content_hash() == hash_before
    assert back.evidence.canonical_json() == dispute.evidence.canonical_json()
    assert back.frozen_pack_hash == dispute.frozen_pack_hash
    if back.frozen_pack_hash is not None:
        assert back.frozen_pack_hash == hash_before
    assert back.pull_events() == ()


@pytest.mark.parametrize("stage", list(STAGES))
async def test_a_dispute_and_its_order_read_inside_an_open_transaction_read_the_same(
    uow_factory: UowFactory, stage: str
) -> None:
    """The decision's reads (dispute, order, the order's conversation) are ``PreparedRead`` s:
    on PostgreSQL they run on the driver once the transaction is open (its scope's
    ``set_config`` opens it), on SQLite through SQLAlchemy (D60, D61); either way, first or
    later in a transaction, they give back what was stored."""
    order = delivered("ord_1")
    dispute = STAGES[stage](order)
    await store(uow_factory, order, dispute)
    first = await loaded(uow_factory)
    async with uow_factory() as uow:
        assert await uow.orders.get(MX, OrderId("ord_none")) is None  # begins the transaction
        inside = await uow.disputes.get(MX, DisputeId("dsp_1"))
        order_inside = await uow.orders.get(MX, OrderId("ord_1"))
        assert await uow.conversations.for_order(MX, OrderId("ord_1")) is None
    async with uow_factory() as uow:
        order_first = await uow.orders.get(MX, OrderId("ord_1"))
    assert inside is not None and order_inside is not None and order_first is not None
    assert dispute_state(inside) == dispute_state(first) == dispute_state(dispute)
    assert inside.evidence.canonical_json() == dispute.evidence.canonical_json()
    assert inside.frozen_pack_hash == dispute.frozen_pack_hash
    assert order_to_row(order_inside) == order_to_row(order_first) == order_to_row(order)


async def test_a_decided_pack_with_all_three_prongs_round_trips_to_its_recorded_hash(
    uow_factory: UowFactory,
) -> None:
    order = delivered("ord_1")
    dispute = decided(with_all_prongs(open_dispute(order)))
    assert dispute.decision is not None
    recorded = dispute.decision.evidence_pack_hash
    await store(uow_factory, order, dispute)

    back = await loaded(uow_factory)

    pack = back.evidence
    assert pack.platform_facts == platform_facts()
    assert pack.transcript is not None
    assert [entry.message_id for entry in pack.transcript.entries] == ["msg_2", "msg_1"]  # chain order kept
    assert [submission.evidence_id for submission in pack.submissions] == [
        "dsp_1:statement",
        "ev_photo",
        "ev_note",
    ]
    assert back.opening_statement == "Llegó roto ✗"
    assert back.decision == dispute.decision
    assert pack.content_hash() == recorded
    assert back.is_evidence_frozen


async def test_a_dispute_walked_one_unit_of_work_per_step_keeps_its_pack(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, open_dispute(order))
    steps: list[Callable[[Dispute], object]] = [
        lambda d: d.submit_evidence(seller_photo(), at(2)),
        lambda d: d.attach_platform_facts(platform_facts(), at(4)),
        lambda d: d.attach_transcript(transcript(), at(5)),
        lambda d: d.start_review(at(6)),
        decided_only,
        lambda d: d.start_execution(at(8)),
        lambda d: d.mark_resolved(at(9)),
    ]
    for step in steps:
        async with uow_factory() as uow:
            dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
            assert dispute is not None
            before = dispute_state(dispute)
            result = step(dispute)
            assert not isinstance(result, Failure), result
            assert dispute_state(dispute) != before
            assert await uow.disputes.save(dispute) == Success(None)
            await uow.commit()
        assert dispute_state(await loaded(uow_factory)) == dispute_state(dispute)
    final = await loaded(uow_factory)
    assert final.status is DisputeStatus.RESOLVED
    assert final.decision is not None
    assert final.evidence.content_hash() == final.decision.evidence_pack_hash


def decided_only(dispute: Dispute) -> object:
    return dispute.decide(
        outcome=OutcomeCode.FULL_REFUND,
        reason_code=DecisionReasonCode.GOODWILL,
        decided_by_actor=ActorId("agent_7"),
        decided_by_role="L2",
        at=at(7),
    )


async def test_an_order_has_at_most_one_dispute_in_progress(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, open_dispute(order, "dsp_1"))

    async with uow_factory() as uow:
        assert await uow.disputes.add(open_dispute(order, "dsp_2")) is False
        # the refusal did not spoil the transaction: it goes on and commits
        other = delivered("ord_2")
        await uow.orders.add(other)
        assert await uow.disputes.add(open_dispute(other, "dsp_3")) is True
        await uow.commit()

    assert await load(uow_factory, MX, "dsp_2") is None
    assert (await loaded(uow_factory, "dsp_3")).order_id == "ord_2"


@pytest.mark.parametrize("close", [resolved, withdrawn], ids=["RESOLVED", "WITHDRAWN"])
async def test_a_new_dispute_may_open_once_the_previous_one_is_final(
    uow_factory: UowFactory, close: Callable[[Dispute], Dispute]
) -> None:
    order = delivered("ord_1")
    first = with_all_prongs(open_dispute(order, "dsp_1"))
    await store(uow_factory, order, first)
    async with uow_factory() as uow:
        dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
        assert dispute is not None
        close(decided(dispute) if close is resolved else dispute)
        assert await uow.disputes.save(dispute) == Success(None)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.disputes.add(open_dispute(order, "dsp_2")) is True
        assert await uow.disputes.add(open_dispute(order, "dsp_3")) is False
        await uow.commit()

    async with uow_factory() as uow:
        listed = await uow.disputes.for_order(MX, OrderId("ord_1"))
    assert [dispute.id for dispute in listed] == ["dsp_1", "dsp_2"]


async def test_a_dispute_id_stored_twice_is_a_bug_not_a_refusal(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    first = withdrawn(open_dispute(order, "dsp_1"))
    await store(uow_factory, order, first)
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.disputes.add(open_dispute(order, "dsp_1"))


async def test_disputes_are_scoped_by_country(uow_factory: UowFactory) -> None:
    mx_order, co_order = delivered("ord_1", MX), delivered("ord_1", CO)
    await store(uow_factory, mx_order, co_order, open_dispute(mx_order, "dsp_1"))

    async with uow_factory() as uow:
        assert await uow.disputes.get(CO, DisputeId("dsp_1")) is None
        assert await uow.disputes.for_order(CO, OrderId("ord_1")) == []
        # the same order id in another country is another order: its dispute is not refused
        assert await uow.disputes.add(open_dispute(co_order, "dsp_2")) is True
        await uow.commit()

    async with uow_factory() as uow:
        assert [d.id for d in await uow.disputes.for_order(MX, OrderId("ord_1"))] == ["dsp_1"]
        assert [d.id for d in await uow.disputes.for_order(CO, OrderId("ord_1"))] == ["dsp_2"]


async def test_a_dispute_needs_its_order_in_the_same_country(uow_factory: UowFactory) -> None:
    await store(uow_factory, delivered("ord_1", MX))
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.disputes.add(open_dispute(delivered("ord_1", CO)))


async def test_a_rollback_leaves_nothing(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    async with uow_factory() as uow:
        await uow.orders.add(order)
        assert await uow.disputes.add(open_dispute(order))
    assert await load(uow_factory, MX, "dsp_1") is None

    await store(uow_factory, order, open_dispute(order))
    async with uow_factory() as uow:
        dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
        assert dispute is not None
        with_all_prongs(dispute)
        assert await uow.disputes.save(dispute) == Success(None)
        await uow.rollback()
    back = await loaded(uow_factory)
    assert (back.status, back.version, len(back.evidence.submissions)) == (DisputeStatus.OPEN, 1, 1)


async def test_a_stale_save_is_a_conflict_and_writes_nothing(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, open_dispute(order))
    async with uow_factory() as uow:
        dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
        assert dispute is not None
        await uow.session.execute(
            update(disputes)
            .where(disputes.c.country_code == "MX", disputes.c.id == "dsp_1")
            .values(status="UNDER_REVIEW", version=disputes.c.version + 1)
        )
        ok(dispute.withdraw(at=at(1), by_actor=ActorId("buy_1"), by_role="BUYER", reason="never mind"))

        assert await uow.disputes.save(dispute) == Failure(ConcurrencyConflict("dispute", "dsp_1", 1))
        row = (await uow.session.execute(select(disputes.c.status, disputes.c.version))).one()
        assert (row.status, row.version) == ("UNDER_REVIEW", 2)


async def test_two_units_of_work_that_loaded_the_same_dispute_cannot_both_write(
    uow_factory: UowFactory, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite serialises units of work; covered by the concurrent test below")
    order = delivered("ord_1")
    await store(uow_factory, order, with_all_prongs(open_dispute(order)))
    first, second = uow_factory(), uow_factory()
    async with first, second:
        mine = await first.disputes.get(MX, DisputeId("dsp_1"))
        theirs = await second.disputes.get(MX, DisputeId("dsp_1"))
        assert mine is not None
        assert theirs is not None
        decided(mine)
        withdrawn(theirs)

        assert await first.disputes.save(mine) == Success(None)
        await first.commit()
        assert await second.disputes.save(theirs) == Failure(ConcurrencyConflict("dispute", "dsp_1", 5))
        await second.commit()

    back = await loaded(uow_factory)
    assert back.status is DisputeStatus.DECIDED
    assert back.withdrawal is None
    assert dispute_state(back) == dispute_state(mine)


async def test_concurrent_units_of_work_never_lose_an_update(uow_factory: UowFactory, backend: str) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, with_all_prongs(open_dispute(order)))
    first_saved = asyncio.Event()

    async def first() -> None:
        async with uow_factory() as uow:
            dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
            assert dispute is not None
            ok(dispute.start_review(at(6)))
            assert await uow.disputes.save(dispute) == Success(None)
            first_saved.set()
            await asyncio.sleep(0.3)
            await uow.commit()

    async def second() -> tuple[DisputeStatus, object]:
        await first_saved.wait()
        async with uow_factory() as uow:
            dispute = await uow.disputes.get(MX, DisputeId("dsp_1"))
            assert dispute is not None
            read = dispute.status
            ok(dispute.withdraw(at=at(7), by_actor=ActorId("buy_1"), by_role="BUYER", reason="sorted out"))
            saved = await uow.disputes.save(dispute)
            await uow.commit()
            return read, saved

    _, (read, saved) = await asyncio.gather(first(), second())

    back = await loaded(uow_factory)
    if backend == "postgresql":
        assert read is DisputeStatus.GATHERING_EVIDENCE
        assert saved == Failure(ConcurrencyConflict("dispute", "dsp_1", 5))
        assert (back.status, back.version) == (DisputeStatus.UNDER_REVIEW, 6)
    else:
        assert read is DisputeStatus.UNDER_REVIEW
        assert saved == Success(None)
        assert (back.status, back.version) == (DisputeStatus.WITHDRAWN, 7)


async def test_save_of_a_dispute_never_loaded_inserts_it_or_is_a_conflict(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order)
    dispute = open_dispute(order)
    async with uow_factory() as uow:
        assert await uow.disputes.save(dispute) == Success(None)
        await uow.commit()

    stale = await loaded(uow_factory)
    ok(stale.start_review(at(1)))
    async with uow_factory() as uow:
        assert await uow.disputes.save(stale) == Failure(ConcurrencyConflict("dispute", "dsp_1", 2))
        await uow.commit()
    assert (await loaded(uow_factory)).status is DisputeStatus.OPEN


def _tamper_statement(evidence: dict[str, Any]) -> None:
    evidence["submissions"] = [
        {**item, "statement": "I never said that"} if item["kind"] == "STATEMENT" else item
        for item in evidence["submissions"]
    ]


def _tamper_gps(evidence: dict[str, Any]) -> None:
    """Still a well-formed pack, just not the one stored: only the hash can tell."""
    proof = evidence["platform_facts"]["delivery_proof"]
    proof["gps_points"][0] = {**proof["gps_points"][0], "lat_microdeg": 0}


@pytest.mark.parametrize("tamper", [_tamper_statement, _tamper_gps], ids=["statement", "gps"])
@pytest.mark.parametrize("stage", ["GATHERING_EVIDENCE, all three prongs", "DECIDED, partial refund"])
async def test_a_tampered_pack_does_not_load(
    uow_factory: UowFactory, tamper: Callable[[dict[str, Any]], None], stage: str
) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, STAGES[stage](order))
    async with uow_factory() as uow:
        row = (await uow.session.execute(select(disputes.c.evidence))).one()
        evidence = copy.deepcopy(dict(row.evidence))
        tamper(evidence)
        await uow.session.execute(update(disputes).values(evidence=evidence))
        await uow.commit()

    with pytest.raises(InvariantViolation):
        await load(uow_factory, MX, "dsp_1")


async def test_collect_events_returns_the_events_of_changed_disputes_and_orders(
    uow_factory: UowFactory,
) -> None:
    order = delivered("ord_1")
    await store(uow_factory, order, delivered("ord_2"))
    async with uow_factory() as uow:
        loaded_order = await uow.orders.get(MX, OrderId("ord_1"))
        untouched = await uow.orders.get(MX, OrderId("ord_2"))
        assert loaded_order is not None
        assert untouched is not None
        dispute = open_dispute(loaded_order)
        ok(loaded_order.transition_to(OrderStatus.DISPUTED, at(0)))
        assert await uow.disputes.add(dispute)
        ok(dispute.submit_evidence(seller_photo(), at(2)))

        events = uow.collect_events()

        assert [type(event) for event in events] == [
            OrderStatusChanged,
            DisputeOpened,
            EvidenceGatheringStarted,
            EvidenceSubmitted,
        ]
        assert [event.version for event in events if isinstance(event, DisputeEvent)] == [1, 2, 2]
        assert uow.collect_events() == []
        decided(with_all_prongs_after_photo(dispute))
        assert DisputeDecided in {type(event) for event in uow.collect_events()}


def with_all_prongs_after_photo(dispute: Dispute) -> Dispute:
    ok(dispute.submit_evidence(buyer_statement(), at(3)))
    ok(dispute.attach_platform_facts(platform_facts(), at(4)))
    ok(dispute.attach_transcript(transcript(), at(5)))
    return dispute


async def test_for_order_lists_oldest_first_and_is_one_object_per_dispute(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    first = withdrawn(open_dispute(order, "dsp_b"))
    await store(uow_factory, order, first)
    second = open_dispute(order, "dsp_a")
    async with uow_factory() as uow:
        assert await uow.disputes.add(second)
        listed = await uow.disputes.for_order(MX, OrderId("ord_1"))
        fetched = await uow.disputes.get(MX, DisputeId("dsp_a"))
    assert [dispute.id for dispute in listed] == ["dsp_a", "dsp_b"]  # same opened_at: by id
    assert fetched is second
    assert listed[0] is second


@pytest.mark.parametrize("text", ["ñandú ✓ 📦", 'quotes " and \\ backslashes', "line\nbreaks\tand tabs"])
async def test_statement_text_round_trips_exactly(uow_factory: UowFactory, text: str) -> None:
    order = delivered("ord_1")
    dispute = open_dispute(order, statement=text)
    await store(uow_factory, order, dispute)
    back = await loaded(uow_factory)
    assert back.opening_statement == text.strip()
    assert back.evidence.content_hash() == dispute.evidence.content_hash()


async def test_timestamps_keep_their_instant_across_time_zones(uow_factory: UowFactory) -> None:
    order = delivered("ord_1")
    dispute = with_all_prongs(open_dispute(order))
    await store(uow_factory, order, dispute)
    back = await loaded(uow_factory)
    photo = back.evidence.submission("ev_photo")
    assert photo is not None
    assert photo.submitted_at == at(2)
    assert back.evidence_deadline == dispute.evidence_deadline
    assert back.updated_at - back.opened_at == timedelta(hours=5)


async def test_racing_openers_of_one_order_get_one_dispute(uow_factory: UowFactory) -> None:
    """Ten units of work open a dispute on the same order at once: exactly one is stored."""
    order = delivered("ord_1")
    await store(uow_factory, order)

    async def opener(n: int) -> bool:
        async with uow_factory() as uow:
            added = await uow.disputes.add(open_dispute(order, f"dsp_{n}"))
            await asyncio.sleep(0.01)
            await uow.commit()
            return added

    results = await asyncio.gather(*(opener(n) for n in range(10)))

    assert sorted(results) == [False] * 9 + [True]
    async with uow_factory() as uow:
        stored = await uow.disputes.for_order(MX, OrderId("ord_1"))
    assert [dispute.id for dispute in stored] == [f"dsp_{results.index(True)}"]
