"""The marketplace's order feed (D91): ``order.*`` webhooks of the marketplace create orders,
capture their payments (snapshot, escrow) and move them along, applied once through the
order use cases as role MARKETPLACE; bad reports are refused before anything is stored,
reports that overtook their order are refused for a retry, and re-sent reports change
nothing. On SQLite and PostgreSQL (and once through the HTTP endpoint, signed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from returns.result import Failure, Result

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.webhook_delivery import sign_webhook
from application.cases.incidents import (
    ApplyIncidentAction,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.context import RequestContext, Services
from application.integrations import order_feed
from application.integrations.order_feed import (
    APPLIED,
    NOT_A_MARKETPLACE_SOURCE,
    OrderNotYetKnown,
    OrderStepTooEarly,
)
from application.integrations.webhooks import (
    VerifiedWebhook,
    WebhookProcessing,
    WebhookReceipt,
    WebhookRefusal,
    parse_event,
    receive_webhook,
    reprocess_pending_webhooks,
)
from application.orders.couriers import AssignCourier, assign_courier
from application.orders.use_cases import (
    CaptureFailure,
    CapturePayment,
    CompleteDueOrders,
    capture_payment,
    complete_due_orders,
)
from application.ports.concurrency import ConcurrencyConflict
from application.saga.executor import Providers, SagaRunner
from application.security.scope import scoped_to
from domain.audit import AuditEntry
from domain.cases.kinds import IncidentAction, IncidentType, Severity
from domain.ledger import Account
from domain.orders import Order, OrderStatus
from domain.shared import InvalidInput
from domain.shared.ids import OrderId
from interfaces.http.app import create_app
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, L2, MX, MXN, SYSTEM, add_policy
from tests.integration.webhook_feeds import Feed, NoSteps, inbox

SOURCE = "marketplace"
SECRET = "whsec_" + base64.b64encode(b"the-marketplace-secret-32-bytes!").decode()
T = 123_000


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


@pytest.fixture
def processing(svc: Services) -> WebhookProcessing:
    return WebhookProcessing(svc, NoSteps(), marketplace_sources=frozenset({SOURCE}))


@pytest.fixture
def feed(processing: WebhookProcessing) -> Feed:
    return Feed(processing, SOURCE)


CREATED = {"order_id": "mkt_1", "buyer_id": "buy_1", "seller_id": "sel_1", "courier_id": "cou_1"}
CAPTURED = {
    "order_id": "mkt_1",
    "currency": "MXN",
    "items_subtotal_minor": 100_000,
    "delivery_fee_minor": 5_000,
    "service_fee_minor": 2_000,
    "tax_minor": 16_000,
    "discount_minor": 0,
    "commission_bp": 1_500,
    "payment_partner_id": "mx-psp-1",
}


def step(status: str, order_id: str = "mkt_1") -> dict[str, Any]:
    return {"order_id": order_id, "status": status}


async def order_status(svc: Services, order_id: str = "mkt_1") -> OrderStatus | None:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
    return None if order is None else order.status


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def test_the_feed_creates_captures_and_delivers_an_order(svc: Services, feed: Feed) -> None:
    assert await feed.outcome("order.created", CREATED) == APPLIED
    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED
    for status in ("ACCEPTED", "IN_PREPARATION", "IN_TRANSIT", "DELIVERED"):
        assert await feed.outcome("order.status_changed", step(status)) == APPLIED
    assert await order_status(svc) is OrderStatus.DELIVERED
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
        escrow = (await uow.ledger.balance(MX, Account.escrow("mkt_1"), MXN)).normal.minor
    assert order is not None and order.snapshot is not None
    assert (order.snapshot.total_charged.minor, order.snapshot.seller_payout.minor) == (T, 106_000)
    assert order.snapshot.payment_partner_id == "mx-psp-1"
    assert escrow == T
    [captured] = await audit(svc, "order.payment_captured")
    assert (captured.actor_id, captured.actor_role) == ("webhook:marketplace", "MARKETPLACE")
    assert captured.request_id == "webhook:marketplace:evt_2"
    assert set((await inbox(svc)).values()) == {APPLIED}


async def test_a_report_sent_again_under_a_new_id_changes_nothing(svc: Services, feed: Feed) -> None:
    await feed.outcome("order.created", CREATED)
    await feed.outcome("order.payment_captured", CAPTURED)
    assert await feed.outcome("order.created", CREATED) == APPLIED
    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED
    assert len(await audit(svc, "order.created")) == 1
    assert len(await audit(svc, "order.payment_captured")) == 1
    async with svc.uow() as uow:
        assert (await uow.ledger.balance(MX, Account.escrow("mkt_1"), MXN)).normal.minor == T
    # the same id for other parties, or another capture, is refused with its code
    assert await feed.outcome("order.created", {**CREATED, "buyer_id": "buy_2"}) == "ORDER_ID_TAKEN"
    assert (
        await feed.outcome("order.payment_captured", {**CAPTURED, "tax_minor": 1}) == "ORDER_ALREADY_CAPTURED"
    )
    assert (
        await feed.outcome("order.status_changed", step("CANCELLED")) == "FORBIDDEN"
    )  # money goes back by outcome
    assert await order_status(svc) is OrderStatus.PAID


async def courier_of(svc: Services, order_id: str = "mkt_1") -> str | None:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
    assert order is not None
    return order.courier_id


async def test_the_courier_dispatch_gives_an_order_later_is_recorded_once(svc: Services, feed: Feed) -> None:
    # D132: created before dispatch picked its courier, then given one, then another
    assert await feed.outcome("order.created", {**CREATED, "courier_id": None}) == APPLIED
    assert await courier_of(svc) is None
    assigned = {"order_id": "mkt_1", "courier_id": "cou_7"}
    assert await feed.outcome("order.courier_assigned", assigned) == APPLIED
    assert await courier_of(svc) == "cou_7"
    assert await feed.outcome("order.courier_assigned", assigned) == APPLIED  # sent again: nothing
    [first] = await audit(svc, "order.courier_assigned")
    assert (first.actor_id, first.actor_role) == ("webhook:marketplace", "MARKETPLACE")
    assert (first.before, first.after) == (
        {"courier_id": None},
        {
            "courier_id": "cou_7",
            "assigned_at": svc.clock.now().isoformat(),
            "status": "CREATED",
            "version": 1,
        },
    )

    await feed.outcome("order.payment_captured", CAPTURED)
    for status in ("ACCEPTED", "IN_PREPARATION", "IN_TRANSIT"):
        await feed.outcome("order.status_changed", step(status))
    assert await feed.outcome("order.courier_assigned", {**assigned, "courier_id": "cou_8"}) == APPLIED
    assert await courier_of(svc) == "cou_8"
    swapped = (await audit(svc, "order.courier_assigned"))[-1]
    assert (swapped.before, swapped.after is not None and swapped.after["courier_id"]) == (
        {"courier_id": "cou_7"},
        "cou_8",
    )
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
    assert order is not None and order.snapshot is not None
    assert order.snapshot.courier_id == "cou_7"  # the snapshot keeps the courier at capture

    await feed.outcome("order.status_changed", step("DELIVERED"))
    late = await feed.outcome("order.courier_assigned", {**assigned, "courier_id": "cou_9"})
    assert late == "REASSIGN_NOT_ALLOWED"  # delivered: stored, refused for good
    assert await courier_of(svc) == "cou_8"
    assert len(await audit(svc, "order.courier_assigned")) == 2


async def test_a_courier_report_sent_again_after_a_later_swap_changes_nothing(
    svc: Services, feed: Feed
) -> None:
    """D137: reports keep their order by their own time (``at``); an agent's replacement counts
    as of when it was made."""
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    assert await feed.outcome("order.created", {**CREATED, "courier_id": None}) == APPLIED
    t0 = clock.now()
    first = {"order_id": "mkt_1", "courier_id": "cou_7", "at": (t0 + timedelta(minutes=1)).isoformat()}
    later = {"order_id": "mkt_1", "courier_id": "cou_8", "at": (t0 + timedelta(minutes=5)).isoformat()}
    clock.advance(timedelta(minutes=10))
    assert await feed.outcome("order.courier_assigned", later, webhook_id="later") == APPLIED
    # the earlier report arrives after the later one (a retry, or sent again under a new id)
    assert await feed.outcome("order.courier_assigned", first, webhook_id="first") == "STALE_ASSIGNMENT"
    assert await courier_of(svc) == "cou_8"
    [applied] = await audit(svc, "order.courier_assigned")
    assert (
        applied.after is not None and applied.after["assigned_at"] == (t0 + timedelta(minutes=5)).isoformat()
    )
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
    assert order is not None and order.courier_assigned_at == t0 + timedelta(minutes=5)

    # a report from the future is kept at now; one from before the order at its creation
    ahead = {"order_id": "mkt_1", "courier_id": "cou_9", "at": (clock.now() + timedelta(days=1)).isoformat()}
    assert await feed.outcome("order.courier_assigned", ahead, webhook_id="ahead") == APPLIED
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
    assert order is not None and (order.courier_id, order.courier_assigned_at) == ("cou_9", clock.now())
    # an agent's urgent replacement later still wins over a report of before it
    clock.advance(timedelta(minutes=1))
    await feed.outcome("order.payment_captured", CAPTURED)
    opened = OpenOrderIncident(
        MX, OrderId("mkt_1"), IncidentType.COURIER_UNAVAILABLE, Severity.SEV2, "courier vanished"
    )
    case = (await open_order_incident(svc, L1, opened)).unwrap()
    replace = ApplyIncidentAction(
        MX, case.case_id, IncidentAction.URGENT_REPLACEMENT, replace="COURIER", replacement_id="cou_10"
    )
    assert not isinstance(await apply_incident_action(svc, L2, replace), Failure)
    before_it = {
        "order_id": "mkt_1",
        "courier_id": "cou_11",
        "at": (clock.now() - timedelta(seconds=30)).isoformat(),
    }
    assert await feed.outcome("order.courier_assigned", before_it, webhook_id="before") == "STALE_ASSIGNMENT"
    assert await courier_of(svc) == "cou_10"
    # the courier it has, reported again later, dates it: an assignment made in between, arriving
    # after that report, is stale (dispatch: cou_10, then cou_12, then cou_10 again)
    t1 = clock.now()
    clock.advance(timedelta(minutes=3))
    later_again = {"order_id": "mkt_1", "courier_id": "cou_10", "at": (t1 + timedelta(minutes=2)).isoformat()}
    between = {"order_id": "mkt_1", "courier_id": "cou_12", "at": (t1 + timedelta(minutes=1)).isoformat()}
    assert await feed.outcome("order.courier_assigned", later_again, webhook_id="again") == APPLIED
    assert await feed.outcome("order.courier_assigned", between, webhook_id="between") == "STALE_ASSIGNMENT"
    assert await courier_of(svc) == "cou_10"
    bad = await feed.send("order.courier_assigned", {**first, "at": "yesterday"}, webhook_id="bad")
    assert isinstance(bad, Failure) and isinstance(bad.failure(), InvalidInput)
    assert bad.failure().field == "data.at"


async def test_a_courier_for_an_order_not_known_yet_is_refused_for_a_retry(svc: Services, feed: Feed) -> None:
    early = await feed.send("order.courier_assigned", {"order_id": "mkt_1", "courier_id": "cou_7"})
    assert isinstance(early, Failure) and isinstance(early.failure(), OrderNotYetKnown)
    assert await inbox(svc) == {}
    blank = await feed.send("order.courier_assigned", {"order_id": "mkt_1", "courier_id": " "})
    assert isinstance(blank, Failure) and isinstance(blank.failure(), InvalidInput)
    assert blank.failure().field == "data.courier_id"


async def test_a_report_that_overtook_its_order_is_refused_for_a_retry(svc: Services, feed: Feed) -> None:
    early = await feed.send("order.payment_captured", CAPTURED, webhook_id="cap_1")
    assert isinstance(early, Failure) and isinstance(early.failure(), OrderNotYetKnown)
    assert early.failure().code == "ORDER_NOT_YET_KNOWN"
    assert await inbox(svc) == {}  # nothing stored: the sender's retry is processed
    await feed.outcome("order.created", CREATED)
    assert await feed.outcome("order.payment_captured", CAPTURED, webhook_id="cap_1") == APPLIED
    assert await order_status(svc) is OrderStatus.PAID


async def test_a_step_that_overtook_its_predecessor_is_refused_for_a_retry(svc: Services, feed: Feed) -> None:
    """D96: stored, it would be refused for good, and every later step with it."""
    await feed.outcome("order.created", CREATED)
    before_capture = await feed.send("order.status_changed", step("ACCEPTED"), webhook_id="acc_1")
    assert isinstance(before_capture, Failure) and isinstance(before_capture.failure(), OrderStepTooEarly)
    assert before_capture.failure().code == "ORDER_STEP_TOO_EARLY"
    await feed.outcome("order.payment_captured", CAPTURED)
    for status, webhook_id in (("IN_PREPARATION", "prep_1"), ("DELIVERED", "del_1")):
        early = await feed.send("order.status_changed", step(status), webhook_id=webhook_id)
        assert isinstance(early, Failure) and isinstance(early.failure(), OrderStepTooEarly), status
    assert len(await inbox(svc)) == 2  # the creation and the capture; nothing early was stored
    assert await order_status(svc) is OrderStatus.PAID
    # the senders' retries, in any order, once the steps before them are in
    assert await feed.outcome("order.status_changed", step("ACCEPTED"), webhook_id="acc_1") == APPLIED
    assert await feed.outcome("order.status_changed", step("IN_PREPARATION"), webhook_id="prep_1") == APPLIED
    assert isinstance(await feed.send("order.status_changed", step("DELIVERED"), webhook_id="del_1"), Failure)
    assert await feed.outcome("order.status_changed", step("IN_TRANSIT")) == APPLIED
    assert await feed.outcome("order.status_changed", step("DELIVERED"), webhook_id="del_1") == APPLIED
    assert await order_status(svc) is OrderStatus.DELIVERED
    # a step already taken is not early: it is stored and refused (nothing changes)
    assert await feed.outcome("order.status_changed", step("ACCEPTED")) == "ILLEGAL_ORDER_TRANSITION"
    assert await order_status(svc) is OrderStatus.DELIVERED


async def test_a_capture_while_an_incident_holds_the_created_order_is_recorded(
    svc: Services, feed: Feed
) -> None:
    """D103: the provider holds the buyer's money whatever the hold says. Refused, the capture
    was stored as final (its retry a duplicate) and the cancellation refunded nothing."""
    await feed.outcome("order.created", CREATED)
    case = (
        await open_order_incident(
            svc,
            L1,
            OpenOrderIncident(
                MX, OrderId("mkt_1"), IncidentType.PAYMENT_PROBLEM, Severity.SEV2, "payment stuck"
            ),
        )
    ).unwrap()
    assert await order_status(svc) is OrderStatus.FROZEN

    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED

    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
        escrow = (await uow.ledger.balance(MX, Account.escrow("mkt_1"), MXN)).normal.minor
    assert order is not None and order.snapshot is not None
    assert (order.status, order.frozen_from, escrow) == (OrderStatus.FROZEN, OrderStatus.PAID, T)
    # the operational cancellation now sees the money captured and gives it all back
    done = await apply_incident_action(
        svc, L2, ApplyIncidentAction(MX, case.case_id, IncidentAction.OPERATIONAL_CANCELLATION)
    )
    receipt = done.unwrap()
    assert receipt.refund_minor == T and receipt.dispute_id is not None


async def test_a_capture_after_a_cancellation_is_recorded_and_refunded(svc: Services, feed: Feed) -> None:
    """D116: the marketplace cancelled the unpaid order, then the provider captured all the
    same. Refused, the capture was stored as final and the buyer's money known to no one; now
    it is recorded (snapshot, escrow) and a FULL_REFUND dispute gives it back through the saga."""
    await feed.outcome("order.created", CREATED)
    assert await feed.outcome("order.status_changed", step("CANCELLED")) == APPLIED

    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED

    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
        [dispute] = await uow.disputes.for_order(MX, OrderId("mkt_1"))
    assert order is not None and order.snapshot is not None and order.status is OrderStatus.CANCELLED
    assert dispute.decision is not None and dispute.decision.outcome.value == "FULL_REFUND"
    [captured] = await audit(svc, "order.payment_captured")
    assert captured.after is not None and captured.after["refund_dispute_id"] == dispute.id
    payments = FakePayments()
    await SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1").drain()
    async with svc.uow() as uow:
        escrow = (await uow.ledger.balance(MX, Account.escrow("mkt_1"), MXN)).normal.minor
        clearing = (await uow.ledger.balance(MX, Account.psp_clearing(), MXN)).normal.minor
    assert (payments.total_refunded_minor, escrow, clearing) == (T, 0, 0)
    assert await order_status(svc) is OrderStatus.CANCELLED
    # the same capture again changes nothing
    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED
    async with svc.uow() as uow:
        assert len(await uow.disputes.for_order(MX, OrderId("mkt_1"))) == 1


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        (timedelta(hours=-2), timedelta(hours=-2)),  # a late or retried report keeps its time
        (timedelta(minutes=5), timedelta(0)),  # a clock ahead: now
        (timedelta(days=-30), None),  # before the order was created: its creation
    ],
    ids=["late", "ahead", "before-creation"],
)
async def test_a_reported_step_time_is_kept_between_creation_and_now(
    svc: Services, feed: Feed, reported: timedelta, expected: timedelta | None
) -> None:
    """D97: DELIVERED starts the dispute window, so it is when the courier delivered."""
    assert isinstance(svc.clock, FixedClock)
    created_at = svc.clock.now()
    await feed.outcome("order.created", CREATED)
    await feed.outcome("order.payment_captured", CAPTURED)
    for status in ("ACCEPTED", "IN_PREPARATION", "IN_TRANSIT"):
        await feed.outcome("order.status_changed", step(status))
    svc.clock.advance(timedelta(hours=3))
    now = svc.clock.now()
    delivered = {**step("DELIVERED"), "at": (now + reported).isoformat()}
    assert await feed.outcome("order.status_changed", delivered) == APPLIED
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("mkt_1"))
    assert order is not None and order.status is OrderStatus.DELIVERED
    assert order.delivered_at == (created_at if expected is None else now + expected)


async def test_another_providers_order_event_is_not_applied(svc: Services, feed: Feed) -> None:
    assert (
        await feed.outcome("order.created", CREATED, provider="sandbox-payments") == NOT_A_MARKETPLACE_SOURCE
    )
    assert await order_status(svc) is None


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("order.teleported", CREATED, "type"),
        ("order.created", {**CREATED, "buyer_id": " "}, "data.buyer_id"),
        ("order.created", {key: v for key, v in CREATED.items() if key != "seller_id"}, "data.seller_id"),
        # ids that cannot name the ledger accounts the order will need (D91, account names)
        ("order.created", {**CREATED, "seller_id": "acme:eu"}, "data.seller_id"),
        ("order.created", {**CREATED, "seller_id": "s" * 183}, "data.seller_id"),  # receivable: 201
        ("order.created", {**CREATED, "seller_id": "s" * 190}, "data.seller_id"),
        ("order.created", {**CREATED, "buyer_id": "b" * 188}, "data.buyer_id"),
        ("order.created", {**CREATED, "order_id": "mkt:1"}, "data.order_id"),
        ("order.created", {**CREATED, "order_id": "m" * 188}, "data.order_id"),
        ("order.payment_captured", {**CAPTURED, "order_id": "mkt:1"}, "data.order_id"),
        ("order.payment_captured", {**CAPTURED, "tax_minor": 16_000.0}, "data.tax_minor"),
        ("order.payment_captured", {**CAPTURED, "tax_minor": "16000"}, "data.tax_minor"),
        ("order.payment_captured", {**CAPTURED, "discount_minor": -1}, "data.discount_minor"),
        ("order.payment_captured", {**CAPTURED, "commission_bp": 10_001}, "data.commission_bp"),
        ("order.payment_captured", {**CAPTURED, "commission_bp": 10_000}, "data.commission_bp"),  # 100 %
        ("order.payment_captured", {**CAPTURED, "currency": "XXQ"}, "data.currency"),
        ("order.payment_captured", {**CAPTURED, "payment_partner_id": 7}, "data.payment_partner_id"),
        ("order.status_changed", step("COMPLETED"), "data.status"),
        ("order.status_changed", step("delivered"), "data.status"),
        ("order.status_changed", {**step("DELIVERED"), "at": "yesterday"}, "data.at"),
        ("order.status_changed", {**step("DELIVERED"), "at": "2026-03-01T10:00:00"}, "data.at"),  # no offset
        ("order.status_changed", {**step("DELIVERED"), "at": 1_700_000_000}, "data.at"),
    ],
)
async def test_a_report_that_does_not_parse_is_refused_and_nothing_is_stored(
    svc: Services, feed: Feed, event_type: str, data: dict[str, Any], field: str
) -> None:
    refused = await feed.send(event_type, data)
    assert isinstance(refused, Failure)
    error = refused.failure()
    assert isinstance(error, InvalidInput) and error.field == field
    assert await inbox(svc) == {}
    assert await order_status(svc) is None


async def test_a_report_stored_but_not_applied_is_applied_once_on_recovery(
    svc: Services, processing: WebhookProcessing
) -> None:
    now = svc.clock.now()
    webhook = VerifiedWebhook(
        SOURCE, "crash_1", now, {"type": "order.created", "data": {"country": "MX", **CREATED}}
    )
    with scoped_to(frozenset({MX})):
        async with svc.uow() as uow:  # the process died after storing it
            assert await uow.webhook_inbox.store(
                parse_event(webhook).unwrap(), now=now, hold=timedelta(seconds=60)
            )
            await uow.commit()
    assert await order_status(svc) is None
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(seconds=61))
    [receipt] = await reprocess_pending_webhooks(processing)
    assert receipt.outcome == APPLIED
    assert await reprocess_pending_webhooks(processing) == []
    assert await order_status(svc) is OrderStatus.CREATED
    assert len(await audit(svc, "order.created")) == 1


async def test_the_endpoint_answers_409_for_an_order_not_known_yet(
    svc: Services, processing: WebhookProcessing
) -> None:
    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        return await receive_webhook(processing, webhook)

    app = create_app(Settings(), webhooks=WebhookDependencies(secrets={SOURCE: [SECRET]}, receive=receive))
    now = datetime.now(UTC)

    def signed(event_type: str, data: dict[str, Any], webhook_id: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"type": event_type, "data": {"country": "MX", **data}}).encode()
        return body, sign_webhook(secrets=[SECRET], webhook_id=webhook_id, timestamp=now, body=body)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        body, headers = signed("order.payment_captured", CAPTURED, "h_cap")
        early = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert early.status_code == 409, early.text
        assert early.json()["error"] == "ORDER_NOT_YET_KNOWN"
        body, headers = signed("order.created", CREATED, "h_new")
        created = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert (created.status_code, created.json()["outcome"]) == (200, APPLIED)
        body, headers = signed("order.payment_captured", CAPTURED, "h_cap")
        retried = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert (retried.status_code, retried.json()["outcome"]) == (200, APPLIED)
        body, headers = signed("order.status_changed", step("IN_TRANSIT"), "h_transit")
        overtook = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert overtook.status_code == 409, overtook.text
        assert overtook.json()["error"] == "ORDER_STEP_TOO_EARLY"
    assert await order_status(svc) is OrderStatus.PAID


async def test_an_event_with_text_no_column_can_hold_is_refused_before_it_is_stored(
    svc: Services, processing: WebhookProcessing
) -> None:
    """D110: stored, an event with a NUL anywhere in it failed on PostgreSQL (500, at every
    retry of the sender) and was kept on SQLite; now a 400 on both, nothing stored."""

    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        return await receive_webhook(processing, webhook)

    app = create_app(Settings(), webhooks=WebhookDependencies(secrets={SOURCE: [SECRET]}, receive=receive))
    now = datetime.now(UTC)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        for webhook_id, event_type, data in (
            ("h_note", "order.created", {**CREATED, "note": "a\u0000b"}),
            ("h_other", "other.thing", {"nested": [{"x": "bell \u0007"}]}),
            ("h_key", "order.created", {**CREATED, "half \ud800": 1}),
        ):
            body = json.dumps({"type": event_type, "data": {"country": "MX", **data}}).encode()
            headers = sign_webhook(secrets=[SECRET], webhook_id=webhook_id, timestamp=now, body=body)
            refused = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "INVALID_INPUT"
    assert await inbox(svc) == {}
    assert await order_status(svc) is None


async def test_a_seller_id_that_cannot_name_its_accounts_is_refused_with_nothing_stored(
    svc: Services, feed: Feed
) -> None:
    refused = await feed.send("order.created", {**CREATED, "seller_id": "acme:eu"}, webhook_id="w_bad")
    assert refused == Failure(
        InvalidInput("data.seller_id", "must not contain ':' (it names ledger accounts)")
    )
    assert refused.failure().code == "INVALID_INPUT"
    assert await inbox(svc) == {}
    assert await order_status(svc) is None
    assert await audit(svc, "order.created") == []
    # nothing was stored under that webhook id: the corrected report is applied under it
    assert (
        await feed.outcome("order.created", {**CREATED, "seller_id": "acme-eu"}, webhook_id="w_bad")
        == APPLIED
    )
    assert await order_status(svc) is OrderStatus.CREATED


async def test_a_seller_id_exactly_at_the_limit_is_paid_through_its_accounts(
    svc: Services, feed: Feed
) -> None:
    seller = "s" * 128  # the API's id limit (D112), well within seller:receivable:<id>
    assert await feed.outcome("order.created", {**CREATED, "seller_id": seller}) == APPLIED
    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED
    for status in ("ACCEPTED", "IN_PREPARATION", "IN_TRANSIT", "DELIVERED"):
        assert await feed.outcome("order.status_changed", step(status)) == APPLIED
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(hours=72))
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap() == ["mkt_1"]
    async with svc.uow() as uow:
        escrow = (await uow.ledger.balance(MX, Account.escrow("mkt_1"), MXN)).normal.minor
        payable = (await uow.ledger.balance(MX, Account.seller_payable(seller), MXN)).normal.minor
        receivable = (await uow.ledger.balance(MX, Account.seller_receivable(seller), MXN)).normal.minor
    assert (escrow, payable, receivable) == (0, 106_000, 0)


class LosesRaces:
    """``capture_payment`` whose first ``losses`` calls lose the race for the order (another
    writer saved it between its read and its write: ``ConcurrencyConflict``, nothing written),
    then the real use case."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.calls = 0

    async def __call__(
        self, svc: Services, ctx: RequestContext, cmd: CapturePayment
    ) -> Result[Order, CaptureFailure]:
        self.calls += 1
        if self.calls <= self.losses:
            return Failure(ConcurrencyConflict("order", cmd.order_id, 1))
        return await capture_payment(svc, ctx, cmd)


