"""Cases and live incidents through the use cases, on SQLite and PostgreSQL.

Opening an incident freezes the order's payout in the same transaction; the actions move
exactly their money (checked to the minor unit in the ledger); an operational
cancellation after capture refunds through a dispute and the saga, once; L0 acts as
actor L0 and is audited like a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.screening import MarketplacePhoneFinder
from application.cases.dispatch import DISPATCH_JOB_KIND, order_dispatch_job
from application.cases.errors import CaseFollowsDispute, IncidentAlreadyOpen
from application.cases.incidents import (
    ApplyIncidentAction,
    IncidentActionReceipt,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.cases.use_cases import (
    AcknowledgeCase,
    AssignCase,
    CloseCase,
    CustomerReplied,
    EscalateCase,
    MitigateCase,
    PostStatusUpdate,
    RateCase,
    ResolveCase,
    WaitOnCustomer,
    acknowledge_case,
    assign_case,
    close_case,
    customer_replied,
    escalate_case,
    mitigate_case,
    post_status_update,
    rate_case,
    resolve_case,
    wait_on_customer,
)
from application.context import RequestContext, Services
from application.disputes.use_cases import OpenDispute, WithdrawDispute, open_dispute, withdraw_dispute
from application.errors import NotFound
from application.messaging.common import MessagingServices
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.orders.force_complete import ForceCompleteOrder, force_complete_order
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
from application.security.principal import Forbidden, Role
from domain.audit import AuditEntry
from domain.cases.case import Case, ClockState, TimelineKind
from domain.cases.errors import AlreadyRated, CaseClosed, CaseNotResolved
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, IncidentAction, IncidentType, Severity, Tier
from domain.cases.l0 import DeliveryTrack, Point
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.disputes.evidence import DeliveryProof, GpsPoint
from domain.disputes.status import DisputeOrigin, DisputeStatus
from domain.ledger import Account
from domain.messaging import Screener
from domain.orders import (
    AlreadyAssigned,
    IllegalOrderTransition,
    OrderAlreadyForceCompleted,
    OrderStatus,
    ReasonRequired,
    SellerFixedBySnapshot,
)
from domain.shared import DomainError, InvalidInput
from domain.shared.ids import BuyerId, CourierId, DisputeId, OrderId, SellerId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.fakes.tracking import FakeTracking
from tests.integration.scenario import (
    L1,
    L2,
    L3,
    MX,
    MXN,
    SYSTEM,
    add_policy,
    ctx,
    decide,
    delivered_order,
    dispute_under_review,
)

T, PAYOUT, TAKE, GOODWILL = 123_000, 106_000, 17_000, 10_000
BUYER = ctx(Role.BUYER, "buy_1")
OTHER_BUYER = ctx(Role.BUYER, "buy_2")
AUDITOR = ctx(Role.AUDITOR)
HOME = Point(19_432_600, -99_133_200)  # the delivery address (Mexico City)
PHOTO = "a" * 64


@pytest.fixture
def tracking() -> FakeTracking:
    return FakeTracking()


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], tracking: FakeTracking) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds(), tracking=tracking)
    await add_policy(services)
    return services


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


@pytest.fixture
def runner(svc: Services, payments: FakePayments) -> SagaRunner:
    return SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1")


# ------------------------------------------------------------------------ helpers


async def in_flight_order(svc: Services, order_id: str, *, captured: bool = True) -> None:
    """IN_TRANSIT (T = 123_000 captured), or CREATED with nothing captured."""
    (
        await create_order(
            svc,
            SYSTEM,
            CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), CourierId("cou_1"), OrderId(order_id)),
        )
    ).unwrap()
    if not captured:
        return
    (
        await capture_payment(
            svc, SYSTEM, CapturePayment(MX, OrderId(order_id), MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
        )
    ).unwrap()
    for status in (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT):
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, OrderId(order_id), status))).unwrap()


async def open_incident(
    svc: Services,
    order_id: str,
    *,
    severity: Severity = Severity.SEV2,
    kind: IncidentType = IncidentType.COURIER_UNAVAILABLE,
    who: RequestContext = L1,
) -> Case:
    return (
        await open_order_incident(
            svc, who, OpenOrderIncident(MX, OrderId(order_id), kind, severity, "Courier not answering")
        )
    ).unwrap()


async def act(
    svc: Services, who: RequestContext, case: Case, action: IncidentAction, reason: str = ""
) -> IncidentActionReceipt:
    return (
        await apply_incident_action(svc, who, ApplyIncidentAction(MX, case.case_id, action, reason))
    ).unwrap()


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def order_of(svc: Services, order_id: str) -> tuple[OrderStatus, str | None]:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
    assert order is not None
    return order.status, order.frozen_by_incident


async def case_of(svc: Services, case_id: str) -> Case:
    async with svc.uow() as uow:
        case = await uow.cases.get(MX, case_id)
    assert case is not None
    return case


async def dispute_case(svc: Services, dispute_id: str) -> Case:
    async with svc.uow() as uow:
        cases = await uow.cases.for_subject(MX, CaseKind.DISPUTE, dispute_id)
    assert len(cases) == 1
    return cases[0]


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


def stationary_trace(svc: Services, minutes: int = 20) -> tuple[GpsPoint, ...]:
    now = svc.clock.now()
    return tuple(
        GpsPoint(now - timedelta(minutes=m), 19_400_000 + (m % 2) * 50, -99_100_000)
        for m in range(minutes, -1, -5)
    )


# -------------------------------------------------------------- open and freeze


async def test_opening_an_incident_freezes_the_payout_and_l0_routes_it(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1", severity=Severity.SEV2)
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)
    # SEV2: L0 acknowledges and routes to L1, as actor L0, audited.
    assert case.state.status is CaseStatus.ACKNOWLEDGED
    assert case.state.tier is Tier.L1
    kinds = [e.kind for e in case.state.timeline]
    assert kinds == [
        TimelineKind.OPENED,
        TimelineKind.ACTION,
        TimelineKind.ACKNOWLEDGED,
        TimelineKind.ESCALATED,
    ]
    assert all(e.actor.role == "L0" for e in case.state.timeline[1:])
    for action in ("l0.decided", "case.acknowledged", "case.escalated"):
        (entry,) = await audit(svc, action)
        assert (entry.actor_id, entry.actor_role, entry.target_id) == ("L0", "L0", case.case_id)
    (opened,) = await audit(svc, "incident.opened")
    assert opened.actor_role == "L1"
    assert await balance(svc, Account.escrow("o1")) == T  # freezing moves no money


@pytest.mark.parametrize(
    ("severity", "tier", "status"),
    [
        (Severity.SEV0, Tier.L3, CaseStatus.NEW),
        (Severity.SEV1, Tier.L2, CaseStatus.NEW),
        (Severity.SEV3, Tier.L1, CaseStatus.ACKNOWLEDGED),
    ],
)
async def test_l0_routes_by_severity(
    svc: Services, severity: Severity, tier: Tier, status: CaseStatus
) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1", severity=severity)
    assert (case.state.tier, case.state.status) == (tier, status)


async def test_one_live_incident_per_order_and_only_staff_open_them(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    first = await open_incident(svc, "o1")
    again = await open_order_incident(
        svc, L2, OpenOrderIncident(MX, OrderId("o1"), IncidentType.LATE, Severity.SEV1, "late")
    )
    assert again == Failure(IncidentAlreadyOpen("o1", first.case_id))
    refused = await open_order_incident(
        svc, AUDITOR, OpenOrderIncident(MX, OrderId("o1"), IncidentType.LATE, Severity.SEV1, "late")
    )
    assert isinstance(refused.failure(), Forbidden)
    missing = await open_order_incident(
        svc, L1, OpenOrderIncident(MX, OrderId("nope"), IncidentType.LATE, Severity.SEV1, "late")
    )
    assert missing == Failure(NotFound("order", "nope"))


async def test_resolving_lifts_the_hold_and_closing_keeps_it_lifted(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    # L1 acknowledges, messages, retries and escalates; lifting the payout hold is L2's (D74).
    for refused in (
        await resolve_case(svc, L1, ResolveCase(MX, case.case_id, "courier found")),
        await close_case(svc, L1, CloseCase(MX, case.case_id)),
    ):
        assert isinstance(refused.failure(), Forbidden)
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)
    assert await audit(svc, "case.resolved") == [] and await audit(svc, "case.closed") == []
    resolved = (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "courier found"))).unwrap()
    assert resolved.state.status is CaseStatus.RESOLVED
    assert resolved.state.resolved_tier is Tier.L2
    assert await order_of(svc, "o1") == (OrderStatus.IN_TRANSIT, None)
    closed = (await close_case(svc, L2, CloseCase(MX, case.case_id))).unwrap()
    assert closed.state.status is CaseStatus.CLOSED
    assert await order_of(svc, "o1") == (OrderStatus.IN_TRANSIT, None)
    (unfrozen,) = await audit(svc, "order.unfrozen")
    assert unfrozen.target_id == "o1"


async def test_a_hold_on_a_delivered_order_pauses_its_dispute_window(svc: Services) -> None:
    # D127: nobody can dispute a FROZEN order, so the window does not run while an incident
    # holds it; once the hold lifts, the buyer still has the time that was left
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    delivered = await delivered_order(svc, "o1")
    closes = delivered.dispute_window_closes_at
    assert closes is not None
    clock.advance(timedelta(hours=1))
    case = await open_incident(svc, "o1", kind=IncidentType.OTHER)
    clock.advance(timedelta(hours=80))  # past the window as it was at delivery
    (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "address confirmed"))).unwrap()
    assert await order_of(svc, "o1") == (OrderStatus.DELIVERED, None)
    (unfrozen,) = await audit(svc, "order.unfrozen")
    assert unfrozen.after is not None
    assert unfrozen.after["dispute_window_closes_at"] == (closes + timedelta(hours=80)).isoformat()

    clock.advance(timedelta(hours=1))  # 82 h after delivery: 71 h of the window used, 1 h left
    done = await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))
    assert done.unwrap() == []  # the seller's release waits for the paused window
    opened = await open_dispute(
        svc, BUYER, OpenDispute(MX, OrderId("o1"), DisputeReason.DAMAGED, "The vase arrived broken")
    )
    assert opened.unwrap().order_id == "o1"
    assert (await order_of(svc, "o1"))[0] is OrderStatus.DISPUTED


# ------------------------------------------------------------------ actions


def dispatch_runner(svc: Services, notifications: FakeNotifications) -> SagaRunner:
    return SagaRunner(
        svc,
        Providers(FakePayments(), notifications),
        worker_id="w1",
        job_kinds={DISPATCH_JOB_KIND: order_dispatch_job},
    )


async def dispatch_jobs_of(svc: Services, order_id: str) -> list[tuple[str, str, str]]:
    async with svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"order:{order_id}")
    assert {job.kind for job in jobs} <= {DISPATCH_JOB_KIND}
    return [
        (str(job.payload["recipient_role"]), str(job.payload["recipient_id"]), str(job.payload["template"]))
        for job in jobs
    ]


async def order_parties(svc: Services, order_id: str) -> tuple[str, str | None, int]:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
    assert order is not None
    return order.seller_id, order.courier_id, order.version


async def test_retry_re_dispatches_the_order_to_its_seller_and_courier_once_per_retry(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    retried = await act(svc, L1, case, IncidentAction.RETRY, "courier back online")
    entry = retried.case.state.timeline[-1]
    assert entry.data == {
        "action": "RETRY",
        "dispatched_to": "SELLER:sel_1,COURIER:cou_1",
        "reason": "courier back online",
    }
    assert entry.summary == "RETRY: order re-dispatched to seller sel_1, courier cou_1 (courier back online)"
    assert await dispatch_jobs_of(svc, "o1") == [
        ("SELLER", "sel_1", "order.redispatch"),
        ("COURIER", "cou_1", "order.redispatch"),
    ]
    notifications = FakeNotifications()
    runner = dispatch_runner(svc, notifications)
    assert await runner.drain() == [StepOutcome.COMPLETED, StepOutcome.COMPLETED]
    assert sorted(notifications.sent.values()) == [
        ("COURIER", "cou_1", "order.redispatch"),
        ("SELLER", "sel_1", "order.redispatch"),
    ]
    assert await runner.drain() == []  # a drained job is never sent twice
    assert set(notifications.calls.values()) == {1}

    await act(svc, L1, case, IncidentAction.RETRY)  # a second retry is a new dispatch
    assert len(await dispatch_jobs_of(svc, "o1")) == 4
    assert len(await runner.drain()) == 2
    assert len(notifications.sent) == 4
    # no money moves and the hold stays
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)
    assert await balance(svc, Account.escrow("o1")) == T
    assert await balance(svc, Account.psp_clearing()) == T
    assert len(await audit(svc, "incident.action_applied")) == 2


async def test_urgent_replacement_reassigns_the_courier_and_tells_both_couriers(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    replace = ApplyIncidentAction(
        MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, "motorbike broke down", "COURIER", " cou_2 "
    )
    denied = await apply_incident_action(svc, L1, replace)
    assert isinstance(denied.failure(), Forbidden)
    before = await order_parties(svc, "o1")
    replaced = (await apply_incident_action(svc, L2, replace)).unwrap()
    entry = replaced.case.state.timeline[-1]
    assert entry.data == {
        "action": "URGENT_REPLACEMENT",
        "replace": "COURIER",
        "replacement_id": "cou_2",
        "replaced_id": "cou_1",
        "reason": "motorbike broke down",
    }
    assert entry.summary == "URGENT_REPLACEMENT: courier cou_1 replaced by cou_2 (motorbike broke down)"
    assert replaced.case.state.is_open
    assert await order_parties(svc, "o1") == ("sel_1", "cou_2", before[2] + 1)
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)  # still on its payout hold
    assert await dispatch_jobs_of(svc, "o1") == [
        ("COURIER", "cou_2", "order.assigned"),
        ("COURIER", "cou_1", "order.unassigned"),
    ]
    notifications = FakeNotifications()
    assert len(await dispatch_runner(svc, notifications).drain()) == 2
    assert sorted(notifications.sent.values()) == [
        ("COURIER", "cou_1", "order.unassigned"),
        ("COURIER", "cou_2", "order.assigned"),
    ]
    (audited,) = await audit(svc, "incident.action_applied")
    assert audited.after is not None
    entry_after = audited.after["entry"]
    assert isinstance(entry_after, Mapping) and entry_after["replacement_id"] == "cou_2"
    # the snapshot keeps the courier at capture; no money moves
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o1"))
    assert order is not None and order.snapshot is not None and order.snapshot.courier_id == "cou_1"
    assert await balance(svc, Account.escrow("o1")) == T
    # the new courier is the order's courier from now on: a RETRY reaches cou_2
    await act(svc, L1, case, IncidentAction.RETRY)
    assert (await dispatch_jobs_of(svc, "o1"))[-1] == ("COURIER", "cou_2", "order.redispatch")


@pytest.mark.parametrize(
    ("captured", "replace", "replacement", "expected"),
    [
        (True, "COURIER", None, InvalidInput("replacement_id", "is required for URGENT_REPLACEMENT")),
        (True, "COURIER", "   ", InvalidInput("replacement_id", "is required for URGENT_REPLACEMENT")),
        (True, "COURIER", "c" * 201, InvalidInput("replacement_id", "must be at most 200 characters")),
        (True, "BUYER", "buy_9", InvalidInput("replace", "must be SELLER or COURIER")),
        (True, "COURIER", "cou_1", AlreadyAssigned("COURIER", "cou_1")),
        (True, "SELLER", "sel_2", SellerFixedBySnapshot(OrderId("o1"))),
        (False, "SELLER", "sel_1", AlreadyAssigned("SELLER", "sel_1")),
        # a seller who cannot hold the ledger accounts they would be paid through
        (
            False,
            "SELLER",
            "acme:eu",
            InvalidInput("seller_id", "must not contain ':' (it names ledger accounts)"),
        ),
        (
            False,
            "SELLER",
            "s" * 183,
            InvalidInput("seller_id", "must be at most 182 characters (it names ledger accounts)"),
        ),
    ],
)
async def test_a_refused_urgent_replacement_changes_nothing(
    svc: Services, captured: bool, replace: str, replacement: str | None, expected: DomainError
) -> None:
    await in_flight_order(svc, "o1", captured=captured)
    case = await open_incident(svc, "o1")
    before = await order_parties(svc, "o1")
    refused = await apply_incident_action(
        svc,
        L2,
        ApplyIncidentAction(MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, "", replace, replacement),
    )
    assert refused == Failure(expected)
    assert await order_parties(svc, "o1") == before
    assert await dispatch_jobs_of(svc, "o1") == []
    assert (await case_of(svc, case.case_id)).state.timeline == case.state.timeline
    assert await audit(svc, "incident.action_applied") == []


async def test_the_seller_is_replaced_only_before_capture(svc: Services) -> None:
    await in_flight_order(svc, "o1", captured=False)
    case = await open_incident(svc, "o1", kind=IncidentType.SELLER_UNRESPONSIVE)
    replaced = (
        await apply_incident_action(
            svc,
            L2,
            ApplyIncidentAction(MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, "", "SELLER", "sel_2"),
        )
    ).unwrap()
    assert replaced.case.state.timeline[-1].data["replaced_id"] == "sel_1"
    assert (await order_parties(svc, "o1"))[:2] == ("sel_2", "cou_1")
    assert await dispatch_jobs_of(svc, "o1") == [
        ("SELLER", "sel_2", "order.assigned"),
        ("SELLER", "sel_1", "order.unassigned"),
    ]
    # the incident's hold lifts and the payment is captured for the new seller
    (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "new seller confirmed"))).unwrap()
    (
        await capture_payment(
            svc, SYSTEM, CapturePayment(MX, OrderId("o1"), MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
        )
    ).unwrap()
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o1"))
    assert order is not None and order.snapshot is not None and order.snapshot.seller_id == "sel_2"


async def test_the_conversation_follows_a_replaced_courier(
    svc: Services, uow_factory: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    messaging = MessagingServices(
        uow=uow_factory,
        clock=FixedClock(),
        ids=SequentialIds("m"),
        screener=Screener(MarketplacePhoneFinder()),
    )
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    (await open_conversation(messaging, L1, OpenConversation(MX, OrderId("o1")))).unwrap()
    old, new = ctx(Role.COURIER, "cou_1"), ctx(Role.COURIER, "cou_2")
    (await send_message(messaging, old, SendMessage(MX, OrderId("o1"), "c1", "la moto falló"))).unwrap()
    (
        await apply_incident_action(
            svc,
            L2,
            ApplyIncidentAction(MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, "", None, "cou_2"),
        )
    ).unwrap()
    async with svc.uow() as uow:
        conversation = await uow.conversations.for_order(MX, OrderId("o1"))
    assert conversation is not None and conversation.participants.courier_id == "cou_2"
    refused = await send_message(messaging, old, SendMessage(MX, OrderId("o1"), "c2", "sigo aquí"))
    assert isinstance(refused, Failure) and refused.failure().code == "NOT_FOUND"
    sent = (
        await send_message(messaging, new, SendMessage(MX, OrderId("o1"), "n1", "voy en camino"))
    ).unwrap()
    assert sent.message.party.value == "COURIER" and not sent.message.blocked


@pytest.mark.parametrize(
    ("who", "action", "allowed"),
    [
        (L1, IncidentAction.RETRY, True),
        (L1, IncidentAction.OPERATIONAL_CANCELLATION, False),
        (L1, IncidentAction.FORCE_COMPLETE, False),
        (L2, IncidentAction.OPERATIONAL_CANCELLATION, True),
        (L2, IncidentAction.FORCE_COMPLETE, False),
        (L3, IncidentAction.FORCE_COMPLETE, True),
        (AUDITOR, IncidentAction.RETRY, False),
    ],
)
async def test_each_action_needs_its_tier(
    svc: Services, who: RequestContext, action: IncidentAction, allowed: bool
) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    result = await apply_incident_action(svc, who, ApplyIncidentAction(MX, case.case_id, action, "stuck"))
    if allowed:
        assert result.unwrap().case.case_id == case.case_id
    else:
        assert isinstance(result.failure(), Forbidden)
        assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)


async def test_operational_cancellation_after_capture_refunds_once_through_the_saga(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    receipt = await act(svc, L2, case, IncidentAction.OPERATIONAL_CANCELLATION)
    assert receipt.order_status is OrderStatus.CANCELLED
    assert (receipt.refund_minor, receipt.currency) == (T, "MXN")
    assert receipt.case.state.status is CaseStatus.RESOLVED
    assert receipt.dispute_id is not None
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(receipt.dispute_id))
    assert dispute is not None
    assert dispute.origin is DisputeOrigin.OPERATIONAL_CANCELLATION
    assert dispute.decision is not None and dispute.decision.outcome is OutcomeCode.FULL_REFUND
    assert await balance(svc, Account.escrow("o1")) == T  # nothing refunded by hand
    assert payments.total_refunded_minor == 0
    refund_case = await dispute_case(svc, receipt.dispute_id)
    assert refund_case.state.is_open

    outcomes = await runner.drain()
    assert outcomes[-1] is StepOutcome.RESOLVED
    assert payments.total_refunded_minor == T
    assert set(payments.calls.values()) == {1}
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == 0
    assert await order_of(svc, "o1") == (OrderStatus.CANCELLED, None)
    async with svc.uow() as uow:
        done = await uow.disputes.get(MX, DisputeId(receipt.dispute_id))
    assert done is not None and done.status is DisputeStatus.RESOLVED
    assert (await dispute_case(svc, receipt.dispute_id)).state.status is CaseStatus.RESOLVED

    assert await runner.drain() == []  # nothing left, nothing twice
    again = await apply_incident_action(
        svc, L2, ApplyIncidentAction(MX, case.case_id, IncidentAction.OPERATIONAL_CANCELLATION)
    )
    assert again == Failure(CaseClosed(case.case_id, "RESOLVED"))
    assert payments.total_refunded_minor == T


async def test_the_cancellation_refund_is_decided_on_the_timeline_and_the_conversation(
    svc: Services, uow_factory: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    """D86: the automatic dispute's frozen pack carries the order's recorded timeline and
    its conversation as it stood, not only the order row's three dates."""
    messaging = MessagingServices(
        uow=uow_factory,
        clock=FixedClock(),
        ids=SequentialIds("m"),
        screener=Screener(MarketplacePhoneFinder()),
    )
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    (await open_conversation(messaging, L1, OpenConversation(MX, OrderId("o1")))).unwrap()
    courier = ctx(Role.COURIER, "cou_1")
    (await send_message(messaging, courier, SendMessage(MX, OrderId("o1"), "c1", "la moto falló"))).unwrap()

    receipt = await act(svc, L2, case, IncidentAction.OPERATIONAL_CANCELLATION)

    assert receipt.dispute_id is not None
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(receipt.dispute_id))
    assert dispute is not None and dispute.is_evidence_frozen
    pack = dispute.evidence
    assert pack.transcript is not None and len(pack.transcript.entries) == 1
    assert pack.platform_facts is not None
    kinds = [entry.kind for entry in pack.platform_facts.timeline]
    assert "ORDER_FROZEN" in kinds and "PAYMENT_CAPTURED" in kinds
    assert dispute.decision is not None and dispute.decision.evidence_pack_hash == pack.content_hash()


