"""Demo data through the real use cases: several countries and currencies, orders in
every reachable state, disputes in every state, some resolved through the saga.

Time travels: the seed runs on its own clock starting ten days ago, so windows close
and deadlines pass as they would in real life, and every record is internally
consistent (ledger, audit chain, outbox). Running it twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from returns.result import Failure, Result

from application.cases.incidents import (
    ApplyIncidentAction,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.cases.platform import (
    ActionItemInput,
    ClosePlatformIncident,
    OpenPlatformIncident,
    UpdatePlatformIncident,
    close_platform_incident,
    open_platform_incident,
    update_platform_incident,
)
from application.cases.scheduler import SlaBreaches
from application.cases.tickets import OpenDiagnosticsTicket, open_diagnostics_ticket
from application.cases.use_cases import (
    AssignCase,
    CloseCase,
    PostStatusUpdate,
    RateCase,
    ResolveCase,
    WaitOnCustomer,
    assign_case,
    close_case,
    post_status_update,
    rate_case,
    resolve_case,
    wait_on_customer,
)
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
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, CaseStatus, IncidentAction, IncidentType, Severity
from domain.cases.platform import PlatformIncidentStatus
from domain.cases.tracking import TrackingKind, TrackingRecord
from domain.disputes import Dispute
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.evidence import GpsPoint
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
_EVER: Final = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


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
    partial: bool = False  # an earlier run stopped half-way (the database must be recreated)
    orders: Counter[str] = field(default_factory=Counter)
    disputes: Counter[str] = field(default_factory=Counter)
    conversations: int = 0  # opened by this run (on a seeded database: the missing ones)


def demo_order_id(country: str, name: str) -> OrderId:
    return OrderId(f"{country.lower()}-{name}")


def demo_seller(country: str) -> SellerId:
    return SellerId(f"{country.lower()}-seller-1")


def demo_payment_partner(country: str) -> str:
    """The payment partner (PSP) that processes every demo payment of ``country`` (D88)."""
    return f"{country.lower()}-psp-1"


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
        self.end = start + timedelta(days=10)  # the real now: at-risk cases are due soon after it
        self.svc = Services(uow=uow, clock=self.clock, ids=ids)
        scope = frozenset(CountryCode(c) for c in DEMO_COUNTRIES)
        self.system = RequestContext(Principal("marketplace", Role.SYSTEM, scope), "seed-demo")
        self.agent = RequestContext(Principal("agent-ana", Role.L1, scope), "seed-demo")
        self.specialist = RequestContext(Principal("specialist-sol", Role.L2, scope), "seed-demo")
        self.lead = RequestContext(Principal("lead-leo", Role.L3, scope), "seed-demo")
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
                    demo_payment_partner(market.country),
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

    async def incident(
        self, market: Market, name: str, kind: IncidentType, severity: Severity, until: OrderStatus
    ) -> Case:
        order_id = await self.order(market, name, until)
        return _unwrap(
            await open_order_incident(
                self.svc,
                self.agent,
                OpenOrderIncident(
                    CountryCode(market.country),
                    order_id,
                    kind,
                    severity,
                    f"{kind.value.replace('_', ' ').capitalize()} on order {order_id}",
                ),
            ),
            f"incident {name}",
        )

    async def cases(self) -> None:
        """Live incidents of every type, severity and status in every country (disputes got
        their cases when they opened): settled by L0, worked by people, breached, at risk."""
        for market in MARKETS:
            country = CountryCode(market.country)
            # L0 settles a late order whose courier stands still: store credit, resolved by L0.
            late_id = demo_order_id(market.country, "inc-late-l0")
            now = self.clock.now()
            trace = tuple(
                GpsPoint(now - timedelta(minutes=m), 19_400_000, -99_100_000) for m in (20, 15, 10, 5, 0)
            )
            async with self.svc.uow() as uow:  # as the tracking feed records them (D90)
                for kind, facts in (
                    (TrackingKind.PROMISED, {"promised_at": now - timedelta(hours=1)}),
                    (TrackingKind.POSITIONS, {"points": trace}),
                ):
                    await uow.tracking.add(
                        TrackingRecord(
                            country, late_id, kind, "seed-demo", f"{late_id}:{kind.value}", now, **facts
                        )
                    )
                await uow.commit()
            await self.incident(
                market, "inc-late-l0", IncidentType.LATE, Severity.SEV2, OrderStatus.IN_TRANSIT
            )
            # Worked, waiting, mitigated, resolved (rated), closed after a force-complete,
            # and an operational cancellation refunded through its dispute.
            worked = await self.incident(
                market, "inc-courier", IncidentType.COURIER_UNAVAILABLE, Severity.SEV2, OrderStatus.IN_TRANSIT
            )
            _unwrap(
                await assign_case(self.svc, self.agent, AssignCase(country, worked.case_id, "agent-ana")),
                "assign",
            )
            _unwrap(
                await apply_incident_action(
                    self.svc,
                    self.specialist,
                    ApplyIncidentAction(
                        country,
                        worked.case_id,
                        IncidentAction.URGENT_REPLACEMENT,
                        "The courier's motorbike broke down",
                        replace="COURIER",
                        replacement_id=f"{market.country.lower()}-courier-2",
                    ),
                ),
                "replace courier",
            )
            waiting = await self.incident(
                market, "inc-address", IncidentType.ADDRESS_PROBLEM, Severity.SEV3, OrderStatus.IN_TRANSIT
            )
            _unwrap(
                await wait_on_customer(
                    self.svc,
                    self.agent,
                    WaitOnCustomer(country, waiting.case_id, "Asked the buyer for the flat number"),
                ),
                "wait",
            )
            mitigated = await self.incident(
                market, "inc-seller", IncidentType.SELLER_UNRESPONSIVE, Severity.SEV2, OrderStatus.ACCEPTED
            )
            _unwrap(
                await apply_incident_action(
                    self.svc,
                    self.agent,
                    ApplyIncidentAction(
                        country,
                        mitigated.case_id,
                        IncidentAction.RETRY,
                        "No answer from the seller in 40 min",
                    ),
                ),
                "retry",
            )
            _unwrap(
                await post_status_update(
                    self.svc,
                    self.specialist,
                    PostStatusUpdate(
                        country,
                        mitigated.case_id,
                        "The seller confirmed after the re-dispatch and prepares the gift",
                        CaseStatus.MITIGATED,
                    ),
                ),
                "mitigate",
            )
            resolved = await self.incident(
                market, "inc-other", IncidentType.OTHER, Severity.SEV3, OrderStatus.IN_PREPARATION
            )
            _unwrap(
                await resolve_case(
                    self.svc, self.specialist, ResolveCase(country, resolved.case_id, "Wrapping fixed")
                ),
                "resolve",
            )
            buyer = RequestContext(
                Principal(demo_buyer(market.country), Role.BUYER, frozenset({country})), "seed-demo"
            )
            _unwrap(
                await rate_case(self.svc, buyer, RateCase(country, resolved.case_id, 4, "Quick answer")),
                "rate",
            )
            forced = await self.incident(
                market, "inc-forced", IncidentType.LATE, Severity.SEV2, OrderStatus.IN_TRANSIT
            )
            _unwrap(
                await apply_incident_action(
                    self.svc,
                    self.lead,
                    ApplyIncidentAction(
                        country,
                        forced.case_id,
                        IncidentAction.FORCE_COMPLETE,
                        "Delivered; the courier app was offline",
                    ),
                ),
                "force-complete",
            )
            _unwrap(await close_case(self.svc, self.lead, CloseCase(country, forced.case_id)), "close")
            cancelled = await self.incident(
                market,
                "inc-cancelled",
                IncidentType.PAYMENT_PROBLEM,
                Severity.SEV1,
                OrderStatus.IN_PREPARATION,
            )
            _unwrap(
                await apply_incident_action(
                    self.svc,
                    self.specialist,
                    ApplyIncidentAction(country, cancelled.case_id, IncidentAction.OPERATIONAL_CANCELLATION),
                ),
                "cancel",
            )
        # (the cancellations' refunds wait in the outbox for `supportos worker`, like the
        # decided disputes above: draining here would finish those too)
        # Breached: severe incidents nobody acknowledged; the scheduler records the breaches.
        self.clock.advance(max(self.end - timedelta(hours=2) - self.clock.now(), timedelta(0)))
        for market in MARKETS[:3]:
            await self.incident(
                market, "inc-outage", IncidentType.PAYMENT_PROBLEM, Severity.SEV0, OrderStatus.PAID
            )
            await self.incident(
                market,
                "inc-silent-seller",
                IncidentType.SELLER_UNRESPONSIVE,
                Severity.SEV1,
                OrderStatus.ACCEPTED,
            )
        self.clock.advance(timedelta(minutes=45))
        await SlaBreaches()(self.svc, self.clock.now())
        # At risk: opened a few minutes before now, their targets fall due soon.
        self.clock.advance(max(self.end - timedelta(minutes=5) - self.clock.now(), timedelta(0)))
        for market in MARKETS[1:]:
            await self.incident(
                market,
                "inc-no-courier",
                IncidentType.COURIER_UNAVAILABLE,
                Severity.SEV1,
                OrderStatus.IN_PREPARATION,
            )

    async def diagnostics_tickets(self) -> None:
        """Customers' diagnostics tickets (D56) in two countries: SEV1 acknowledged, SEV2
        waiting on the customer for a bundle with telemetry on, SEV3 new about an order.
        (No bundles are seeded: they would need the blob storage; attach one with
        ``caseAttachBundle``.)"""
        for market in MARKETS[:2]:
            country = CountryCode(market.country)
            customer = demo_buyer(market.country)
            urgent = _unwrap(
                await open_diagnostics_ticket(
                    self.svc,
                    self.agent,
                    OpenDiagnosticsTicket(
                        country, customer, "android", "Checkout crashes on payment", Severity.SEV1
                    ),
                ),
                "diagnostics ticket",
            )
            _unwrap(
                await post_status_update(
                    self.svc,
                    self.agent,
                    PostStatusUpdate(
                        country, urgent.case_id, "Looking at the crash reports", CaseStatus.ACKNOWLEDGED
                    ),
                ),
                "acknowledge ticket",
            )
            waiting = _unwrap(
                await open_diagnostics_ticket(
                    self.svc,
                    self.agent,
                    OpenDiagnosticsTicket(
                        country, customer, "ui", "Order history loads slowly", Severity.SEV2
                    ),
                ),
                "diagnostics ticket",
            )
            _unwrap(
                await post_status_update(
                    self.svc,
                    self.agent,
                    PostStatusUpdate(country, waiting.case_id, "Taking it", CaseStatus.ACKNOWLEDGED),
                ),
                "acknowledge ticket",
            )
            _unwrap(
                await wait_on_customer(
                    self.svc,
                    self.agent,
                    WaitOnCustomer(
                        country, waiting.case_id, "Asked for a trace bundle with telemetry enabled"
                    ),
                ),
                "wait on the customer",
            )
            _unwrap(
                await open_diagnostics_ticket(
                    self.svc,
                    self.agent,
                    OpenDiagnosticsTicket(
                        country,
                        customer,
                        "ui",
                        "Tracking page shows no courier",
                        Severity.SEV3,
                        demo_order_id(market.country, "in-transit"),
                    ),
                ),
                "diagnostics ticket",
            )

    async def platform_incident(self, market: Market) -> None:
        """A payments outage in ``market``, worked and closed, with its post-incident review
        (the disputed and in-transit orders and the in-transit order's cases linked)."""
        country = CountryCode(market.country)
        disputed, in_transit = (
            demo_order_id(market.country, "disputed"),
            demo_order_id(market.country, "in-transit"),
        )
        async with self.svc.uow() as uow:
            case_ids = tuple(case.case_id for case in await uow.cases.for_order(country, in_transit))
        opened = _unwrap(
            await open_platform_incident(
                self.svc,
                self.specialist,
                OpenPlatformIncident(
                    country,
                    Severity.SEV1,
                    "Card payments failing at checkout",
                    (disputed, in_transit),
                    case_ids,
                ),
            ),
            "platform incident",
        )
        for minutes, text, status in (
            (20, "Payments provider confirms elevated 5xx on card authorisations.", None),
            (
                45,
                "Traffic moved to the backup acquirer; error rate back to normal.",
                PlatformIncidentStatus.MITIGATED,
            ),
        ):
            self.clock.advance(timedelta(minutes=minutes))
            _unwrap(
                await update_platform_incident(
                    self.svc,
                    self.specialist,
                    UpdatePlatformIncident(country, opened.incident_id, text, status),
                ),
                "platform incident update",
            )
        self.clock.advance(timedelta(hours=2))
        _unwrap(
            await close_platform_incident(
                self.svc,
                self.lead,
                ClosePlatformIncident(
                    country,
                    opened.incident_id,
                    "An expired TLS certificate on the provider's authorisation gateway.",
                    (
                        ActionItemInput("Alert 14 days before any provider certificate expires", "lead-leo"),
                        ActionItemInput("Fail over to the backup acquirer automatically", "payments-team"),
                    ),
                ),
            ),
            "platform incident close",
        )

    async def _earlier_run(self, screener: Screener | None) -> SeedReport | None:
        """What an earlier run left, or ``None`` on a database it never touched. Its first
        order says it started; the closed platform incident, its last write of substance,
        says it finished (D122): then only conversations missing from an older seed are added
        (the breaker's failures written after the incident are cosmetic). One that stopped
        half-way is reported, as its steps are not idempotent."""
        async with self.svc.uow() as uow:
            started = await uow.orders.get(CountryCode("MX"), demo_order_id("MX", "completed")) is not None
            first = CountryCode(MARKETS[0].country)
            cases = await uow.case_history.opened_between(first, _EVER[0], _EVER[1])
            finished = any(case.kind is CaseKind.PLATFORM_INCIDENT for case in cases)
        if not started:
            return None
        if not finished:
            return SeedReport(skipped=True, partial=True)
        return SeedReport(skipped=True, conversations=await _conversations(self.svc, screener))

    async def run(self, screener: Screener | None = None) -> SeedReport:
        report = SeedReport()
        earlier = await self._earlier_run(screener)
        if earlier is not None:
            return earlier
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
        await self.cases()
        await self.diagnostics_tickets()
        await self.platform_incident(MARKETS[0])  # closed, with its post-incident review
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