async def test_a_report_that_loses_a_race_for_its_order_is_applied_again_not_refused(
    svc: Services, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D138: stored as its outcome, a lost capture would leave the order unpaid for good."""
    await feed.outcome("order.created", CREATED)
    racing = LosesRaces(losses=order_feed.CONFLICT_ATTEMPTS - 1)
    monkeypatch.setattr(order_feed, "capture_payment", racing)
    assert await feed.outcome("order.payment_captured", CAPTURED) == APPLIED
    assert racing.calls == order_feed.CONFLICT_ATTEMPTS
    assert await order_status(svc) is OrderStatus.PAID
    assert len(await audit(svc, "order.payment_captured")) == 1


async def test_a_report_that_keeps_losing_is_left_for_the_recovery_sweep(
    svc: Services, feed: Feed, processing: WebhookProcessing, monkeypatch: pytest.MonkeyPatch
) -> None:
    await feed.outcome("order.created", CREATED)
    monkeypatch.setattr(order_feed, "capture_payment", LosesRaces(losses=order_feed.CONFLICT_ATTEMPTS))
    receipt = (await feed.send("order.payment_captured", CAPTURED, webhook_id="cap_1")).unwrap()
    assert (receipt.duplicate, receipt.processed, receipt.outcome) == (False, False, None)
    assert (await inbox(svc))["cap_1"] is None  # stored, not processed: nothing final
    assert await order_status(svc) is OrderStatus.CREATED
    assert await audit(svc, "order.payment_captured") == []
    # the race is over: the sweep applies it once its hold has run out
    monkeypatch.setattr(order_feed, "capture_payment", capture_payment)
    assert isinstance(svc.clock, FixedClock)
    assert await reprocess_pending_webhooks(processing) == []  # held: not yet
    svc.clock.advance(processing.hold + timedelta(seconds=1))
    [swept] = await reprocess_pending_webhooks(processing)
    assert (swept.webhook_id, swept.outcome) == ("cap_1", APPLIED)
    assert await order_status(svc) is OrderStatus.PAID
    assert len(await audit(svc, "order.payment_captured")) == 1


class AssignLosesRaces:
    """``assign_courier`` whose first ``losses`` calls lose the race for the order."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.calls = 0

    async def __call__(self, svc: Services, ctx: RequestContext, cmd: AssignCourier) -> Result[Order, Any]:
        self.calls += 1
        if self.calls <= self.losses:
            return Failure(ConcurrencyConflict("order", cmd.order_id, 1))
        return await assign_courier(svc, ctx, cmd)


async def test_a_deferred_report_keeps_the_time_it_was_sent_and_is_answered_pending(
    svc: Services, processing: WebhookProcessing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D138 review: a courier report without ``at`` deferred to the sweep is dated by its
    signed timestamp, so a newer report applied meanwhile is not undone by it; the sender is
    told it is pending, not processed."""
    feed = Feed(processing, SOURCE)
    for order_id in ("mkt_1", "mkt_2"):
        created = {**CREATED, "order_id": order_id, "courier_id": None}
        assert await feed.outcome("order.created", created) == APPLIED
    monkeypatch.setattr(
        order_feed, "assign_courier", AssignLosesRaces(losses=10 * order_feed.CONFLICT_ATTEMPTS)
    )

    # over HTTP: a report that keeps losing is answered "pending" (stored for the sweep)
    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        return await receive_webhook(processing, webhook)

    app = create_app(Settings(), webhooks=WebhookDependencies(secrets={SOURCE: [SECRET]}, receive=receive))
    data = {"country": "MX", "order_id": "mkt_2", "courier_id": "cou_x"}
    body = json.dumps({"type": "order.courier_assigned", "data": data}).encode()
    headers = sign_webhook(secrets=[SECRET], webhook_id="w_http", timestamp=datetime.now(UTC), body=body)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        deferred = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        answer = deferred.json()
        assert (deferred.status_code, answer["status"], answer["outcome"]) == (200, "pending", None)
        # the sender's retry within the hold: stored already, nothing done
        again = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert again.json()["status"] == "duplicate"
        # its retry once the hold ran out claims the row, and loses again: still pending
        assert isinstance(svc.clock, FixedClock)
        svc.clock.advance(processing.hold + timedelta(seconds=1))
        retried = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert (retried.json()["status"], retried.json()["outcome"]) == ("pending", None)

    # mkt_1: the earlier report (no "at") is deferred; a newer one is applied meanwhile
    old = {"order_id": "mkt_1", "courier_id": "cou_old"}
    receipt = (await feed.send("order.courier_assigned", old, webhook_id="w_old")).unwrap()
    assert (receipt.processed, receipt.outcome) == (False, None)
    monkeypatch.setattr(order_feed, "assign_courier", assign_courier)
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(seconds=10))
    newer = {"order_id": "mkt_1", "courier_id": "cou_new", "at": svc.clock.now().isoformat()}
    assert await feed.outcome("order.courier_assigned", newer, webhook_id="w_new") == APPLIED
    svc.clock.advance(processing.hold)
    swept = {r.webhook_id: r.outcome for r in await reprocess_pending_webhooks(processing)}
    # dated when it was sent (before cou_new), not when the sweep applied it
    assert swept["w_old"] == "STALE_ASSIGNMENT"
    assert await courier_of(svc) == "cou_new"