async def test_operational_cancellation_before_capture_just_cancels(
    svc: Services, runner: SagaRunner
) -> None:
    await in_flight_order(svc, "o1", captured=False)
    case = await open_incident(svc, "o1")
    receipt = await act(svc, L2, case, IncidentAction.OPERATIONAL_CANCELLATION)
    assert (receipt.order_status, receipt.dispute_id, receipt.refund_minor) == (
        OrderStatus.CANCELLED,
        None,
        0,
    )
    assert receipt.case.state.status is CaseStatus.RESOLVED
    async with svc.uow() as uow:
        assert [c.case_id for c in await uow.cases.for_order(MX, "o1")] == [case.case_id]  # no dispute case
    assert await runner.drain() == []
    assert await balance(svc, Account.psp_clearing()) == 0


async def test_force_complete_is_l3_needs_a_reason_releases_once(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    blank = await apply_incident_action(
        svc, L3, ApplyIncidentAction(MX, case.case_id, IncidentAction.FORCE_COMPLETE)
    )
    assert blank == Failure(ReasonRequired())
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)
    receipt = await act(svc, L3, case, IncidentAction.FORCE_COMPLETE, "courier delivered, app offline")
    assert receipt.order_status is OrderStatus.FORCE_COMPLETED
    assert receipt.released_minor == T
    assert receipt.ledger_keys == ("order:o1/FORCE_COMPLETE/ledger_release",)
    assert receipt.case.state.status is CaseStatus.RESOLVED
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE
    # at most once per order: neither the order use case nor a new incident can repeat it
    twice = await force_complete_order(svc, L3, ForceCompleteOrder(MX, OrderId("o1"), "again"))
    assert twice == Failure(OrderAlreadyForceCompleted(OrderId("o1")))
    reopened = await open_order_incident(
        svc, L1, OpenOrderIncident(MX, OrderId("o1"), IncidentType.OTHER, Severity.SEV3, "again")
    )
    assert reopened == Failure(IllegalOrderTransition(OrderStatus.FORCE_COMPLETED, OrderStatus.FROZEN))
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    (forced,) = await audit(svc, "order.force_completed")
    assert forced.actor_role == "L3"


