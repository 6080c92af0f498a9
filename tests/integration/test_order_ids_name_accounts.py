"""An order's ids name the ledger accounts it will post to (SPEC §4): ``escrow:order:<order>``,
``buyer:credit:<buyer>``, ``seller:payable:<seller>`` and ``seller:receivable:<seller>``, at
most 200 characters, no ``:`` in the id. An id that cannot name them is refused when the order
is created (or a seller reassigned), with nothing stored: accepted, it made the capture, the
release (so the country's whole completion task) or every payout run raise much later.

On SQLite and PostgreSQL. Money to the minor unit: T = 123_000, the seller's payout 106_000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.ledger.payouts import PAYOUT_JOB_KIND, SellerPayoutJob, run_payouts
from application.orders.use_cases import (
    CapturePayment,
    CompleteDueOrders,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    complete_due_orders,
    create_order,
    transition_order,
)
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.audit import AuditEntry
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared import InvalidInput, Money
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, MXN, SYSTEM, add_policy

T, PAYOUT, TAKE = 123_000, 106_000, 17_000
COLON = "must not contain ':' (it names ledger accounts)"


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def created_entries(svc: Services) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [
            e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == "order.created"
        ]


@pytest.mark.parametrize(
    ("order_id", "buyer", "seller", "expected"),
    [
        ("o1", "buy_1", "acme:eu", InvalidInput("seller_id", COLON)),
        ("o1", "buy_1", "s" * 129, InvalidInput("seller_id", "must be at most 128 characters")),
        (
            "o1",
            "buy_1",
            "s" * 183,
            InvalidInput("seller_id", "must be at most 182 characters (it names ledger accounts)"),
        ),
        ("o1", "b:1", "sel_1", InvalidInput("buyer_id", COLON)),
        ("o1", "b" * 129, "sel_1", InvalidInput("buyer_id", "must be at most 128 characters")),
        ("o:1", "buy_1", "sel_1", InvalidInput("id", COLON)),
        ("o" * 127, "buy_1", "sel_1", InvalidInput("id", "must be at most 126 characters")),
        (
            "o1-R",
            "buy_1",
            "sel_1",
            InvalidInput("id", "must not end in '-R' (reserved for replacement orders)"),
        ),
    ],
)
async def test_create_order_refuses_ids_that_cannot_name_their_accounts_and_stores_nothing(
    svc: Services, order_id: str, buyer: str, seller: str, expected: InvalidInput
) -> None:
    refused = await create_order(
        svc, SYSTEM, CreateOrder(MX, BuyerId(buyer), SellerId(seller), CourierId("cou_1"), OrderId(order_id))
    )
    assert refused == Failure(expected)
    assert refused.failure().code == "INVALID_INPUT"
    async with svc.uow() as uow:
        assert await uow.orders.get(MX, OrderId(order_id)) is None
    assert await created_entries(svc) == []


async def test_ids_exactly_at_the_limits_go_all_the_way_to_the_sellers_payout(svc: Services) -> None:
    order_id, buyer, seller = "o" * 126, "b" * 128, "s" * 128
    oid = OrderId(order_id)
    new = CreateOrder(
        MX, BuyerId(buyer), SellerId(seller), CourierId("fleet:7"), oid
    )  # couriers hold no account
    (await create_order(svc, SYSTEM, new)).unwrap()
    capture = CapturePayment(MX, oid, MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
    (await capture_payment(svc, SYSTEM, capture)).unwrap()
    assert await balance(svc, Account.escrow(order_id)) == T
    for status in (
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
    ):
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, status))).unwrap()
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(hours=72))
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap() == [order_id]
    assert await balance(svc, Account.escrow(order_id)) == 0
    assert await balance(svc, Account.seller_payable(seller)) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE

    run = await run_payouts(svc, now=svc.clock.now())
    assert [p.amount.minor for p in run.scheduled] == [PAYOUT]
    paying = FakePayments()
    worker = SagaRunner(
        svc,
        Providers(paying, FakeNotifications(), payouts=paying),
        job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()},
    )
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert list(paying.payouts.values()) == [Money(PAYOUT, MXN)]
    assert await balance(svc, Account.seller_payable(seller)) == 0
    assert await balance(svc, Account.seller_receivable(seller)) == 0
    assert await balance(svc, Account.psp_clearing()) == T - PAYOUT
