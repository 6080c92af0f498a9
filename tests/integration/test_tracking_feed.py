"""The delivery tracking feed (D90): ``tracking.*`` webhooks of a tracking source are
recorded once and become the tracking port L0 and the dispute's platform facts read.

On SQLite and PostgreSQL, through ``receive_webhook`` (and once through the HTTP endpoint
with a real Standard Webhooks signature).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from returns.result import Failure, Result, Success
from sqlalchemy import text

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.webhook_delivery import sign_webhook
from application.cases.incidents import OpenOrderIncident, open_order_incident
from application.cases.tracks import recorded_track
from application.cases.use_cases import AssignCase, assign_case
from application.context import Services
from application.disputes.use_cases import OpenDispute, open_dispute
from application.integrations.tracking_feed import (
    NOT_A_TRACKING_SOURCE,
    RECORDED,
    UNKNOWN_ORDER,
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
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.security.scope import scoped_to
from domain.audit import AuditEntry
from domain.cases.kinds import CaseStatus, IncidentType, Severity, Tier
from domain.cases.l0 import DeliveryTrack, Point
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.disputes.evidence import DeliveryProof
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from interfaces.http.app import create_app
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import (
    L1,
    MX,
    MXN,
    SYSTEM,
    add_policy,
    decide,
    delivered_order,
    dispute_under_review,
)
from tests.integration.webhook_feeds import Feed, NoSteps, inbox

SOURCE = "courier-tracking"
SECRET = "whsec_" + base64.b64encode(b"the-courier-tracking-secret-32by").decode()
GOODWILL = 10_000
CO = CountryCode("CO")
HOME = Point(19_432_600, -99_133_200)
PHOTO = "b" * 64


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())  # no tracking port
    await add_policy(services)
    return services


@pytest.fixture
def processing(svc: Services) -> WebhookProcessing:
    return WebhookProcessing(svc, NoSteps(), tracking_sources=frozenset({SOURCE}))


@pytest.fixture
def feed(processing: WebhookProcessing) -> Feed:
    return Feed(processing, SOURCE)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def stationary(now: datetime, minutes: int = 20) -> list[dict[str, Any]]:
    return [
        {
            "at": iso(now - timedelta(minutes=m)),
            "lat_microdeg": 19_400_000 + (m % 2) * 50,
            "lon_microdeg": -99_100_000,
        }
        for m in range(minutes, -1, -5)
    ]


async def in_transit(svc: Services, order_id: str) -> None:
    oid = OrderId(order_id)
    (
        await create_order(
            svc, SYSTEM, CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), CourierId("c_1"), oid)
        )
    ).unwrap()
    (
        await capture_payment(
            svc, SYSTEM, CapturePayment(MX, oid, MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
        )
    ).unwrap()
    for status in (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT):
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, status))).unwrap()


async def track(svc: Services, country: CountryCode, order_id: str) -> DeliveryTrack | None:
    async with svc.uow() as uow:
        return await recorded_track(uow, country, order_id)


async def stored_reports(svc: Services) -> list[tuple[str, str, str]]:
    async with svc.uow() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        rows = await uow.session.execute(
            text("SELECT source_id, order_id, kind FROM delivery_tracking ORDER BY source_id")
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows.all()]


async def test_l0_settles_a_late_order_from_the_recorded_courier_trace(svc: Services, feed: Feed) -> None:
    await in_transit(svc, "o1")
    now = svc.clock.now()
    promised = await feed.send(
        "tracking.promised", {"order_id": "o1", "promised_at": iso(now - timedelta(minutes=50))}
    )
    assert promised.unwrap().outcome == RECORDED
    half = stationary(now)
    assert (
        await feed.send("tracking.positions", {"order_id": "o1", "points": half[:3]})
    ).unwrap().outcome == RECORDED
    assert (
        await feed.send("tracking.positions", {"order_id": "o1", "points": half[2:]})
    ).unwrap().outcome == RECORDED

    folded = await track(svc, MX, "o1")
    assert folded is not None and folded.promised_at == now - timedelta(minutes=50)
    assert len(folded.courier_trace) == 5  # the point reported twice counts once

    case = (
        await open_order_incident(
            svc, L1, OpenOrderIncident(MX, OrderId("o1"), IncidentType.LATE, Severity.SEV2, "Late")
        )
    ).unwrap()
    assert (case.state.status, case.state.resolved_tier) == (CaseStatus.RESOLVED, Tier.L0)
    async with svc.uow() as uow:
        credit = (await uow.ledger.balance(MX, Account.buyer_credit("buy_1"), MXN)).normal.minor
    assert credit == GOODWILL


async def test_l0_looks_again_when_the_trace_arrives_after_the_incident_opened(
    svc: Services, feed: Feed
) -> None:
    """Opened with nothing recorded, the late incident is routed to L1; once the feed shows
    the courier standing still past the lateness threshold, L0 settles it. An incident a
    person has taken is left to that person."""
    for order_id in ("o1", "o2"):
        await in_transit(svc, order_id)
    opened = {}
    for order_id in ("o1", "o2"):
        command = OpenOrderIncident(MX, OrderId(order_id), IncidentType.LATE, Severity.SEV2, "Late")
        opened[order_id] = (await open_order_incident(svc, L1, command)).unwrap()
        assert (opened[order_id].state.tier, opened[order_id].state.status) == (
            Tier.L1,
            CaseStatus.ACKNOWLEDGED,
        )
    assigned = await assign_case(svc, L1, AssignCase(MX, opened["o2"].case_id, "agent-ana"))
    assert isinstance(assigned, Success)

    now = svc.clock.now()
    for order_id in ("o1", "o2"):
        promise = {"order_id": order_id, "promised_at": iso(now - timedelta(minutes=50))}
        assert await feed.outcome("tracking.promised", promise) == RECORDED
        assert (
            await feed.outcome("tracking.positions", {"order_id": order_id, "points": stationary(now)})
            == RECORDED
        )

    async with svc.uow() as uow:
        settled = await uow.cases.get(MX, opened["o1"].case_id)
        taken = await uow.cases.get(MX, opened["o2"].case_id)
        credit = (await uow.ledger.balance(MX, Account.buyer_credit("buy_1"), MXN)).normal.minor
    assert settled is not None and (settled.state.status, settled.state.resolved_tier) == (
        CaseStatus.RESOLVED,
        Tier.L0,
    )
    assert taken is not None and taken.state.status is CaseStatus.ACKNOWLEDGED
    assert credit == GOODWILL  # once: o1 only
    # a later report changes nothing: the case is resolved and the credit posted once
    assert (
        await feed.outcome("tracking.positions", {"order_id": "o1", "points": stationary(now, 5)}) == RECORDED
    )
    async with svc.uow() as uow:
        assert (await uow.ledger.balance(MX, Account.buyer_credit("buy_1"), MXN)).normal.minor == GOODWILL


async def test_the_recorded_delivery_proof_routes_a_not_delivered_claim_and_is_in_the_facts(
    svc: Services, feed: Feed
) -> None:
    order = await delivered_order(svc, "o1")
    assert order.delivered_at is not None
    at = order.delivered_at
    await feed.send(
        "tracking.promised",
        {
            "order_id": "o1",
            "promised_at": iso(at),
            "destination": {"lat_microdeg": HOME.lat_microdeg, "lon_microdeg": HOME.lon_microdeg},
        },
    )
    delivered = await feed.send(
        "tracking.delivered",
        {
            "order_id": "o1",
            "delivered_at": iso(at),
            "gps_points": [
                {"at": iso(at), "lat_microdeg": HOME.lat_microdeg + 300, "lon_microdeg": HOME.lon_microdeg}
            ],
            "photo_sha256": [PHOTO],
        },
    )
    assert delivered.unwrap().outcome == RECORDED
    buyer_claim = OpenDispute(MX, OrderId("o1"), DisputeReason.NOT_DELIVERED, "Never came")
    dispute = (await open_dispute(svc, L1, buyer_claim)).unwrap()
    async with svc.uow() as uow:
        stored = await uow.disputes.get(MX, dispute.id)
    assert stored is not None and stored.evidence.platform_facts is not None
    proof = stored.evidence.platform_facts.delivery_proof
    assert proof is not None and proof.photo_sha256 == (PHOTO,) and proof.delivered_at == at


async def test_a_decision_freezes_the_recorded_proof_into_the_pack(svc: Services, feed: Feed) -> None:
    """Read in the decision's own transaction (on SQLite a second connection would wait for
    the decision's write lock for ever)."""
    dispute = await dispute_under_review(svc, "o1")
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o1"))
    assert order is not None and order.delivered_at is not None
    at = order.delivered_at
    photo = {"order_id": "o1", "delivered_at": iso(at), "photo_sha256": [PHOTO]}
    assert (await feed.send("tracking.delivered", photo)).unwrap().outcome == RECORDED
    await decide(svc, dispute, OutcomeCode.REJECTED)
    async with svc.uow() as uow:
        decided = await uow.disputes.get(MX, dispute.id)
    assert decided is not None and decided.evidence.platform_facts is not None
    assert decided.evidence.platform_facts.delivery_proof == DeliveryProof(at, (), (PHOTO,))