# --------------------------------------------------------- clocks and work


async def test_waiting_on_the_customer_pauses_and_the_answer_resumes_the_clocks(svc: Services) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    await in_flight_order(svc, "o1")
    opened_at = clock.now()
    case = await open_incident(svc, "o1", severity=Severity.SEV1)  # 10 min / 60 min / 30 min, 24x7
    assert case.state.clocks[ClockKind.MITIGATE].deadline == opened_at + timedelta(minutes=60)
    clock.advance(timedelta(minutes=2))
    case = (await acknowledge_case(svc, L2, AcknowledgeCase(MX, case.case_id))).unwrap()
    assert case.state.clocks[ClockKind.STATUS_UPDATE].deadline == clock.now() + timedelta(minutes=30)
    clock.advance(timedelta(minutes=8))  # +10: 50 min of MITIGATE left, 22 of STATUS_UPDATE
    case = (await wait_on_customer(svc, L2, WaitOnCustomer(MX, case.case_id, "need the address"))).unwrap()
    assert case.state.clocks[ClockKind.MITIGATE].state is ClockState.PAUSED
    assert case.state.next_deadline is None
    clock.advance(timedelta(hours=3))
    case = (await customer_replied(svc, L2, CustomerReplied(MX, case.case_id))).unwrap()
    assert case.state.status is CaseStatus.ACKNOWLEDGED
    assert case.state.clocks[ClockKind.MITIGATE].deadline == clock.now() + timedelta(minutes=50)
    assert case.state.clocks[ClockKind.STATUS_UPDATE].deadline == clock.now() + timedelta(minutes=22)
    stored = await case_of(svc, case.case_id)
    assert stored.state.clocks == case.state.clocks


