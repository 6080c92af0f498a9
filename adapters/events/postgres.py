"""``ChangeFeed`` across processes: PostgreSQL ``LISTEN``/``NOTIFY`` through asyncpg (D55).

Publishing (after the change's commit, as the port says) delivers the change to this
process's own subscribers at once, exactly as the in-process feed does, and sends
``SELECT pg_notify(channel, payload)`` on a dedicated publishing connection, so the API
replicas, the workers and the schedulers all reach each other's subscribers. Every
process that has subscribers keeps one dedicated *listening* connection (opened with the
first subscription), ``LISTEN``\\s on the channels its subscribers need and puts each
notification on the queues of the subscribers of its topic; a notification this feed sent
itself is skipped (its subscribers already had it).

Channels are bounded and safe: one per namespace, kind and country
(``supportos_case_mx``, ``supportos_conversation_mx``), never one per entity; the topic
travels in the payload and is matched here. The namespace is ``supportos`` plus the
schema of a ``?search_path=`` URL (so databases shared by schemas, like the test suite's,
do not hear each other); a name that is not plain ``[a-z0-9_]`` or is too long for an
identifier is replaced by a digest. The payload is the change itself, ids only (JSON,
well under ``NOTIFY``'s 8000 bytes; a larger one is logged and reaches local subscribers
only): subscribers re-read through the ordinary, permission-checked read path.

Failure behaviour: ``publish`` never raises (a failed ``NOTIFY`` is retried once on a new
connection, then logged and dropped: delivery is at most once, as the port says). The
listening connection is supervised: when it is terminated or stops answering the keepalive,
it is reopened with a growing delay and every channel still wanted is listened to again.
Notifications sent while it was down are not replayed (``NOTIFY`` keeps no history); a
subscriber catches up with its next wake-up because it re-reads from where it stands.
Entering a subscription waits (up to ``listen_timeout``) until its channel is listened to,
so a change committed anywhere after that is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

import asyncpg

from adapters.events.in_process import QUEUE_SIZE
from adapters.persistence.database import normalise_url
from application.ports.events import Change

log = logging.getLogger("supportos.change_feed")

NAMESPACE: Final = "supportos"
MAX_CHANNEL: Final = 63  # PostgreSQL identifiers: NAMEDATALEN - 1 bytes
MAX_PAYLOAD: Final = 7999  # NOTIFY payloads must be shorter than 8000 bytes
APPLICATION_NAME: Final = "supportos-feed"
_PLAIN: Final = re.compile(r"[a-z0-9_]{1,40}")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def namespace_for(search_path: str | None) -> str:
    """``supportos``, or ``supportos_<schema>`` for a URL pinned to a schema."""
    if not search_path:
        return NAMESPACE
    schema = search_path.split(",")[0].strip().strip('"').lower()
    return f"{NAMESPACE}_{schema if _PLAIN.fullmatch(schema) else _digest(schema, 16)}"


def channel_for(namespace: str, topic: str) -> str:
    """The channel carrying ``topic`` (``<kind>:<country>:<id>``): ``<namespace>_<kind>_<country>``.
    Always a plain identifier of at most 63 bytes."""
    kind, _, rest = topic.partition(":")
    country = rest.partition(":")[0]
    channel = f"{namespace}_{kind}_{country}".lower()
    if len(channel) <= MAX_CHANNEL and all(
        _PLAIN.fullmatch(p) for p in (namespace, kind.lower(), country.lower())
    ):
        return channel
    return f"{NAMESPACE}_{_digest(channel, 40)}"


def asyncpg_dsn(database_url: str) -> tuple[str, str]:
    """(the asyncpg DSN, the feed's namespace) of a ``postgresql[+asyncpg]://`` URL."""
    url = normalise_url(database_url)
    search_path = url.query.get("search_path")
    first = search_path if isinstance(search_path, str) or search_path is None else search_path[0]
    dsn = url.difference_update_query(["search_path"]).set(drivername="postgresql")
    return dsn.render_as_string(hide_password=False), namespace_for(first)


class PostgresChangeFeed:
    """Satisfies ``application.ports.events.ChangeFeed`` across processes (D55)."""

    def __init__(
        self,
        dsn: str,
        *,
        namespace: str = NAMESPACE,
        queue_size: int = QUEUE_SIZE,
        connect_timeout: float = 5.0,
        notify_timeout: float = 5.0,
        listen_timeout: float = 5.0,
        keepalive: float = 30.0,
        reconnect_delays: tuple[float, ...] = (0.05, 0.25, 1.0, 2.0, 5.0),
    ) -> None:
        self._dsn = dsn
        self._namespace = namespace
        self._queue_size = queue_size
        self._connect_timeout = connect_timeout
        self._notify_timeout = notify_timeout
        self._listen_timeout = listen_timeout
        self._keepalive = keepalive
        self._delays = reconnect_delays
        self._origin = uuid.uuid4().hex[:12]  # this feed's own notifications are skipped
        self._subscribers: dict[str, set[asyncio.Queue[Change]]] = {}
        self._wanted: dict[str, int] = {}  # channel -> subscriptions needing it
        self._listener: Any = None  # asyncpg.Connection while listening
        self._listening: set[str] = set()
        self._listener_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._state = asyncio.Condition()  # notified when a listening connection is up
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._publisher: Any = None
        self._publish_lock = asyncio.Lock()
        self._closed = False
        self.connections = 0
        """How many listening connections were opened so far (1 + reconnects)."""

    @classmethod
    def for_url(cls, database_url: str, **options: Any) -> PostgresChangeFeed:
        dsn, namespace = asyncpg_dsn(database_url)
        return cls(dsn, namespace=namespace, **options)

    def channel(self, topic: str) -> str:
        return channel_for(self._namespace, topic)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    @property
    def listener_pid(self) -> int | None:
        """The server process of the listening connection (None while disconnected)."""
        listener = self._listener
        return None if listener is None or listener.is_closed() else int(listener.get_server_pid())

    async def listening(self, *, after: int = 0) -> int:
        """Wait until the listening connection after the ``after``-th one is up (starting the
        listener if need be) and return its number (operations and tests: "reconnected")."""
        self._ensure_supervisor()
        async with self._state:
            await self._state.wait_for(lambda: self._connected.is_set() and self.connections > after)
        return self.connections

    # ------------------------------------------------------------------ publish

    async def publish(self, change: Change) -> None:
        self._deliver(change)
        payload = json.dumps(
            {"o": self._origin, "t": change.topic, "k": change.kind, "d": dict(change.data)},
            separators=(",", ":"),
        )
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("change on %s too large to notify (%d bytes): local only", change.topic, len(payload))
            return
        channel = self.channel(change.topic)
        for attempt in (1, 2):
            try:
                async with self._publish_lock:
                    connection = await self._publishing_connection()
                    await connection.execute(
                        "SELECT pg_notify($1, $2)", channel, payload, timeout=self._notify_timeout
                    )
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._drop_publisher()
                if attempt == 2:
                    log.warning("could not notify %s of %s: %s", channel, change.kind, error)

    async def _publishing_connection(self) -> Any:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await self._connect()
        return self._publisher

    async def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                publisher.terminate()

    def _deliver(self, change: Change) -> None:
        for queue in tuple(self._subscribers.get(change.topic, ())):
            if queue.full():
                queue.get_nowait()  # drop the oldest wake-up; the subscriber re-reads anyway
            queue.put_nowait(change)

    # ---------------------------------------------------------------- subscribe

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[Change]]:
        return self._subscription(topic)

    @asynccontextmanager
    async def _subscription(self, topic: str) -> AsyncIterator[AsyncIterator[Change]]:
        channel = self.channel(topic)
        self._wanted[channel] = self._wanted.get(channel, 0) + 1
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=self._queue_size)
        try:
            await self._listen(channel)
            self._subscribers.setdefault(topic, set()).add(queue)

            async def changes() -> AsyncIterator[Change]:
                while True:
                    yield await queue.get()

            yield changes()
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[topic]
            self._wanted[channel] -= 1
            if not self._wanted[channel]:
                del self._wanted[channel]
                await self._unlisten(channel)

    async def _listen(self, channel: str) -> None:
        """Return once ``channel`` is listened to (or after ``listen_timeout``: the supervisor
        listens to it as soon as it is connected again)."""
        self._ensure_supervisor()
        try:
            await asyncio.wait_for(self._connected.wait(), self._listen_timeout)
        except TimeoutError:
            log.warning("change feed not connected: %s will be listened to once it is", channel)
            return
        async with self._listener_lock:
            listener = self._listener
            if listener is None or channel in self._listening or channel not in self._wanted:
                return
            try:
                await listener.add_listener(channel, self._on_notification)
                self._listening.add(channel)
            except Exception as error:  # the connection is going: the supervisor re-listens
                log.warning("could not listen to %s: %s", channel, error)
                self._lost.set()

    async def _unlisten(self, channel: str) -> None:
        async with self._listener_lock:
            listener = self._listener
            if listener is None or channel not in self._listening or channel in self._wanted:
                return
            self._listening.discard(channel)
            with contextlib.suppress(Exception):
                await listener.remove_listener(channel, self._on_notification)

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            raw = json.loads(payload)
            if raw.get("o") == self._origin:
                return  # published here: delivered locally already
            data = raw.get("d") or {}
            change = Change(
                str(raw["t"]),
                str(raw["k"]),
                {str(k): v for k, v in data.items() if v is None or isinstance(v, str | int)},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed notification on %s", channel)
            return
        self._deliver(change)

    # ---------------------------------------------------------------- supervise

    def _ensure_supervisor(self) -> None:
        if self._closed:
            raise RuntimeError("the change feed is closed")
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise(), name="change-feed-listener")

    async def _supervise(self) -> None:
        failures = 0
        while not self._closed:
            try:
                await self._listen_until_lost()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("change feed listener: %s: %s", type(error).__name__, error)
            finally:
                await self._forget_listener()
            delay = self._delays[min(failures, len(self._delays) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _listen_until_lost(self) -> None:
        self._lost.clear()
        listener = await self._connect()
        listener.add_termination_listener(lambda _connection: self._lost.set())
        async with self._listener_lock:
            self._listener = listener
            self.connections += 1
            for channel in tuple(self._wanted):
                await listener.add_listener(channel, self._on_notification)
                self._listening.add(channel)
        self._connected.set()
        async with self._state:
            self._state.notify_all()
        log.info(
            "change feed listening (server pid %s) on %d channel(s)",
            listener.get_server_pid(),
            len(self._listening),
        )
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._keepalive)
            if self._lost.is_set() or listener.is_closed():
                break
            async with self._listener_lock:  # a connection that vanished silently
                await listener.execute("SELECT 1", timeout=self._notify_timeout)
        log.warning("change feed listener lost its connection; reconnecting")

    async def _forget_listener(self) -> None:
        self._connected.clear()
        async with self._listener_lock:
            listener, self._listener = self._listener, None
            self._listening.clear()
        if listener is not None:
            with contextlib.suppress(Exception):
                listener.terminate()

    async def _connect(self) -> Any:
        return await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )

    async def aclose(self) -> None:
        """Stop listening and close both connections (the process is shutting down)."""
        self._closed = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await supervisor
        await self._forget_listener()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close(timeout=self._notify_timeout)