async def test_a_report_is_recorded_once_and_only_from_a_tracking_source_about_a_known_order(
    svc: Services, feed: Feed
) -> None:
    await in_transit(svc, "o1")
    points = stationary(svc.clock.now(), minutes=5)
    first = (
        await feed.send("tracking.positions", {"order_id": "o1", "points": points}, webhook_id="w1")
    ).unwrap()
    again = (
        await feed.send("tracking.positions", {"order_id": "o1", "points": points}, webhook_id="w1")
    ).unwrap()
    assert (first.outcome, first.duplicate, again.duplicate, again.processed) == (
        RECORDED,
        False,
        True,
        False,
    )

    elsewhere = await feed.send(
        "tracking.positions",
        {"order_id": "o1", "points": points},
        provider="sandbox-payments",
        webhook_id="w2",
    )
    assert elsewhere.unwrap().outcome == NOT_A_TRACKING_SOURCE
    # a report about an order not recorded yet is refused for a retry, nothing stored (D96)
    unknown = await feed.send("tracking.positions", {"order_id": "o2", "points": points}, webhook_id="w3")
    assert isinstance(unknown, Failure) and unknown.failure().code == "ORDER_NOT_YET_KNOWN"
    assert await stored_reports(svc) == [("w1", "o1", "POSITIONS")]
    assert await inbox(svc) == {"w1": RECORDED, "w2": NOT_A_TRACKING_SOURCE}
    await in_transit(svc, "o2")  # the order arrives; the courier's retry is recorded
    retried = await feed.send("tracking.positions", {"order_id": "o2", "points": points}, webhook_id="w3")
    assert retried.unwrap().outcome == RECORDED
    assert await inbox(svc) == {"w1": RECORDED, "w2": NOT_A_TRACKING_SOURCE, "w3": RECORDED}
    async with svc.uow() as uow:
        audited = [
            e
            async for e in uow.audit.entries()
            if isinstance(e, AuditEntry) and e.action == "webhook.processed"
        ]
    assert sorted(str(e.after["outcome"]) for e in audited if e.after) == sorted(
        [RECORDED, NOT_A_TRACKING_SOURCE, RECORDED]
    )


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("tracking.teleported", {"order_id": "o1"}, "type"),
        ("tracking.positions", {"points": []}, "data.order_id"),
        ("tracking.positions", {"order_id": "o1", "points": []}, "data.points"),
        (
            "tracking.positions",
            {
                "order_id": "o1",
                "points": [{"at": "2026-12-06T10:00:00Z", "lat_microdeg": 19.4, "lon_microdeg": 1}],
            },
            "data.points[0].lat_microdeg",
        ),
        (
            "tracking.positions",
            {
                "order_id": "o1",
                "points": [{"at": "2026-12-06T10:00:00", "lat_microdeg": 1, "lon_microdeg": 1}],
            },
            "data.points[0].at",
        ),
        (
            "tracking.positions",
            {
                "order_id": "o1",
                "points": [{"at": "2026-12-06T10:00:00Z", "lat_microdeg": 91_000_000, "lon_microdeg": 1}],
            },
            "data",
        ),
        ("tracking.promised", {"order_id": "o1", "promised_at": "soon"}, "data.promised_at"),
        (
            "tracking.promised",
            {"order_id": "o1", "promised_at": "2026-12-06T10:00:00Z", "destination": {"lat_microdeg": 1}},
            "data.destination.lon_microdeg",
        ),
        (
            "tracking.delivered",
            {"order_id": "o1", "delivered_at": "2026-12-06T10:00:00Z", "photo_sha256": ["not-a-hash"]},
            "data",
        ),
    ],
)
async def test_a_report_that_does_not_parse_is_refused_and_nothing_is_stored(
    svc: Services, feed: Feed, event_type: str, data: dict[str, Any], field: str
) -> None:
    await in_transit(svc, "o1")
    refused = await feed.send(event_type, data)
    assert isinstance(refused, Failure)
    assert refused.failure().field == field
    assert await stored_reports(svc) == []
    assert await inbox(svc) == {}


