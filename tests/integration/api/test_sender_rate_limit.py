"""The per-sender rate limit across conversations holds under concurrent sends (D121), on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from returns.result import Failure, Success

from adapters.persistence.conversations import SqlAlchemyConversationRepository
from application.context import RequestContext
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.security.principal import Principal, Role
from application.security.scope import scope_of_principal
from domain.messaging import MessagingPolicy, RateLimit, RateScope
from domain.messaging.policy import WindowCount
from domain.shared import CountryCode
from domain.shared.ids import OrderId
from tests.integration.api.conftest import MX, Api


def as_buyer() -> RequestContext:
    return RequestContext(Principal("buy_1", Role.BUYER, frozenset({MX})), "req-buy_1")


async def test_two_sends_at_once_to_two_conversations_count_each_other(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sends of one sender into two conversations did not collide on a sequence number,
    so both counted the sender's recent messages before either stored its own: with a limit
    of 1 an hour, both went through. Now the second counts the first."""
    await api.dispute("o1")
    await api.dispute("o2")
    buyer = as_buyer()
    policy = MessagingPolicy(rate_limits=(RateLimit(RateScope.SENDER, timedelta(hours=1), 1),))
    svc = replace(api.container.messaging(), policy=policy)
    with scope_of_principal(buyer.principal):
        for order in ("o1", "o2"):
            (await open_conversation(svc, buyer, OpenConversation(MX, OrderId(order)))).unwrap()

    counted = SqlAlchemyConversationRepository.sent_since
    arrivals: list[int] = []
    both_counted = asyncio.Event()

    async def count_then_wait_for_the_other(
        self: SqlAlchemyConversationRepository,
        country: CountryCode,
        *,
        sender_id: str,
        since: datetime,
        conversation_id: str | None = None,
    ) -> WindowCount:
        result = await counted(
            self, country, sender_id=sender_id, since=since, conversation_id=conversation_id
        )
        arrivals.append(result.count)
        if len(arrivals) >= 2:
            both_counted.set()
        # give the other send every chance to count before this one stores its message
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_counted.wait(), 1.0)
        return result

    monkeypatch.setattr(SqlAlchemyConversationRepository, "sent_since", count_then_wait_for_the_other)

    async def send(order: str, client_id: str) -> Any:
        with scope_of_principal(buyer.principal):
            return await send_message(svc, buyer, SendMessage(MX, OrderId(order), client_id, "hola"))

    results = await asyncio.gather(send("o1", "x1"), send("o2", "x2"))

    assert sorted(type(r).__name__ for r in results) == ["Failure", "Success"]
    [refused] = [r for r in results if isinstance(r, Failure)]
    assert refused.failure().code == "RATE_LIMITED"
    assert sorted(arrivals) == [0, 1]  # the second counted the first
    assert any(isinstance(r, Success) for r in results)
    assert await api.scalar("SELECT count(*) FROM messages WHERE sender_id = 'buy_1'") == 1