async def test_assign_escalate_update_mitigate_and_the_dispute_rule(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1", severity=Severity.SEV3)
    case = (await assign_case(svc, L1, AssignCase(MX, case.case_id, "agent-7"))).unwrap()
    assert case.state.assignee == "agent-7"
    case = (await escalate_case(svc, L1, EscalateCase(MX, case.case_id, "needs a replacement"))).unwrap()
    assert (case.state.tier, case.state.assignee) == (Tier.L2, None)
    case = (
        await post_status_update(svc, L2, PostStatusUpdate(MX, case.case_id, "new courier on the way"))
    ).unwrap()
    assert case.state.timeline[-1].kind is TimelineKind.STATUS_UPDATE
    case = (
        await post_status_update(
            svc, L2, PostStatusUpdate(MX, case.case_id, "courier picked it up", CaseStatus.MITIGATED)
        )
    ).unwrap()
    assert case.state.status is CaseStatus.MITIGATED
    bad = await post_status_update(svc, L2, PostStatusUpdate(MX, case.case_id, "x", CaseStatus.NEW))
    assert bad.failure().code == "INVALID_INPUT"
    mitigated_again = await mitigate_case(svc, L2, MitigateCase(MX, case.case_id, "again"))
    assert mitigated_again.failure().code == "ILLEGAL_CASE_TRANSITION"
    case = (
        await post_status_update(
            svc, L2, PostStatusUpdate(MX, case.case_id, "delivered", CaseStatus.RESOLVED)
        )
    ).unwrap()
    assert case.state.status is CaseStatus.RESOLVED
    assert await order_of(svc, "o1") == (OrderStatus.IN_TRANSIT, None)
    assert len(await audit(svc, "case.status_updated")) == 3
    other_country = await acknowledge_case(
        svc, ctx(Role.L1, countries=("CO",)), AcknowledgeCase(MX, case.case_id)
    )
    assert isinstance(other_country.failure(), Forbidden)
    assert (await acknowledge_case(svc, L1, AcknowledgeCase(MX, "case_none"))).failure() == NotFound(
        "case", "case_none"
    )


async def test_the_buyer_rates_a_resolved_case_once(svc: Services) -> None:
    await in_flight_order(svc, "o1")
    case = await open_incident(svc, "o1")
    early = await rate_case(svc, BUYER, RateCase(MX, case.case_id, 5, "fast"))
    assert early == Failure(CaseNotResolved(case.case_id, "ACKNOWLEDGED"))
    (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "delivered"))).unwrap()
    assert isinstance((await rate_case(svc, L1, RateCase(MX, case.case_id, 5))).failure(), Forbidden)
    stranger = await rate_case(svc, OTHER_BUYER, RateCase(MX, case.case_id, 1, "bad"))
    assert stranger == Failure(NotFound("case", case.case_id))
    (denial,) = await audit(svc, "access.denied")
    assert (denial.actor_id, denial.target_id) == ("buy_2", case.case_id)
    bad_score = await rate_case(svc, BUYER, RateCase(MX, case.case_id, 6))
    assert bad_score.failure().code == "INVALID_INPUT"
    rating = (await rate_case(svc, BUYER, RateCase(MX, case.case_id, 4, "ok in the end"))).unwrap()
    assert (rating.score, rating.comment) == (4, "ok in the end")
    assert await rate_case(svc, BUYER, RateCase(MX, case.case_id, 5)) == Failure(AlreadyRated(case.case_id))
    assert (await case_of(svc, case.case_id)).state.rating == rating