async def test_a_report_stored_but_not_processed_is_recorded_on_recovery(
    svc: Services, processing: WebhookProcessing
) -> None:
    await in_transit(svc, "o1")
    now = svc.clock.now()
    event = VerifiedWebhook(
        SOURCE,
        "w9",
        now,
        {
            "type": "tracking.positions",
            "data": {"country": "MX", "order_id": "o1", "points": stationary(now, 5)},
        },
    )
    parsed_event = parse_event(event).unwrap()
    with scoped_to(frozenset({MX})):
        async with svc.uow() as uow:  # the process died after storing it
            assert await uow.webhook_inbox.store(parsed_event, now=now, hold=timedelta(seconds=60))
            await uow.commit()
    assert await stored_reports(svc) == []
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(seconds=61))
    [receipt] = await reprocess_pending_webhooks(processing)
    assert receipt.outcome == RECORDED
    assert await reprocess_pending_webhooks(processing) == []
    assert await stored_reports(svc) == [("w9", "o1", "POSITIONS")]


async def test_a_stored_report_about_an_order_never_recorded_ends_as_unknown_order(
    svc: Services, processing: WebhookProcessing
) -> None:
    """Rows stored before D96's check (or by any path around it) still end, recording nothing."""
    now = svc.clock.now()
    data = {"country": "MX", "order_id": "ghost", "points": stationary(now, 5)}
    webhook = VerifiedWebhook(SOURCE, "w8", now, {"type": "tracking.positions", "data": data})
    parsed_event = parse_event(webhook)
    with scoped_to(frozenset({MX})):
        async with svc.uow() as uow:
            assert await uow.webhook_inbox.store(parsed_event.unwrap(), now=now, hold=timedelta(seconds=60))
            await uow.commit()
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(seconds=61))
    [receipt] = await reprocess_pending_webhooks(processing)
    assert receipt.outcome == UNKNOWN_ORDER
    assert await stored_reports(svc) == []


