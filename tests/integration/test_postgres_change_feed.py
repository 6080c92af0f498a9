"""The PostgreSQL change feed (adapters/events/postgres.py, D55) between two "processes":
two feeds on one database, each with its own connections, as an API replica and a worker
would have. Also: the listener survives ``pg_terminate_backend``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.events.postgres import PostgresChangeFeed
from application.ports.events import Change, topic
from domain.shared import CountryCode

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]

MX, CO = CountryCode("MX"), CountryCode("CO")
QUEUE_MX = topic("case", MX, "queue")


@pytest.fixture
async def feeds(app_url: str) -> AsyncIterator[tuple[PostgresChangeFeed, PostgresChangeFeed]]:
    api, worker = PostgresChangeFeed.for_url(app_url), PostgresChangeFeed.for_url(app_url)
    try:
        yield api, worker
    finally:
        await api.aclose()
        await worker.aclose()


async def next_change(changes: AsyncIterator[Change]) -> Change:
    return await asyncio.wait_for(anext(changes), 5)


async def test_a_change_published_by_another_process_reaches_the_subscribers_of_its_topic(
    feeds: tuple[PostgresChangeFeed, PostgresChangeFeed],
) -> None:
    api, worker = feeds
    async with api.subscribe(QUEUE_MX) as changes:
        assert api.subscriber_count(QUEUE_MX) == 1 and api.listener_pid is not None
        await worker.publish(
            Change(topic("case", MX, "other"), "case.OPENED", {"case_id": "x"})
        )  # same channel
        await worker.publish(Change(topic("case", CO, "queue"), "case.OPENED", {"case_id": "y"}))
        await worker.publish(Change(QUEUE_MX, "case.SLA_BREACHED", {"case_id": "case_1", "version": 3}))
        assert await next_change(changes) == Change(
            QUEUE_MX, "case.SLA_BREACHED", {"case_id": "case_1", "version": 3}
        )
        # its own publication reaches it once (at once, locally; its echo is skipped)
        await api.publish(Change(QUEUE_MX, "case.ACKNOWLEDGED", {"case_id": "case_2", "version": 2}))
        await worker.publish(Change(QUEUE_MX, "case.RESOLVED", {"case_id": "case_3", "version": 9}))
        assert [
            (c.kind, c.data["case_id"]) for c in (await next_change(changes), await next_change(changes))
        ] == [
            ("case.ACKNOWLEDGED", "case_2"),
            ("case.RESOLVED", "case_3"),
        ]
    assert api.subscriber_count(QUEUE_MX) == 0


async def test_the_listener_reconnects_after_its_connection_is_terminated(
    feeds: tuple[PostgresChangeFeed, PostgresChangeFeed], engine: AsyncEngine
) -> None:
    api, worker = feeds
    async with api.subscribe(QUEUE_MX) as changes:
        assert await api.listening() == 1
        pid = api.listener_pid
        async with engine.connect() as owner:
            terminated = (
                await owner.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            ).scalar()
        assert terminated is True
        assert await asyncio.wait_for(api.listening(after=1), 10) == 2
        assert api.listener_pid not in (None, pid)
        await worker.publish(Change(QUEUE_MX, "case.SLA_BREACHED", {"case_id": "case_1", "version": 2}))
        assert (await next_change(changes)).data == {"case_id": "case_1", "version": 2}


async def test_a_subscription_entered_later_listens_on_the_live_connection(
    feeds: tuple[PostgresChangeFeed, PostgresChangeFeed],
) -> None:
    api, worker = feeds
    conversation = topic("conversation", MX, "cnv_1")
    async with api.subscribe(QUEUE_MX), api.subscribe(conversation) as messages:
        assert api.connections == 1  # one listening connection for both channels
        await worker.publish(Change(conversation, "message.added", {"sequence": 4}))
        assert (await next_change(messages)).data == {"sequence": 4}
