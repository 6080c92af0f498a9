"""An in-loop websocket client for GraphQL subscriptions (graphql-transport-ws).

It speaks ASGI to the app in the test's own event loop: the change feed's queues and the
database connections belong to that loop, which a TestClient (another loop, a thread)
would not share.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class AsgiWebSocket:
    """A websocket client speaking to the ASGI app in this event loop (no server, no thread)."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self._app, self._headers = app, headers
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope = {
            "type": "websocket",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in self._headers.items()],
            "subprotocols": ["graphql-transport-ws"],
            "scheme": "ws",
            "server": ("supportos.test", 80),
            "client": ("127.0.0.1", 5000),
            "asgi": {"version": "3.0"},
        }
        self._task = asyncio.create_task(self._app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "websocket.connect"})
        accepted = await asyncio.wait_for(self._outbox.get(), 5)
        assert accepted["type"] == "websocket.accept", accepted
        assert accepted.get("subprotocol") == "graphql-transport-ws"
        return self

    async def send(self, message: dict[str, Any]) -> None:
        await self._inbox.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        event = await asyncio.wait_for(self._outbox.get(), 5)
        assert event["type"] == "websocket.send", event
        received: dict[str, Any] = json.loads(event["text"])
        return received

    async def __aexit__(self, *exc: object) -> None:
        await self._inbox.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await asyncio.wait_for(self._task, 5)
