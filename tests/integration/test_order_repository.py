"""The order repository contract, on SQLite and PostgreSQL: round trips in every status,
snapshots exact to the minor unit, country scoping, optimistic concurrency, rollback,
``delivered_before``, ``count_by_status`` and domain-event collection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from returns.result import Failure, Success
from sqlalchemy import select, update

from adapters.persistence.tables import orders
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.orders import (
    Order,
    OrderCreated,
    OrderEvent,
    OrderFrozen,
    OrderStatus,
    OrderStatusChanged,
    PaymentCaptured,
)
from domain.shared import CountryCode
from domain.shared.ids import OrderId
from domain.snapshots import RefundPolicy
from tests.integration.aggregate_builders import (
    CO,
    MX,
    RECIPES,
    T0,
    TO_DELIVERED,
    TO_IN_TRANSIT,
    delivered,
    new_order,
    ok,
    order_in,
    order_state,
    snapshot_for,
    to,
)
from tests.strategies import snapshot

UowFactory = Callable[[], SqlAlchemyUnitOfWork]


async def store(uow_factory: UowFactory, *items: Order) -> None:
    async with uow_factory() as uow:
        for order in items:
            await uow.orders.add(order)
        await uow.commit()


async def load(uow_factory: UowFactory, country: CountryCode, order_id: str) -> Order | None:
    async with uow_factory() as uow:
        return await uow.orders.get(country, OrderId(order_id))


async def loaded(uow_factory: UowFactory, country: CountryCode, order_id: str) -> Order:
    order = await load(uow_factory, country, order_id)
    assert order is not None
    return order


async def test_the_unit_of_work_satisfies_the_port(uow_factory: UowFactory) -> None:
    factory: UnitOfWorkFactory = uow_factory
    uow: UnitOfWork = factory()
    async with uow:
        await uow.orders.add(new_order())
        assert uow.collect_events()
        await uow.commit()


@pytest.mark.parametrize("recipe", list(RECIPES))
async def test_an_order_in_every_status_reads_back_as_stored(uow_factory: UowFactory, recipe: str) -> None:
    order = order_in(recipe)
    await store(uow_factory, order)

    back = await loaded(uow_factory, MX, "ord_1")

    assert order_state(back) == order_state(order)
    assert back.pending_events == ()
    assert (back.snapshot is None) == (
        recipe in {"CREATED", "CANCELLED before capture", "FROZEN before capture"}
    )


@pytest.mark.parametrize("recipe", list(RECIPES))
async def test_an_order_walked_one_unit_of_work_per_step_reads_back_as_it_was_left(
    uow_factory: UowFactory, recipe: str
) -> None:
    """Add at CREATED, then each step in its own unit of work: load, change, save, commit."""
    expected = new_order()
    await store(uow_factory, new_order())
    for step in RECIPES[recipe]:
        step(expected)
        async with uow_factory() as uow:
            order = await uow.orders.get(MX, OrderId("ord_1"))
            assert order is not None
            step(order)
            assert await uow.orders.save(order) == Success(None)
            await uow.commit()
        assert order_state(await loaded(uow_factory, MX, "ord_1")) == order_state(expected)


@pytest.mark.parametrize(
    ("country", "currency", "amounts"),
    [
        pytest.param(
            "CL", "CLP", {"items": 25_990, "delivery": 2_490, "service": 990, "tax": 0}, id="CLP-0dp"
        ),
        pytest.param(
            "MX", "MXN", {"items": 123_45, "delivery": 49_99, "service": 5_01, "tax": 19_75}, id="MXN-2dp"
        ),
        pytest.param(
            "KW", "KWD", {"items": 12_345, "delivery": 1_005, "service": 250, "tax": 1}, id="KWD-3dp"
        ),
        pytest.param(
            "MX",
            "MXN",
            {"items": 98_765_432_109_876, "delivery": 2**31 + 7, "service": 2**33, "tax": 3 * 2**32 + 1},
            id="MXN-beyond-2**31",
        ),
        pytest.param(
            "CL",
            "CLP",
            {"items": 4_000_000_000_000, "delivery": 0, "service": 0, "tax": 0, "discount": 2**31},
            id="CLP-large-discount",
        ),
    ],
)
async def test_snapshot_money_is_exact_to_the_minor_unit(
    uow_factory: UowFactory, country: str, currency: str, amounts: dict[str, Any]
) -> None:
    order = new_order("ord_money", CountryCode(country))
    captured = snapshot(
        order_id="ord_money", country=country, currency=currency, commission_bp=1_234, **amounts
    )
    ok(order.capture_payment(captured, T0))
    await store(uow_factory, order)

    back = await loaded(uow_factory, CountryCode(country), "ord_money")

    assert back.snapshot == captured
    assert back.snapshot is not None
    for name in ("items_subtotal", "delivery_fee", "service_fee", "tax", "discount", "total_charged"):
        stored, original = getattr(back.snapshot, name), getattr(captured, name)
        assert type(stored.minor) is int
        assert (stored.minor, stored.currency) == (original.minor, original.currency)
    assert back.snapshot.currency.exponent == {"CLP": 0, "MXN": 2, "KWD": 3}[currency]
    assert back.snapshot.seller_payout == captured.seller_payout
    assert back.snapshot.platform_take == captured.platform_take


async def test_the_snapshot_keeps_its_policy_whatever_versions_come_later(uow_factory: UowFactory) -> None:
    original = ok(
        RefundPolicy.create(
            country=MX,
            version="MX-2026-01",
            currency=snapshot_for(new_order()).currency,
            goodwill_credit_minor=15_000,
            partial_refund_tiers_bp=(1_000, 3_300, 7_500),
            dispute_window=timedelta(days=5, seconds=1),
            evidence_deadline=timedelta(hours=36),
            lateness_threshold=timedelta(minutes=20),
        )
    )
    newer = ok(
        RefundPolicy.create(
            country=MX, version="MX-2026-02", currency=original.currency, goodwill_credit_minor=1
        )
    )
    async with uow_factory() as uow:
        await uow.policies.add(original, effective_from=T0 - timedelta(days=30))
        await uow.commit()
    order = new_order()
    captured = replace(snapshot_for(order), policy=original)
    ok(order.capture_payment(captured, T0))
    await store(uow_factory, order)
    async with uow_factory() as uow:
        await uow.policies.add(newer, effective_from=T0 + timedelta(days=1))
        await uow.commit()

    back = await loaded(uow_factory, MX, "ord_1")

    assert back.snapshot is not None
    assert back.snapshot.policy == original
    assert back.snapshot == captured


async def test_the_payment_partner_of_the_capture_reads_back_and_survives_later_saves(
    uow_factory: UowFactory,
) -> None:
    order = new_order()
    captured = replace(snapshot_for(order), payment_partner_id="psp_9")
    ok(order.capture_payment(captured, T0))
    await store(uow_factory, order)
    back = await loaded(uow_factory, MX, "ord_1")
    assert back.snapshot == captured and back.payment_partner_id == "psp_9"
    async with uow_factory() as uow:
        again = await uow.orders.get(MX, OrderId("ord_1"))
        assert again is not None
        ok(again.transition_to(OrderStatus.ACCEPTED, T0 + timedelta(minutes=5)))
        assert await uow.orders.save(again) == Success(None)
        await uow.commit()
    assert (await loaded(uow_factory, MX, "ord_1")).payment_partner_id == "psp_9"


async def test_a_snapshot_without_a_courier_and_an_order_without_one_read_back(
    uow_factory: UowFactory,
) -> None:
    order = new_order(courier=None)
    captured = replace(snapshot_for(order), courier_id=None)
    ok(order.capture_payment(captured, T0))
    await store(uow_factory, order)

    back = await loaded(uow_factory, MX, "ord_1")

    assert order_state(back) == order_state(order)


async def test_orders_are_scoped_by_country(uow_factory: UowFactory) -> None:
    mx_order = delivered("ord_1", MX)
    await store(uow_factory, mx_order)

    async with uow_factory() as uow:
        assert await uow.orders.get(CO, OrderId("ord_1")) is None
        assert await uow.orders.delivered_before(CO, T0 + timedelta(days=1), limit=10) == []
        assert await uow.orders.count_by_status(CO) == {}
        # The same id in another country is another order: saving it leaves the MX one alone.
        co_order = new_order("ord_1", CO)
        assert await uow.orders.save(co_order) == Success(None)
        await uow.commit()

    back = await loaded(uow_factory, MX, "ord_1")
    assert order_state(back) == order_state(mx_order)
    assert (await loaded(uow_factory, CO, "ord_1")).status is OrderStatus.CREATED


async def test_an_update_reaches_only_the_row_of_its_own_country(uow_factory: UowFactory) -> None:
    await store(uow_factory, new_order("ord_1", MX), new_order("ord_1", CO))
    async with uow_factory() as uow:
        co_order = await uow.orders.get(CO, OrderId("ord_1"))
        assert co_order is not None
        ok(co_order.transition_to(OrderStatus.CANCELLED, T0 + timedelta(minutes=1)))
        assert await uow.orders.save(co_order) == Success(None)
        await uow.commit()

    assert (await loaded(uow_factory, CO, "ord_1")).status is OrderStatus.CANCELLED
    assert (await loaded(uow_factory, MX, "ord_1")).status is OrderStatus.CREATED


async def test_a_rollback_leaves_nothing(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.orders.add(new_order("ord_gone"))
        # leaving without commit rolls back
    assert await load(uow_factory, MX, "ord_gone") is None

    await store(uow_factory, new_order("ord_1"))
    async with uow_factory() as uow:
        order = await uow.orders.get(MX, OrderId("ord_1"))
        assert order is not None
        TO_IN_TRANSIT[0](order)
        assert await uow.orders.save(order) == Success(None)
        await uow.rollback()
    back = await loaded(uow_factory, MX, "ord_1")
    assert (back.status, back.version, back.snapshot) == (OrderStatus.CREATED, 0, None)


async def test_a_stale_save_is_a_conflict_and_writes_nothing(uow_factory: UowFactory) -> None:
    """Someone else's committed change lands between this unit of work's read and its write
    (simulated by bumping the row in the same transaction, which is what a READ COMMITTED
    reader sees): the save is refused and the other change stands."""
    await store(uow_factory, order_in("PAID"))
    async with uow_factory() as uow:
        order = await uow.orders.get(MX, OrderId("ord_1"))
        assert order is not None
        await uow.session.execute(
            update(orders)
            .where(orders.c.country_code == "MX", orders.c.id == "ord_1")
            .values(status="ACCEPTED", version=orders.c.version + 1)
        )
        ok(order.transition_to(OrderStatus.CANCELLED, T0 + timedelta(minutes=9)))

        saved = await uow.orders.save(order)

        assert saved == Failure(ConcurrencyConflict("order", "ord_1", 1))
        row = (await uow.session.execute(select(orders.c.status, orders.c.version))).one()
        assert (row.status, row.version) == ("ACCEPTED", 2)


async def test_two_units_of_work_that_loaded_the_same_order_cannot_both_write(
    uow_factory: UowFactory, backend: str
) -> None:
    """The lost update itself. Only PostgreSQL lets two units of work hold the same order at
    once: SQLite starts every transaction with BEGIN IMMEDIATE, so the second could not even
    read until the first ended (see the next test for what happens there)."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises units of work; covered by the concurrent test below")
    await store(uow_factory, order_in("PAID"))
    first, second = uow_factory(), uow_factory()
    async with first, second:
        mine = await first.orders.get(MX, OrderId("ord_1"))
        theirs = await second.orders.get(MX, OrderId("ord_1"))
        assert mine is not None
        assert theirs is not None
        ok(mine.transition_to(OrderStatus.ACCEPTED, T0 + timedelta(minutes=2)))
        ok(theirs.transition_to(OrderStatus.CANCELLED, T0 + timedelta(minutes=3)))

        assert await first.orders.save(mine) == Success(None)
        await first.commit()
        assert await second.orders.save(theirs) == Failure(ConcurrencyConflict("order", "ord_1", 1))
        await second.commit()  # commits nothing of theirs

    back = await loaded(uow_factory, MX, "ord_1")
    assert (back.status, back.version) == (OrderStatus.ACCEPTED, 2)