# ------------------------------------------------------------------------ L0


async def test_l0_gives_store_credit_for_a_late_order_with_a_stationary_courier(
    svc: Services, tracking: FakeTracking
) -> None:
    await in_flight_order(svc, "o1")
    now = svc.clock.now()
    tracking.set(
        MX, "o1", DeliveryTrack(promised_at=now - timedelta(minutes=50), courier_trace=stationary_trace(svc))
    )
    case = await open_incident(svc, "o1", kind=IncidentType.LATE, severity=Severity.SEV2)
    assert case.state.status is CaseStatus.RESOLVED
    assert case.state.resolved_tier is Tier.L0
    assert await balance(svc, Account.buyer_credit("buy_1")) == GOODWILL
    assert await balance(svc, Account.goodwill_expense()) == GOODWILL
    assert await balance(svc, Account.escrow("o1")) == T  # the order flies on, its escrow untouched
    assert await order_of(svc, "o1") == (OrderStatus.IN_TRANSIT, None)
    for action in ("l0.decided", "incident.store_credit_granted", "order.unfrozen"):
        (entry,) = await audit(svc, action)
        assert (entry.actor_id, entry.actor_role) == ("L0", "L0")
    (granted,) = await audit(svc, "incident.store_credit_granted")
    assert granted.after is not None
    assert (granted.after["credit_minor"], granted.after["currency"]) == (GOODWILL, "MXN")
    assert granted.after["ledger_key"] == "order:o1/L0_STORE_CREDIT/ledger_store_credit"