async def test_reports_are_read_in_their_own_country_only(svc: Services, feed: Feed) -> None:
    await in_transit(svc, "o1")
    await feed.send("tracking.positions", {"order_id": "o1", "points": stationary(svc.clock.now(), 5)})
    with scoped_to(frozenset({MX})):
        assert await track(svc, MX, "o1") is not None
        assert await track(svc, CO, "o1") is None
    with scoped_to(frozenset({CO})):  # a CO principal never reads MX's reports
        assert await track(svc, MX, "o1") is None


async def test_the_endpoint_verifies_and_records_a_tracking_report(
    svc: Services, processing: WebhookProcessing
) -> None:
    await in_transit(svc, "o1")

    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        return await receive_webhook(processing, webhook)

    app = create_app(Settings(), webhooks=WebhookDependencies(secrets={SOURCE: [SECRET]}, receive=receive))
    now = datetime.now(UTC)
    body = json.dumps(
        {
            "type": "tracking.positions",
            "data": {"country": "MX", "order_id": "o1", "points": stationary(now, 5)},
        }
    ).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        headers = sign_webhook(secrets=[SECRET], webhook_id="evt_http", timestamp=now, body=body)
        answered = await client.post(f"/webhooks/{SOURCE}", content=body, headers=headers)
        assert answered.status_code == 200, answered.text
        bad_body = json.dumps(
            {"type": "tracking.positions", "data": {"country": "MX", "order_id": "o1", "points": []}}
        ).encode()
        bad_headers = sign_webhook(secrets=[SECRET], webhook_id="evt_bad", timestamp=now, body=bad_body)
        refused = await client.post(f"/webhooks/{SOURCE}", content=bad_body, headers=bad_headers)
        assert refused.status_code == 400, refused.text
    assert await stored_reports(svc) == [("evt_http", "o1", "POSITIONS")]