async def test_concurrent_units_of_work_never_lose_an_update(uow_factory: UowFactory, backend: str) -> None:
    """The first writer has saved but not committed when the second one starts.

    PostgreSQL: the second reads the old version, its save waits for the first to commit,
    then matches no row: a conflict, and the first's write stands. SQLite: the second cannot
    begin until the first has committed, so it reads the first's write and builds on it.
    Either way no update is lost."""
    await store(uow_factory, order_in("PAID"))
    first_saved = asyncio.Event()

    async def first() -> None:
        async with uow_factory() as uow:
            order = await uow.orders.get(MX, OrderId("ord_1"))
            assert order is not None
            ok(order.transition_to(OrderStatus.ACCEPTED, T0 + timedelta(minutes=2)))
            assert await uow.orders.save(order) == Success(None)
            first_saved.set()
            await asyncio.sleep(0.3)
            await uow.commit()

    async def second() -> tuple[OrderStatus, object]:
        await first_saved.wait()
        async with uow_factory() as uow:
            order = await uow.orders.get(MX, OrderId("ord_1"))
            assert order is not None
            read = order.status
            ok(order.freeze(T0 + timedelta(minutes=3), "inc_1"))
            saved = await uow.orders.save(order)
            await uow.commit()
            return read, saved

    _, (read, saved) = await asyncio.gather(first(), second())

    back = await loaded(uow_factory, MX, "ord_1")
    if backend == "postgresql":
        assert read is OrderStatus.PAID
        assert saved == Failure(ConcurrencyConflict("order", "ord_1", 1))
        assert (back.status, back.version) == (OrderStatus.ACCEPTED, 2)
    else:
        assert read is OrderStatus.ACCEPTED
        assert saved == Success(None)
        assert (back.status, back.frozen_from, back.version) == (OrderStatus.FROZEN, OrderStatus.ACCEPTED, 3)


