"""``ChangeFeed`` inside one process: a bounded ``asyncio.Queue`` per subscription.

``publish`` puts the change on the queue of every current subscriber of its topic without
waiting; a full queue drops its oldest change first (subscribers re-read by position, so
a dropped wake-up loses nothing). Everything runs on the event loop's thread, so the
registry needs no lock. It reaches the subscribers of this process only (D28).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

from application.ports.events import Change

QUEUE_SIZE: Final = 64


class InProcessChangeFeed:
    """Satisfies ``application.ports.events.ChangeFeed``."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Change]]] = {}

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    async def publish(self, change: Change) -> None:
        for queue in tuple(self._subscribers.get(change.topic, ())):
            if queue.full():
                queue.get_nowait()  # drop the oldest wake-up; the subscriber re-reads anyway
            queue.put_nowait(change)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return self._subscription(topic)

    async def aclose(self) -> None:
        """Nothing to release (the PostgreSQL feed closes its connections here)."""
        return None

    @asynccontextmanager
    async def _subscription(self, topic: str) -> AsyncIterator[AsyncIterator[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.setdefault(topic, set()).add(queue)

        async def changes() -> AsyncIterator[Change]:
            while True:
                yield await queue.get()

        try:
            yield changes()
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[topic]
