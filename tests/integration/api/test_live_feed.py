"""Live subscriptions fed from other processes (D55).

A "process" here is a second container on the same database: its own engines, its own
change feed (on PostgreSQL its own LISTEN/NOTIFY connections), its own app. On PostgreSQL
a subscriber connected to the first app receives what the second one commits; on SQLite
the feed is in-process, so the subscriber learns of it only with its next local wake-up
(it re-reads from where it stands, so nothing is lost, only late).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from returns.result import Success

from application.cases.scheduler import run_tick
from application.disputes.use_cases import DecideDispute, decide_dispute
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Role
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.cli.serve import with_background
from interfaces.container import Container, build_container, dispose_engines
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock
from tests.integration.api.conftest import MX, SYSTEM, Api
from tests.integration.api.test_case_subscription import ACKNOWLEDGE, on_the_feed, subscribed
from tests.integration.api.test_cases_api import open_incident
from tests.integration.api.test_messaging import open_o1, send
from tests.integration.api.websocket import AsgiWebSocket

MESSAGES = (
    'subscription { conversationMessageAdded(countryCode: "MX", orderId: "o1") {'
    " __typename ... on ConversationMessage { sequence body } ... on Error { code } } }"
)


@pytest.fixture
async def other(api: Api) -> AsyncIterator[Container]:
    """Another process on the same database (a worker, a scheduler, a second API replica)."""
    container = build_container(api.settings)
    container.clock.override(providers.Object(FixedClock(api.clock.now())))
    try:
        yield container
    finally:
        await dispose_engines(container)


def changed(message: dict[str, Any]) -> dict[str, Any]:
    assert (message["type"], message["id"]) == ("next", "1"), message
    event: dict[str, Any] = message["payload"]["data"]["caseChanged"]
    return event


async def acknowledge(api: Api, case_id: str) -> int:
    """A change made through this app, the last of a test (no wake-up is left in flight when
    the subscription completes)."""
    data = await api.gql(
        ACKNOWLEDGE, {"i": {"countryCode": "MX", "caseId": case_id}}, api.bearer(Role.L2, MX)
    )
    assert data["caseAcknowledge"]["__typename"] == "CaseChangeSuccess", data
    version: int = data["caseAcknowledge"]["case"]["version"]
    return version


async def test_a_breach_recorded_by_another_process_is_pushed_on_postgres_only(
    api: Api, other: Container, backend: str
) -> None:
    late = (await open_incident(api, "ord_late", "SEV1"))["case"]["id"]  # acknowledge within 10 min
    api.clock.advance(timedelta(minutes=15))
    marker = (await open_incident(api, "ord_marker", "SEV1"))["case"]["id"]  # by START + 25 min
    async with AsgiWebSocket(api.container.http_app(), api.bearer(Role.L1, MX)) as ws:
        await subscribed(api, ws, "MX")
        assert await on_the_feed(api, "MX") == 1

        clock = other.clock()
        assert isinstance(clock, FixedClock)
        clock.advance(timedelta(minutes=20))  # START + 20: the first one is late, the marker is not
        report = await run_tick(other.services(), scheduler_tasks(other))
        assert report.done["0:SlaBreaches"] == 1 and not report.failed

        if backend == "postgresql":  # LISTEN/NOTIFY: pushed as it is committed
            breached = changed(await ws.receive())
            assert (breached["caseId"], breached["change"]) == (late, "SLA_BREACHED")
            assert breached["case"]["id"] == late
        version = await acknowledge(api, marker)  # a change made through this app
        acknowledged = changed(await ws.receive())
        assert (acknowledged["caseId"], acknowledged["change"], acknowledged["version"]) == (
            marker,
            "ACKNOWLEDGED",
            version,
        )
        await ws.send({"id": "1", "type": "complete"})


async def test_a_message_sent_through_a_second_app_reaches_the_subscriber_of_the_first(
    api: Api, other: Container, backend: str
) -> None:
    buyer, seller = await open_o1(api)
    transport = httpx.ASGITransport(app=other.http_app())
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://replica-2.test") as replica,
        AsgiWebSocket(api.container.http_app(), buyer) as ws,
    ):
        await ws.send({"type": "connection_init", "payload": {}})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send({"id": "1", "type": "subscribe", "payload": {"query": MESSAGES}})
        topic = f"conversation:MX:{await conversation_id(api)}"
        for _ in range(100_000):  # yield to the app until the subscription is on the change feed
            if api.container.changes().subscriber_count(topic):
                break
            await asyncio.sleep(0)
        assert api.container.changes().subscriber_count(topic) == 1

        sent = await replica.post(
            "/graphql",
            json={
                "query": "mutation($i: MessageSendInput!) { messageSend(input: $i) { __typename } }",
                "variables": {
                    "i": {
                        "countryCode": "MX",
                        "orderId": "o1",
                        "clientMessageId": "s1",
                        "body": "Sale mañana",
                    }
                },
            },
            headers=seller,
        )
        assert sent.json()["data"]["messageSend"]["__typename"] == "MessageSendSuccess", sent.text
        if backend == "sqlite":  # not pushed across processes: caught up at the next local wake-up
            await send(api, seller, "s2", "Con seguimiento")
        received = [await ws.receive() for _ in range(2 if backend == "sqlite" else 1)]
        if backend == "postgresql":
            await send(api, seller, "s2", "Con seguimiento")
            received.append(await ws.receive())
        assert [r["payload"]["data"]["conversationMessageAdded"] for r in received] == [
            {"__typename": "ConversationMessage", "sequence": 1, "body": "Sale mañana"},
            {"__typename": "ConversationMessage", "sequence": 2, "body": "Con seguimiento"},
        ]
        await ws.send({"id": "1", "type": "complete"})


async def conversation_id(api: Api) -> str:
    data = await api.gql(
        'query { conversation(countryCode: "MX", orderId: "o1", first: 1) { ... on Conversation { id } } }',
        None,
        api.bearer(Role.L1),
    )
    conversation: str = data["conversation"]["id"]
    return conversation


async def test_a_dispute_case_opened_by_open_dispute_is_announced(api: Api) -> None:
    marker = (await open_incident(api, "ord_marker", "SEV1"))["case"]["id"]
    async with AsgiWebSocket(api.container.http_app(), api.bearer(Role.L1, MX)) as ws:
        await subscribed(api, ws, "MX")
        assert await on_the_feed(api, "MX") == 1
        dispute = await api.dispute("ord_disputed")
        opened = changed(await ws.receive())
        assert opened["change"] == "OPENED" and opened["version"] == 1
        case_id = opened["caseId"]
        assert opened["case"]["id"] == case_id  # re-read as it is now (L0 may have routed it already)
        assert await api.scalar("SELECT subject_ref FROM cases WHERE id = :c", c=case_id) == dispute.id
        await acknowledge(api, marker)  # whatever L0 did to the dispute case comes before this
        following = changed(await ws.receive())
        while following["caseId"] != marker:
            assert following["caseId"] == case_id, following
            following = changed(await ws.receive())
        await ws.send({"id": "1", "type": "complete"})


async def test_serve_with_the_scheduler_ticks_from_the_apps_startup_to_its_shutdown(api: Api) -> None:
    late = (await open_incident(api, "ord_late", "SEV1"))["case"]["id"]
    api.clock.advance(timedelta(minutes=20))  # its acknowledgement is late
    app = with_background(api.container.http_app(), api.container, scheduler_interval=3600)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_out(message: MutableMapping[str, Any]) -> None:
        await outbox.put(dict(message))

    async def run_lifespan() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send_out)

    lifespan = asyncio.create_task(run_lifespan())
    async with AsgiWebSocket(app, api.bearer(Role.L1, MX)) as ws:
        await subscribed(api, ws, "MX")
        assert await on_the_feed(api, "MX") == 1
        await inbox.put({"type": "lifespan.startup"})  # the first tick runs at once
        assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.startup.complete"
        breached = changed(await ws.receive())
        assert (breached["caseId"], breached["change"]) == (late, "SLA_BREACHED")
        await ws.send({"id": "1", "type": "complete"})
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outbox.get(), 35))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(lifespan, 5)
    assert [task for task in asyncio.all_tasks() if task.get_name() == "sla-scheduler"] == []
    assert await api.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'case.sla_breached'") == 1


async def test_a_dispute_case_resolved_by_a_worker_is_pushed_on_postgres_only(
    api: Api, other: Container, backend: str
) -> None:
    marker = (await open_incident(api, "ord_marker", "SEV1"))["case"]["id"]
    dispute = await api.dispute("ord_disputed", review=True)
    case_id = await api.scalar("SELECT id FROM cases WHERE subject_ref = :d", d=dispute.id)
    decided = await decide_dispute(
        api.svc,
        SYSTEM,
        DecideDispute(
            MX, dispute.id, OutcomeCode.REJECTED, DecisionReasonCode.EVIDENCE_SUPPORTS_SELLER, "k1"
        ),
    )
    assert isinstance(decided, Success)
    async with AsgiWebSocket(api.container.http_app(), api.bearer(Role.L1, MX)) as ws:
        await subscribed(api, ws, "MX")
        assert await on_the_feed(api, "MX") == 1
        worker = SagaRunner(other.services(), Providers(FakePayments(), FakeNotifications()), worker_id="w2")
        assert (await worker.drain())[-1] is StepOutcome.RESOLVED  # in the other process
        if backend == "postgresql":
            resolved = changed(await ws.receive())
            assert (resolved["caseId"], resolved["change"]) == (case_id, "RESOLVED")
            assert resolved["case"]["status"] == "RESOLVED"
        await acknowledge(api, marker)
        assert changed(await ws.receive())["caseId"] == marker
        await ws.send({"id": "1", "type": "complete"})