async def test_saving_twice_in_one_unit_of_work_tracks_the_new_version(uow_factory: UowFactory) -> None:
    await store(uow_factory, order_in("PAID"))
    async with uow_factory() as uow:
        order = await uow.orders.get(MX, OrderId("ord_1"))
        assert order is not None
        for step in TO_DELIVERED[1:]:
            step(order)
            assert await uow.orders.save(order) == Success(None)
        await uow.commit()
    back = await loaded(uow_factory, MX, "ord_1")
    assert (back.status, back.version) == (OrderStatus.DELIVERED, 5)


async def test_an_order_added_then_changed_in_the_same_unit_of_work_saves(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        order = new_order()
        await uow.orders.add(order)
        for step in TO_DELIVERED:
            step(order)
        assert await uow.orders.save(order) == Success(None)
        await uow.commit()
    assert order_state(await loaded(uow_factory, MX, "ord_1")) == order_state(order)


async def test_one_order_is_one_object_within_a_unit_of_work(uow_factory: UowFactory) -> None:
    await store(uow_factory, delivered("ord_1"))
    async with uow_factory() as uow:
        listed = await uow.orders.delivered_before(MX, T0 + timedelta(days=1), limit=5)
        first = await uow.orders.get(MX, OrderId("ord_1"))
        again = await uow.orders.get(MX, OrderId("ord_1"))
        assert listed == [first]
        assert first is again
        assert listed[0] is first


async def test_save_of_an_order_never_loaded_inserts_it_or_is_a_conflict(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.orders.save(order_in("PAID", "ord_new")) == Success(None)
        await uow.commit()
    assert (await loaded(uow_factory, MX, "ord_new")).status is OrderStatus.PAID

    stale = await loaded(uow_factory, MX, "ord_new")  # read in a unit of work that has ended
    ok(stale.transition_to(OrderStatus.ACCEPTED, T0 + timedelta(minutes=2)))
    async with uow_factory() as uow:
        assert await uow.orders.save(stale) == Failure(ConcurrencyConflict("order", "ord_new", 2))
        await uow.commit()
    assert (await loaded(uow_factory, MX, "ord_new")).status is OrderStatus.PAID


async def test_delivered_before_returns_delivered_orders_of_the_country_up_to_the_instant(
    uow_factory: UowFactory,
) -> None:
    early, on_time, late = (
        delivered("ord_a", minute=5),
        delivered("ord_b", minute=10),
        delivered("ord_c", minute=15),
    )
    disputed = delivered("ord_d", minute=1)
    to(OrderStatus.DISPUTED, 30)(disputed)
    frozen = order_in("FROZEN after delivery", "ord_e")
    completed = order_in("COMPLETED after the window", "ord_f")
    in_transit = order_in("IN_TRANSIT", "ord_g")
    elsewhere = delivered("ord_h", CO, minute=1)
    await store(uow_factory, late, on_time, early, disputed, frozen, completed, in_transit, elsewhere)
    instant = T0 + timedelta(minutes=10)  # exactly ord_b's delivery: included

    async with uow_factory() as uow:
        due = await uow.orders.delivered_before(MX, instant, limit=10)
        first_only = await uow.orders.delivered_before(MX, instant, limit=1)
        none = await uow.orders.delivered_before(MX, T0, limit=10)
        zero = await uow.orders.delivered_before(MX, instant, limit=0)

    assert [order.id for order in due] == ["ord_a", "ord_b"]
    assert all(order.status is OrderStatus.DELIVERED for order in due)
    assert [order.id for order in first_only] == ["ord_a"]
    assert none == []
    assert zero == []


async def test_count_by_status_counts_the_country_only(uow_factory: UowFactory) -> None:
    await store(
        uow_factory,
        order_in("CREATED", "o1"),
        order_in("PAID", "o2"),
        order_in("PAID", "o3"),
        order_in("DELIVERED", "o4"),
        order_in("PAID", "o5", CO),
    )
    async with uow_factory() as uow:
        assert await uow.orders.count_by_status(MX) == {
            OrderStatus.CREATED: 1,
            OrderStatus.PAID: 2,
            OrderStatus.DELIVERED: 1,
        }
        assert await uow.orders.count_by_status(CO) == {OrderStatus.PAID: 1}


async def test_collect_events_returns_the_events_of_changed_orders_once(uow_factory: UowFactory) -> None:
    await store(uow_factory, order_in("PAID", "o_changed"), order_in("PAID", "o_untouched"))
    async with uow_factory() as uow:
        changed = await uow.orders.get(MX, OrderId("o_changed"))
        untouched = await uow.orders.get(MX, OrderId("o_untouched"))
        assert changed is not None
        assert untouched is not None
        added = new_order("o_added")
        await uow.orders.add(added)
        ok(changed.transition_to(OrderStatus.ACCEPTED, T0 + timedelta(minutes=2)))
        ok(changed.freeze(T0 + timedelta(minutes=3), "inc_9"))
        ok(added.capture_payment(snapshot_for(added), T0 + timedelta(minutes=1)))

        events = uow.collect_events()

        assert all(isinstance(event, OrderEvent) for event in events)
        assert [(type(event), event.order_id) for event in events if isinstance(event, OrderEvent)] == [
            (OrderCreated, "o_added"),
            (PaymentCaptured, "o_added"),
            (OrderStatusChanged, "o_changed"),
            (OrderFrozen, "o_changed"),
        ]
        assert [event.occurred_at for event in events] == sorted(event.occurred_at for event in events)
        assert uow.collect_events() == []
        assert changed.pending_events == ()
        ok(changed.unfreeze(T0 + timedelta(minutes=4)))
        assert [type(event).__name__ for event in uow.collect_events()] == ["OrderUnfrozen"]


async def test_collect_events_outside_an_opened_unit_of_work_is_empty(uow_factory: UowFactory) -> None:
    assert uow_factory().collect_events() == []


async def test_a_hold_start_left_behind_by_an_older_process_is_ignored(uow_factory: UowFactory) -> None:
    # D127: a process older than migration 0025 lifting a hold writes DELIVERED and leaves the
    # backfilled frozen_at behind (a rolling deploy); the order still loads and completes
    await store(uow_factory, order_in("unfrozen back to DELIVERED, its window paused"))
    async with uow_factory() as uow:
        await uow.session.execute(
            update(orders)
            .where(orders.c.country_code == "MX", orders.c.id == "ord_1")
            .values(frozen_at=T0 + timedelta(hours=1))
        )
        await uow.commit()
    back = await loaded(uow_factory, MX, "ord_1")
    assert (back.status, back.frozen_at, back.window_paused) == (
        OrderStatus.DELIVERED,
        None,
        timedelta(hours=1),
    )


async def test_a_hold_an_older_process_placed_is_taken_as_begun_at_its_last_change(
    uow_factory: UowFactory,
) -> None:
    # D127: a process older than 0025 freezes without frozen_at; the hold is taken as begun at
    # the row's last change, so lifting it still pauses the window (never longer than it was)
    await store(uow_factory, order_in("FROZEN after delivery"))
    async with uow_factory() as uow:
        await uow.session.execute(
            update(orders).where(orders.c.country_code == "MX", orders.c.id == "ord_1").values(frozen_at=None)
        )
        await uow.commit()
        changed = (
            await uow.session.execute(select(orders.c.updated_at).where(orders.c.id == "ord_1"))
        ).scalar_one()
    back = await loaded(uow_factory, MX, "ord_1")
    assert back.status is OrderStatus.FROZEN and back.frozen_at is not None
    assert back.frozen_at.replace(tzinfo=None) == changed.replace(tzinfo=None)
