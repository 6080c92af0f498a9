"""Delivered orders complete by themselves when their dispute window closes (SPEC §3),
through the scheduler's tick; the escrow is released to the seller exactly once.

Runs on SQLite and PostgreSQL. Money to the minor unit: T = 123_000, the seller's payout
106_000 (S 100_000 less 15 % commission, plus the fees that are the seller's), the
platform's commission 17_000.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure
from sqlalchemy import update

from adapters.persistence.tables import orders
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.scheduler import run_tick
from application.context import Services
from application.orders import use_cases as order_use_cases
from application.orders.completion import COMPLETER_ID, CompleteDueOrdersTask
from application.orders.use_cases import (
    CompleteDueOrders,
    TransitionOrder,
    complete_due_orders,
    transition_order,
)
from application.security.principal import Forbidden
from domain.audit import AuditEntry
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import OrderId
from domain.snapshots import RefundPolicy
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import (
    L1,
    L2,
    MX,
    MXN,
    SYSTEM,
    add_policy,
    delivered_order,
    dispute_under_review,
)

PAYOUT, TAKE, T = 106_000, 17_000, 123_000
CO = CountryCode("CO")


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


def clock_of(svc: Services) -> FixedClock:
    assert isinstance(svc.clock, FixedClock)
    return svc.clock


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def status(svc: Services, order_id: str) -> OrderStatus:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
    assert order is not None
    return order.status


async def completed_entries(svc: Services) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [
            e
            async for e in uow.audit.entries()
            if isinstance(e, AuditEntry) and e.action == "order.completed"
        ]


async def tick(svc: Services) -> int:
    report = await run_tick(svc, [CompleteDueOrdersTask()])
    assert not report.failed
    return next(iter(report.done.values()))


async def test_the_tick_completes_an_order_when_its_window_closes_and_releases_once(svc: Services) -> None:
    await delivered_order(svc, "o1")
    clock_of(svc).advance(timedelta(hours=72) - timedelta(seconds=1))
    assert await tick(svc) == 0  # one second before the window closes
    assert await status(svc, "o1") is OrderStatus.DELIVERED
    assert await balance(svc, Account.escrow("o1")) == T

    clock_of(svc).advance(timedelta(seconds=1))
    assert await tick(svc) == 1
    assert await status(svc, "o1") is OrderStatus.COMPLETED
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE
    [entry] = await completed_entries(svc)
    assert entry.after is not None
    assert (entry.actor_id, entry.actor_role, entry.target_id) == (COMPLETER_ID, "SYSTEM", "o1")
    assert entry.after["released_minor"] == T

    assert await tick(svc) == 0  # a second tick (or a second scheduler) changes nothing
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert len(await completed_entries(svc)) == 1


async def test_a_disputed_order_is_left_to_its_dispute(svc: Services) -> None:
    await dispute_under_review(svc, "o1")
    await delivered_order(svc, "o2")
    clock_of(svc).advance(timedelta(hours=73))
    assert await tick(svc) == 1
    assert (await status(svc, "o1"), await status(svc, "o2")) == (OrderStatus.DISPUTED, OrderStatus.COMPLETED)
    assert await balance(svc, Account.escrow("o1")) == T


async def test_each_order_keeps_its_own_window_and_a_skipped_page_does_not_starve_the_next(
    svc: Services,
) -> None:
    await delivered_order(svc, "o1")
    await delivered_order(svc, "o2")  # both captured under MX-v1: 72 h
    clock_of(svc).advance(timedelta(seconds=1))
    shorter = RefundPolicy.create(
        country=MX,
        version="MX-v2",
        currency=MXN,
        goodwill_credit_minor=10_000,
        dispute_window=timedelta(hours=24),
    ).unwrap()
    async with svc.uow() as uow:
        await uow.policies.add(shorter, effective_from=svc.clock.now())
        await uow.commit()
    await delivered_order(svc, "o3")  # captured under MX-v2: 24 h
    clock_of(svc).advance(timedelta(hours=25))

    # One candidate a page: o1 and o2 (delivered first, window still open) fill two pages.
    done = await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, page=1))
    assert done.unwrap() == ["o3"]
    assert [await status(svc, o) for o in ("o1", "o2")] == [OrderStatus.DELIVERED] * 2

    clock_of(svc).advance(timedelta(hours=47))
    assert sorted((await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, page=1))).unwrap()) == [
        "o1",
        "o2",
    ]
    assert await balance(svc, Account.seller_payable("sel_1")) == 3 * PAYOUT


async def test_the_limit_bounds_one_call_and_the_rest_comes_next(svc: Services) -> None:
    for order_id in ("o1", "o2", "o3"):
        await delivered_order(svc, order_id)
    clock_of(svc).advance(timedelta(hours=72))
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, limit=2))).unwrap() == ["o1", "o2"]
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, limit=2))).unwrap() == ["o3"]


async def test_every_country_with_a_policy_is_completed(svc: Services) -> None:
    await add_policy(svc, CO, MXN)
    await delivered_order(svc, "o1")
    await delivered_order(svc, "c1", country=CO)
    clock_of(svc).advance(timedelta(hours=72))
    assert await tick(svc) == 2
    async with svc.uow() as uow:
        order = await uow.orders.get(CO, OrderId("c1"))
    assert order is not None and order.status is OrderStatus.COMPLETED


async def test_only_the_system_completes_orders(svc: Services) -> None:
    await delivered_order(svc, "o1")
    clock_of(svc).advance(timedelta(hours=72))
    refused = await complete_due_orders(svc, L2, CompleteDueOrders(MX))
    assert isinstance(refused, Failure) and isinstance(refused.failure(), Forbidden)
    assert await status(svc, "o1") is OrderStatus.DELIVERED


async def test_a_bare_transition_cannot_put_an_order_on_dispute_hold(svc: Services) -> None:
    await delivered_order(svc, "o1")
    for actor in (L1, L2, SYSTEM):
        refused = await transition_order(svc, actor, TransitionOrder(MX, OrderId("o1"), OrderStatus.DISPUTED))
        assert isinstance(refused, Failure) and isinstance(refused.failure(), Forbidden)
    assert await status(svc, "o1") is OrderStatus.DELIVERED
    clock_of(svc).advance(timedelta(hours=72))
    assert await tick(svc) == 1  # and so the payout is not held for ever


def test_the_task_refuses_nonsense() -> None:
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="CompleteDueOrdersTask"):
            CompleteDueOrdersTask(limit=bad)


async def test_every_scheduler_tick_completes_due_orders(app_url: str) -> None:
    container = build_container(Settings(database_url=app_url))
    try:
        tasks = [t for t in scheduler_tasks(container) if isinstance(t, CompleteDueOrdersTask)]
    finally:
        await dispose_engines(container)
    assert len(tasks) == 1


@pytest.mark.parametrize("bad_seller", ["acme:eu", "s" * 190])
async def test_an_order_that_cannot_be_completed_is_skipped_and_the_others_are_completed(
    svc: Services, bad_seller: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored order whose release raises (a seller id stored before the ledger's rule was
    checked at creation: its payable cannot be named) is logged and skipped, its transaction
    rolled back, and it no longer holds back every order delivered after it."""
    await delivered_order(svc, "o1")
    async with svc.uow() as uow:  # poison it as rows stored before the rule would be
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        await uow.session.execute(
            update(orders)
            .where(orders.c.country_code == "MX", orders.c.id == "o1")
            .values(seller_id=bad_seller)
        )
        await uow.commit()
    clock_of(svc).advance(timedelta(minutes=1))
    await delivered_order(svc, "o2")
    await delivered_order(svc, "o3")
    clock_of(svc).advance(timedelta(hours=72))

    with caplog.at_level(logging.ERROR, logger="application.orders.use_cases"):
        assert await tick(svc) == 2  # the task itself does not fail
    assert [r.getMessage() for r in caplog.records if "o1" in r.getMessage()] == [
        "order MX/o1 not completed: it raised"
    ]
    assert [await status(svc, o) for o in ("o1", "o2", "o3")] == [
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.COMPLETED,
    ]
    assert await balance(svc, Account.escrow("o1")) == T  # nothing of o1 moved
    assert (await balance(svc, Account.escrow("o2")), await balance(svc, Account.escrow("o3"))) == (0, 0)
    assert await balance(svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    assert await balance(svc, Account.commission_revenue()) == 2 * TAKE
    assert await balance(svc, Account.psp_clearing()) == 3 * T

    clock_of(svc).advance(timedelta(minutes=1))
    assert await tick(svc) == 0  # retried every tick, skipped again; nothing released twice
    assert await status(svc, "o1") is OrderStatus.DELIVERED
    assert await balance(svc, Account.escrow("o1")) == T
    assert await balance(svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    assert await balance(svc, Account.commission_revenue()) == 2 * TAKE
    assert sorted(e.target_id for e in await completed_entries(svc)) == ["o2", "o3"]


async def test_orders_whose_window_was_paused_never_hold_back_the_others(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D139: delivered first, but paused by live incidents for days (D127), o1-o3 are not due
    when o4, delivered after them, is; read at the head of the queue they used up the tick's
    pages (here 2 pages of 1) and o4 waited for them."""
    for order_id in ("o1", "o2", "o3"):
        await delivered_order(svc, order_id)
    ten_days_us = int(timedelta(days=10) / timedelta(microseconds=1))
    async with svc.uow() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        await uow.session.execute(
            update(orders)
            .where(orders.c.id.in_(["o1", "o2", "o3"]))
            .values(dispute_window_paused_us=ten_days_us)
        )
        await uow.commit()
    clock_of(svc).advance(timedelta(seconds=1))
    await delivered_order(svc, "o4")
    clock_of(svc).advance(timedelta(hours=72))
    monkeypatch.setattr(order_use_cases, "COMPLETION_MAX_PAGES", 2)

    done = await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, page=1))
    assert done.unwrap() == ["o4"]
    assert [await status(svc, o) for o in ("o1", "o2", "o3")] == [OrderStatus.DELIVERED] * 3
    # once their paused windows close they complete too, read apart from the others
    clock_of(svc).advance(timedelta(days=10))
    later = await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, page=1))
    assert later.unwrap() == ["o1", "o2"]  # two pages of one this call
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX, page=1))).unwrap() == ["o3"]
    assert await balance(svc, Account.seller_payable("sel_1")) == 4 * PAYOUT