@pytest.mark.parametrize("scenario", ["moving courier", "not late enough", "no trace"])
async def test_l0_only_routes_a_late_order_it_cannot_settle(
    svc: Services, tracking: FakeTracking, scenario: str
) -> None:
    await in_flight_order(svc, "o1")
    now = svc.clock.now()
    moving = tuple(
        GpsPoint(now - timedelta(minutes=m), 19_400_000 + m * 1_000, -99_100_000) for m in (20, 15, 10, 5, 0)
    )
    tracks = {
        "moving courier": DeliveryTrack(promised_at=now - timedelta(hours=2), courier_trace=moving),
        "not late enough": DeliveryTrack(
            promised_at=now - timedelta(minutes=30), courier_trace=stationary_trace(svc)
        ),
        "no trace": DeliveryTrack(promised_at=now - timedelta(hours=2)),
    }
    tracking.set(MX, "o1", tracks[scenario])
    case = await open_incident(svc, "o1", kind=IncidentType.LATE, severity=Severity.SEV2)
    assert (case.state.status, case.state.tier) == (CaseStatus.ACKNOWLEDGED, Tier.L1)
    assert await balance(svc, Account.buyer_credit("buy_1")) == 0


async def test_every_dispute_has_a_case_that_resolves_with_it(svc: Services, runner: SagaRunner) -> None:
    dispute = await dispute_under_review(svc, "o1")
    case = await dispute_case(svc, dispute.id)
    assert (case.state.kind, case.state.severity, case.state.tier) == (
        CaseKind.DISPUTE,
        Severity.SEV3,
        Tier.L1,
    )
    assert case.state.order_id == "o1"
    by_hand = await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "done"))
    assert by_hand == Failure(CaseFollowsDispute(case.case_id, dispute.id, "UNDER_REVIEW"))
    await decide(svc, dispute, OutcomeCode.REJECTED)
    await runner.drain()
    resolved = await case_of(svc, case.case_id)
    assert resolved.state.status is CaseStatus.RESOLVED
    assert "REJECTED" in (resolved.state.resolution or "")


