"""The change feed: in-process publish/subscribe by topic, so live views follow changes.

Use cases publish *after* their transaction commits (a rolled-back change is never
announced); subscribers (GraphQL subscriptions) are woken and then read what changed
through the ordinary read path, with the ordinary permission checks. A change therefore
carries identifiers only, never content: it is a wake-up call, not a copy of the data.

Delivery is at most once and may coalesce: a slow subscriber's queue is bounded and the
oldest wake-ups are dropped when it is full. That is safe because subscribers re-read from
the database after the last item they saw (by sequence), so nothing is skipped, only
woken fewer times. The default adapter (``adapters/events/in_process.py``) reaches the
subscribers of this process only; on PostgreSQL the container uses
``adapters/events/postgres.py`` (LISTEN/NOTIFY, every process; D28, D55).

Topics are ``<kind>:<country>:<id>`` (:func:`topic`), e.g. ``conversation:MX:cnv_1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol

from domain.shared import CountryCode


def topic(kind: str, country: CountryCode, entity_id: str) -> str:
    """The topic of one entity's changes, e.g. ``topic("conversation", MX, "cnv_1")``."""
    return f"{kind}:{country.value}:{entity_id}"


@dataclass(frozen=True, slots=True)
class Change:
    """Something changed on ``topic``: ``kind`` says what (``message.added``...), ``data``
    holds identifiers and positions only (JSON-safe scalars)."""

    topic: str
    kind: str
    data: Mapping[str, str | int | None] = field(default_factory=dict)


class ChangeFeed(Protocol):
    async def publish(self, change: Change) -> None:
        """Announce a committed change to the topic's current subscribers (never raises
        for a slow or vanished subscriber; never blocks on one)."""
        ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        """``async with feed.subscribe(t) as changes: async for change in changes: ...``;
        only changes published after entering are seen; leaving unsubscribes."""
        ...


class _NoChanges:
    async def publish(self, change: Change) -> None:
        return None

    @asynccontextmanager
    async def _subscription(self, topic: str) -> AsyncIterator[AsyncIterator[Change]]:
        async def nothing() -> AsyncIterator[Change]:
            return
            yield  # pragma: no cover - makes this an async generator

        yield nothing()

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return self._subscription(topic)


NO_CHANGES: Final[ChangeFeed] = _NoChanges()
"""Publishes to nobody; a subscription ends at once (tests, tools without live views)."""
