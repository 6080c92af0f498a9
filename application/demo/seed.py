"""Demo data through the real use cases: several countries and currencies, orders in
every reachable state, disputes in every state, some resolved through the saga.

Time travels: the seed runs on its own clock starting ten days ago, so windows close
and deadlines pass as they would in real life, and every record is internally
consistent (ledger, audit chain, outbox). Running it twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from returns.result import Failure, Result

from application.context import RequestContext, Services
from application.demo.conversations import seed_conversations
from application.disputes.use_cases import (
    DecideDispute,
    OpenDispute,
    StartReview,
    SubmitEvidence,
    WithdrawDispute,
    decide_dispute,
    open_dispute,
    start_review,
    submit_evidence,
    withdraw_dispute,
)
from application.integrations.breakers import CircuitBreakerGate
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
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.saga.executor import Providers, SagaRunner
from application.security.principal import Principal, Role
from domain.disputes import Dispute
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.integrations import BreakerPolicy
from domain.messaging import Screener
from domain.orders import OrderStatus
from domain.shared import CountryCode, Currency, DomainError
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import RefundPolicy

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)

DEMO_COUNTRIES = ("MX", "CO", "BR", "CL")
OUTAGE_COUNTRY = "BR"  # its payments provider's circuit breaker is left open


@dataclass(frozen=True, slots=True)
class Market:
    country: str
    currency: str
    items_minor: int  # a typical gift's items subtotal
    goodwill_minor: int


MARKETS = (
    Market("MX", "MXN", 85_000, 10_000),
    Market("CO", "COP", 18_000_000, 2_000_000),
    Market("BR", "BRL", 15_000, 2_500),
    Market("CL", "CLP", 25_000, 5_000),
)

_FORWARD = (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED)


class TravelClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass
class SeedReport:
    skipped: bool = False
    orders: Counter[str] = field(default_factory=Counter)
    disputes: Counter[str] = field(default_factory=Counter)
    conversations: int = 0  # opened by this run (on a seeded database: the missing ones)


def demo_order_id(country: str, name: str) -> OrderId:
    return OrderId(f"{country.lower()}-{name}")


def demo_seller(country: str) -> SellerId:
    return SellerId(f"{country.lower()}-seller-1")


def demo_buyer(country: str) -> BuyerId:
    return BuyerId(f"{country.lower()}-buyer-1")


def _unwrap(result: Result[T, E], what: str) -> T:
    if isinstance(result, Failure):
        raise RuntimeError(f"seed step {what!r} failed: {result.failure().message}")
    return result.unwrap()


class _Seeder:
    def __init__(
        self, uow: UnitOfWorkFactory, ids: IdGenerator, providers: Providers, start: datetime
    ) -> None:
        self.clock = TravelClock(start)
        self.svc = Services(uow=uow, clock=self.clock, ids=ids)
        scope = frozenset(CountryCode(c) for c in DEMO_COUNTRIES)
        self.system = RequestContext(Principal("marketplace", Role.SYSTEM, scope), "seed-demo")
        self.agent = RequestContext(Principal("agent-ana", Role.L1, scope), "seed-demo")
        self.specialist = RequestContext(Principal("specialist-sol", Role.L2, scope), "seed-demo")
        self.runner = SagaRunner(self.svc, providers, worker_id="seed-demo")

    async def policy(self, market: Market) -> None:
        country = CountryCode(market.country)
        policy = _unwrap(
            RefundPolicy.create(
                country=country,
                version=f"{market.country}-2026-01",
                currency=Currency.of(market.currency),
                goodwill_credit_minor=market.goodwill_minor,
            ),
            "policy",
        )
        async with self.svc.uow() as uow:
            if await uow.policies.get(country, policy.version) is None:
                await uow.policies.add(policy, effective_from=self.clock.now() - timedelta(days=365))
                await uow.commit()

    async def order(self, market: Market, name: str, until: OrderStatus | None) -> OrderId:
        """Create an order and walk it forward to ``until`` (None: leave it CREATED)."""
        country = CountryCode(market.country)
        order_id = demo_order_id(market.country, name)
        _unwrap(
            await create_order(
                self.svc,
                self.system,
                CreateOrder(
                    country,
                    demo_buyer(market.country),
                    demo_seller(market.country),
                    CourierId(f"{market.country.lower()}-courier-1"),
                    order_id,
                ),
            ),
            f"create {order_id}",
        )
        if until is None:
            return order_id
        if until is OrderStatus.CANCELLED:
            _unwrap(
                await transition_order(self.svc, self.system, TransitionOrder(country, order_id, until)),
                "cancel",
            )
            return order_id
        items = market.items_minor
        _unwrap(
            await capture_payment(
                self.svc,
                self.system,
                CapturePayment(
                    country,
                    order_id,
                    Currency.of(market.currency),
                    items,
                    items // 10,
                    items // 40,
                    items * 16 // 100,
                    0,
                    1_500,
                ),
            ),
            f"capture {order_id}",
        )
        for status in _FORWARD:
            if until is OrderStatus.PAID:
                break
            _unwrap(
                await transition_order(self.svc, self.system, TransitionOrder(country, order_id, status)),
                str(status),
            )
            if status is until:
                break
        return order_id

    async def dispute(self, market: Market, order_id: OrderId, reason: DisputeReason) -> Dispute:
        buyer = RequestContext(
            Principal(demo_buyer(market.country), Role.BUYER, frozenset({CountryCode(market.country)})),
            "seed-demo",
        )
        return _unwrap(
            await open_dispute(
                self.svc,
                buyer,
                OpenDispute(
                    CountryCode(market.country), order_id, reason, "The gift did not arrive as promised."
                ),
            ),
            f"open dispute on {order_id}",
        )

    async def review(self, market: Market, dispute: Dispute) -> None:
        _unwrap(
            await start_review(self.svc, self.agent, StartReview(CountryCode(market.country), dispute.id)),
            "review",
        )

    async def decide(
        self, market: Market, dispute: Dispute, outcome: OutcomeCode, tier: int | None = None
    ) -> None:
        await self.review(market, dispute)
        _unwrap(
            await decide_dispute(
                self.svc,
                self.specialist,
                DecideDispute(
                    CountryCode(market.country),
                    dispute.id,
                    outcome,
                    DecisionReasonCode.EVIDENCE_SUPPORTS_BUYER,
                    f"seed-{dispute.id}",
                    tier,
                ),
            ),
            f"decide {dispute.id}",
        )

    async def run(self, screener: Screener | None = None) -> SeedReport:
        report = SeedReport()
        async with self.svc.uow() as uow:
            seeded = await uow.orders.get(CountryCode("MX"), demo_order_id("MX", "completed")) is not None
        if seeded:  # only conversations missing from an older seed are added
            return SeedReport(skipped=True, conversations=await _conversations(self.svc, screener))
        for market in MARKETS:
            await self.policy(market)
        # Day 0: orders that will complete when their window closes, and disputed ones.
        for market in MARKETS:
            await self.order(market, "completed", OrderStatus.DELIVERED)
            evidence = await self.dispute(
                market,
                await self.order(market, "disputed", OrderStatus.DELIVERED),
                DisputeReason.NOT_DELIVERED,
            )
            _unwrap(
                await submit_evidence(
                    self.svc,
                    self.agent,
                    SubmitEvidence(
                        CountryCode(market.country),
                        evidence.id,
                        statement="Courier GPS shows the parcel left at the reception.",
                    ),
                ),
                "evidence",
            )
            await self.review(
                market,
                await self.dispute(
                    market,
                    await self.order(market, "under-review", OrderStatus.DELIVERED),
                    DisputeReason.WRONG_ITEM,
                ),
            )
            await self.decide(
                market,
                await self.dispute(
                    market, await self.order(market, "refunded", OrderStatus.DELIVERED), DisputeReason.DAMAGED
                ),
                OutcomeCode.FULL_REFUND,
            )
            await self.decide(
                market,
                await self.dispute(
                    market,
                    await self.order(market, "partially-refunded", OrderStatus.DELIVERED),
                    DisputeReason.LATE,
                ),
                OutcomeCode.PARTIAL_REFUND,
                2_500,
            )
            await self.decide(
                market,
                await self.dispute(
                    market,
                    await self.order(market, "store-credit", OrderStatus.DELIVERED),
                    DisputeReason.LATE,
                ),
                OutcomeCode.STORE_CREDIT,
            )
            await self.decide(
                market,
                await self.dispute(
                    market, await self.order(market, "rejected", OrderStatus.DELIVERED), DisputeReason.OTHER
                ),
                OutcomeCode.REJECTED,
            )
            await self.decide(
                market,
                await self.dispute(
                    market,
                    await self.order(market, "refund-declined", OrderStatus.DELIVERED),
                    DisputeReason.DAMAGED,
                ),
                OutcomeCode.FULL_REFUND,
            )
            withdrawn = await self.dispute(
                market,
                await self.order(market, "withdrawn", OrderStatus.DELIVERED),
                DisputeReason.NOT_AS_DESCRIBED,
            )
            _unwrap(
                await withdraw_dispute(
                    self.svc,
                    self.specialist,
                    WithdrawDispute(
                        CountryCode(market.country),
                        withdrawn.id,
                        "The buyer found the parcel with a neighbour.",
                    ),
                ),
                "withdraw",
            )
        self.clock.advance(timedelta(minutes=5))
        await self.runner.drain()
        # Decided but not yet executed, and mid-execution.
        for market in MARKETS:
            await self.decide(
                market,
                await self.dispute(
                    market,
                    await self.order(market, "executing", OrderStatus.DELIVERED),
                    DisputeReason.DAMAGED,
                ),
                OutcomeCode.FULL_REFUND,
            )
        self.clock.advance(timedelta(minutes=1))
        for _ in MARKETS:
            await self.runner.run_once(limit=1)
        for market in MARKETS:
            await self.decide(
                market,
                await self.dispute(
                    market, await self.order(market, "decided", OrderStatus.DELIVERED), DisputeReason.DAMAGED
                ),
                OutcomeCode.PARTIAL_REFUND,
                5_000,
            )
            await self.dispute(
                market, await self.order(market, "open-dispute", OrderStatus.DELIVERED), DisputeReason.LATE
            )
        # Day 4: the first windows have closed.
        self.clock.advance(timedelta(days=4))
        for market in MARKETS:
            _unwrap(
                await complete_due_orders(
                    self.svc, self.system, CompleteDueOrders(CountryCode(market.country))
                ),
                "complete",
            )
        # Today: orders still in flight, in every early state.
        self.clock.advance(timedelta(days=5))
        for market in MARKETS:
            for name, status in (
                ("created", None),
                ("cancelled", OrderStatus.CANCELLED),
                ("paid", OrderStatus.PAID),
                ("accepted", OrderStatus.ACCEPTED),
                ("in-preparation", OrderStatus.IN_PREPARATION),
                ("in-transit", OrderStatus.IN_TRANSIT),
                ("delivered", OrderStatus.DELIVERED),
            ):
                await self.order(market, name, status)
        # A payments outage in one country: its shared circuit breaker is open, so the jobs
        # of that provider there wait (the console's providerStatus shows it).
        gate = CircuitBreakerGate(self.svc, BreakerPolicy())
        for _ in range(BreakerPolicy().failure_threshold):
            await gate.failed(CountryCode(OUTAGE_COUNTRY), "payments", caller="seed-demo")
        report.conversations = await _conversations(self.svc, screener)
        async with self.svc.uow() as uow:
            for market in MARKETS:
                for status, count in (await uow.orders.count_by_status(CountryCode(market.country))).items():
                    report.orders[status.value] += count
        return report


async def seed_demo(
    *,
    uow: UnitOfWorkFactory,
    ids: IdGenerator,
    providers: Providers,
    clock: Clock,
    screener: Screener | None = None,
) -> SeedReport:
    """Load the demo data (a no-op when it is already there). With a ``screener`` (the
    messaging adapter's), conversations on disputed and incident orders too."""
    seeder = _Seeder(uow, ids, providers, clock.now() - timedelta(days=10))
    return await seeder.run(screener)


async def _conversations(svc: Services, screener: Screener | None) -> int:
    if screener is None:
        return 0
    return await seed_conversations(svc, screener, DEMO_COUNTRIES, demo_order_id)


def failing_demo_orders() -> frozenset[str]:
    """Orders whose refunds the demo's sandbox declines (shows EXECUTION_FAILED)."""
    return frozenset(demo_order_id(m.country, "refund-declined") for m in MARKETS)
