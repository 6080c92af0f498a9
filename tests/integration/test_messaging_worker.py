"""The notification bridge through the composition root: a message sent through the
container's messaging services is delivered by a worker (the container's job kinds) to the
other parties through the sandbox notifications provider, exactly once each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.providers.sandbox import SandboxNotifications, SandboxPayments
from application.context import RequestContext
from application.messaging.notifications import NOTIFY_JOB_KIND
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.orders.use_cases import CreateOrder, create_order
from application.ports.outbox import NewJob
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Principal, Role
from domain.shared import CountryCode
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from interfaces.container import Container, build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.aggregate_builders import ok

MX = CountryCode("MX")
SYSTEM = RequestContext(Principal("system-test", Role.SYSTEM, frozenset({MX})), "req-setup")
BUYER = RequestContext(Principal("buy_1", Role.BUYER, frozenset({MX})), "req-buyer")


@pytest.fixture
async def container(app_url: str) -> AsyncIterator[Container]:
    container = build_container(Settings(database_url=app_url, environment="development"))
    container.clock.override(providers.Object(FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))))
    container.ids.override(providers.Object(SequentialIds()))
    container.saga_providers.override(providers.Object(Providers(SandboxPayments(), SandboxNotifications())))
    yield container
    await dispose_engines(container)


def runner(container: Container) -> SagaRunner:
    return SagaRunner(
        container.services(), container.saga_providers(), worker_id="w1", job_kinds=container.job_kinds()
    )


async def test_a_sent_message_is_delivered_to_the_other_parties_by_the_worker(
    container: Container, engine: AsyncEngine
) -> None:
    ok(
        await create_order(
            container.services(),
            SYSTEM,
            CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), CourierId("cou_1"), OrderId("o1")),
        )
    )
    messaging = container.messaging()
    ok(await open_conversation(messaging, BUYER, OpenConversation(MX, OrderId("o1"), "¿dónde está?")))
    sent = ok(
        await send_message(messaging, BUYER, SendMessage(MX, OrderId("o1"), "c1", "¿Ya salió mi pedido?"))
    )

    outcomes = await runner(container).drain()
    assert outcomes == [StepOutcome.COMPLETED, StepOutcome.COMPLETED]
    notifications = container.saga_providers().notifications
    assert isinstance(notifications, SandboxNotifications)
    message_id = sent.message.message_id
    assert notifications.sent == {
        f"{message_id}:notify:SELLER:sel_1": ("SELLER", "sel_1", "conversation.new_message"),
        f"{message_id}:notify:COURIER:cou_1": ("COURIER", "cou_1", "conversation.new_message"),
    }
    async with engine.connect() as connection:
        statuses = (
            await connection.execute(
                text("SELECT status FROM outbox_jobs WHERE kind = :k"), {"k": NOTIFY_JOB_KIND}
            )
        ).scalars()
        assert sorted(statuses) == ["DONE", "DONE"]
        audited = (
            await connection.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE action = 'provider.call_completed'")
            )
        ).scalar_one()
    assert audited == 2
    assert await runner(container).drain() == []  # nothing left: each party notified once


async def test_a_malformed_notification_job_goes_to_the_dead_letter_queue(
    container: Container, engine: AsyncEngine
) -> None:
    now = container.clock().now()
    async with container.services().uow() as uow:
        await uow.outbox.enqueue(
            NewJob(
                country=MX,
                idempotency_key="broken:notify",
                kind=NOTIFY_JOB_KIND,
                provider="notifications",
                reference="conversation:cnv_x",
                payload={"recipient_role": "SELLER"},
                available_at=now - timedelta(seconds=1),
            ),
            now=now,
        )
        await uow.commit()
    assert await runner(container).drain() == [StepOutcome.DEAD_LETTERED]
    notifications = container.saga_providers().notifications
    assert isinstance(notifications, SandboxNotifications) and notifications.sent == {}
