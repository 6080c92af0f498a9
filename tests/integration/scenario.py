"""Builders for end-to-end scenarios through the real use cases (shared by the saga tests
and the crash subprocess)."""

from __future__ import annotations

from datetime import timedelta

from application.context import RequestContext, Services
from application.disputes.use_cases import (
    DecideDispute,
    DecisionReceipt,
    OpenDispute,
    StartReview,
    decide_dispute,
    open_dispute,
    start_review,
)
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.security.principal import Principal, Role
from domain.disputes import Dispute
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import RefundPolicy

MX = CountryCode("MX")
MXN = Currency.of("MXN")


def ctx(role: Role, actor: str | None = None, countries: tuple[str, ...] = ("MX", "CO")) -> RequestContext:
    principal = Principal(
        actor or f"{role.value.lower()}-1", role, frozenset(CountryCode(c) for c in countries)
    )
    return RequestContext(principal, f"req-{role.value.lower()}")


SYSTEM = ctx(Role.SYSTEM)
L1 = ctx(Role.L1)
L2 = ctx(Role.L2)
L3 = ctx(Role.L3)


async def add_policy(svc: Services, country: CountryCode = MX, currency: Currency = MXN) -> RefundPolicy:
    policy = RefundPolicy.create(
        country=country, version=f"{country.value}-v1", currency=currency, goodwill_credit_minor=10_000
    ).unwrap()
    async with svc.uow() as uow:
        await uow.policies.add(policy, effective_from=svc.clock.now() - timedelta(days=365))
        await uow.commit()
    return policy


async def delivered_order(svc: Services, order_id: str, *, country: CountryCode = MX) -> Order:
    """Created, captured (T = 123_000: S 100_000 + delivery 5_000 + service 2_000 + tax 16_000,
    commission 15 %), and moved along to DELIVERED."""
    (
        await create_order(
            svc,
            SYSTEM,
            CreateOrder(country, BuyerId("buy_1"), SellerId("sel_1"), CourierId("cou_1"), OrderId(order_id)),
        )
    ).unwrap()
    (
        await capture_payment(
            svc,
            SYSTEM,
            CapturePayment(country, OrderId(order_id), MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500),
        )
    ).unwrap()
    order: Order | None = None
    for status in (
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
    ):
        order = (
            await transition_order(svc, SYSTEM, TransitionOrder(country, OrderId(order_id), status))
        ).unwrap()
    assert order is not None
    return order


async def dispute_under_review(svc: Services, order_id: str) -> Dispute:
    await delivered_order(svc, order_id)
    dispute = (
        await open_dispute(
            svc, L1, OpenDispute(MX, OrderId(order_id), DisputeReason.DAMAGED, "The vase arrived broken")
        )
    ).unwrap()
    return (await start_review(svc, L1, StartReview(MX, dispute.id))).unwrap()


async def decide(
    svc: Services, dispute: Dispute, outcome: OutcomeCode, *, key: str = "k1", tier: int | None = None
) -> DecisionReceipt:
    return (
        await decide_dispute(
            svc,
            L2,
            DecideDispute(MX, dispute.id, outcome, DecisionReasonCode.EVIDENCE_SUPPORTS_BUYER, key, tier),
        )
    ).unwrap()