async def test_a_withdrawn_dispute_resolves_its_case(svc: Services) -> None:
    await delivered_order(svc, "o1")
    dispute = (
        await open_dispute(
            svc, BUYER, OpenDispute(MX, OrderId("o1"), DisputeReason.WRONG_ITEM, "Wrong colour")
        )
    ).unwrap()
    (await withdraw_dispute(svc, BUYER, WithdrawDispute(MX, dispute.id, "found the right one"))).unwrap()
    case = await dispute_case(svc, dispute.id)
    assert case.state.status is CaseStatus.RESOLVED


async def test_l0_routes_a_not_delivered_claim_with_proof_at_the_address_to_l1(
    svc: Services, tracking: FakeTracking
) -> None:
    order = await delivered_order(svc, "o1")
    assert order.delivered_at is not None
    proof = DeliveryProof(
        delivered_at=order.delivered_at,
        gps_points=(GpsPoint(order.delivered_at, HOME.lat_microdeg + 300, HOME.lon_microdeg),),  # ~33 m
        photo_sha256=(PHOTO,),
    )
    tracking.set(MX, "o1", DeliveryTrack(destination=HOME, delivery_proof=proof))
    dispute = (
        await open_dispute(
            svc, BUYER, OpenDispute(MX, OrderId("o1"), DisputeReason.NOT_DELIVERED, "Never came")
        )
    ).unwrap()
    case = await dispute_case(svc, dispute.id)
    assert (case.state.tier, case.state.status) == (Tier.L1, CaseStatus.ACKNOWLEDGED)
    decision = next(e for e in case.state.timeline if e.data.get("action") == "L0_DECISION")
    assert decision.data["rule"] == "delivered_at_address"
    assert decision.actor.role == "L0"
    async with svc.uow() as uow:
        stored = await uow.disputes.get(MX, dispute.id)
    assert stored is not None
    facts = stored.evidence.platform_facts
    assert facts is not None and facts.delivery_proof == proof
    assert stored.status is DisputeStatus.OPEN and stored.decision is None  # not refunded
    assert await balance(svc, Account.escrow("o1")) == T
    (attached,) = await audit(svc, "dispute.platform_facts_attached")
    assert (attached.actor_id, attached.actor_role) == ("L0", "L0")
