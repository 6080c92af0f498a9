"""``/metrics``, ``/readyz`` and the request middleware that measures and logs (SPEC §11).

- :class:`ObservedRequests` (the outermost middleware): takes the request id (the caller's
  ``X-Request-Id`` if sane, else a new one; the inner middleware returns it in the
  response header), binds it to every log line written while the request runs, counts and
  times the request by route template, and writes one JSON access line (method, route,
  status, duration; never the raw path or query string, which may carry personal data).
- ``GET /metrics``: the process's Prometheus registry in the text format; before
  answering, the composition root's ``refresh_gauges`` (outbox depth and age, breaker
  states, read from the database) runs, at most once per ``GAUGE_REFRESH_SECONDS``.
- ``GET /readyz``: 200 ``{"status": "ready"}`` when the database answers and its schema is
  at the newest migration; otherwise 503 ``{"status": "unavailable", "reason": ...}``.
  ``/healthz`` (in ``app.py``) only says the process is up.

Nothing here knows an adapter: the checks arrive as callables (``Operations``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.graphql.context import REQUEST_ID_HEADER, request_id_from
from interfaces.logs import bound_request_id
from interfaces.telemetry import OTHER, ApiMetrics, api_metrics

log = logging.getLogger("supportos.http")

GAUGE_REFRESH_SECONDS: Final = 15.0
READINESS_TIMEOUT_SECONDS: Final = 5.0
_KNOWN_PATHS: Final = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""The method labels; any other (an HTTP parser may pass extension methods) is ``other`` (D113)."""

Readiness = Callable[[], Awaitable[str | None]]
"""``None`` when ready, else why not (``"database unreachable: ..."``, ``"migrations not at
head: ..."``)."""


async def _not_configured() -> str | None:
    return "no database configured"


@dataclass(frozen=True, slots=True)
class Operations:
    """What the composition root hands the app for ``/readyz`` and ``/metrics``."""

    readiness: Readiness = _not_configured
    refresh_gauges: Callable[[], Awaitable[None]] | None = None
    registry: CollectorRegistry = field(default=REGISTRY)


def route_of(scope: Scope) -> str:
    """The route template (bounded), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    raw = str(scope.get("path", ""))
    if raw in _KNOWN_PATHS:
        return raw
    if raw.startswith("/webhooks/"):
        return "/webhooks/{provider}"
    return OTHER


class ObservedRequests:
    """Pure ASGI middleware: request id, metrics and the access log line."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics | None = None) -> None:
        self._app = app
        self._metrics = metrics or api_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        header = None
        for key, value in scope["headers"]:
            if key.lower() == REQUEST_ID_HEADER.encode():
                header = value.decode("latin-1")
                break
        request_id = request_id_from(header)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with bound_request_id(request_id):
            try:
                await self._app(scope, receive, send_observed)
            finally:
                seconds = time.perf_counter() - started
                method = str(scope.get("method", "GET")).upper()
                route = route_of(scope)
                self._metrics.http_request(
                    method if method in HTTP_METHODS else OTHER, route, status, seconds
                )
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )


class _Throttle:
    def __init__(self, every: float) -> None:
        self._every = every
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last < self._every:
                return
            self._last = now
            try:
                await work()
            except Exception:  # a scrape must still answer (the gauges are just older)
                log.exception("could not refresh the gauges for /metrics")


def operations_router(operations: Operations) -> APIRouter:
    router = APIRouter()
    throttle = _Throttle(GAUGE_REFRESH_SECONDS)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if operations.refresh_gauges is not None:
            await throttle.run(operations.refresh_gauges)
        return Response(generate_latest(operations.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            reason = await asyncio.wait_for(operations.readiness(), READINESS_TIMEOUT_SECONDS)
        except TimeoutError:
            reason = f"readiness check timed out after {READINESS_TIMEOUT_SECONDS:g} s"
        if reason is not None:
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    return router
