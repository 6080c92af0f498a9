"""``supportos serve``: run the HTTP service (FastAPI + GraphQL) under uvicorn.

    supportos serve [--host H] [--port P] [--processes N]
                    [--with-scheduler | --without-scheduler] [--scheduler-interval SECONDS]

``--processes N`` runs N uvicorn worker processes on the one port (one process uses one
core; D65). Each builds its own app, pools and (when on) in-process scheduler; the
scheduler's breaches are recorded exactly once however many run (D41).

``--with-scheduler`` also runs the SLA scheduler's tick (``supportos scheduler``'s tasks)
inside the service's process, every ``--scheduler-interval`` seconds, from the app's
startup to its shutdown. The default is *on* for the embedded SQLite database and *off*
for PostgreSQL (D55): on SQLite the change feed is in-process, so the console's
``caseChanged`` subscribers see breaches live only when they are recorded by the process
that serves them; on PostgreSQL breaches recorded by ``supportos scheduler`` or
``supportos worker`` reach every replica through ``LISTEN``/``NOTIFY``. Running it here as
well is harmless either way: each breach is recorded exactly once (D41).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import typer
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.cases.scheduler import run_scheduler
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.container import Container, build_container, dispose_engines
from interfaces.logs import configure_logging
from interfaces.runtime import tune_gc
from interfaces.settings import Settings, get_settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: SUPPORTOS_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to bind (default: SUPPORTOS_PORT or 8000).")
    ] = None,
    with_scheduler: Annotated[
        bool | None,
        typer.Option(
            "--with-scheduler/--without-scheduler",
            help="Run the SLA scheduler in this process (default: on for SQLite, off for PostgreSQL).",
        ),
    ] = None,
    scheduler_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between the in-process scheduler's ticks.")
    ] = 30.0,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="HTTP server processes sharing the port (one core each).")
    ] = 1,
) -> None:
    """Start the HTTP service: /graphql, /webhooks, /metrics, /healthz and /readyz."""
    settings = get_settings()
    configure_logging(settings.log_level)  # JSON lines with the request id, PII redacted
    settings.ensure_database_directory()
    in_process = settings.sqlite_path is not None if with_scheduler is None else with_scheduler
    interval = scheduler_interval if in_process else None
    if interval is not None:
        typer.echo(f"serve: the SLA scheduler runs in this process, every {interval:g} s")
    options: dict[str, Any] = {}
    if processes == 1:
        app: ASGIApp | str = _built(settings, interval)
    else:
        # every process builds its own app (and pools) from the environment (D65)
        os.environ[SCHEDULER_INTERVAL_ENV] = "" if interval is None else repr(interval)
        app, options = f"{__name__}:{app_from_environment.__name__}", {"factory": True, "workers": processes}
    uvicorn.run(
        app,
        **options,
        host=host if host is not None else settings.host,
        port=port if port is not None else settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through the JSON handler
        access_log=False,  # the app writes its own access line (route template, status, request id)
        proxy_headers=False,
    )


SCHEDULER_INTERVAL_ENV: Final = "SUPPORTOS_SERVE_SCHEDULER_INTERVAL"


def app_from_environment() -> ASGIApp:
    """The app of one of ``serve --processes N``'s processes (uvicorn's factory): settings
    from the environment, the in-process scheduler's interval from ``serve``."""
    settings = get_settings()
    configure_logging(settings.log_level)
    raw = os.environ.get(SCHEDULER_INTERVAL_ENV, "")
    return _built(settings, float(raw) if raw else None)


def _built(settings: Settings, scheduler_interval: float | None) -> ASGIApp:
    """One process's app (and its container), the scheduler on when an interval is given."""
    container = build_container(settings)
    app = with_background(container.http_app(), container, scheduler_interval=scheduler_interval)
    tune_gc()  # the app, the schema and the metadata built above leave the collector's walks (D63)
    return app


def with_background(app: ASGIApp, container: Container, *, scheduler_interval: float | None) -> ASGIApp:
    """``app`` whose ASGI lifespan also starts the in-process scheduler (when an interval is
    given) and, at shutdown, stops it and closes the engines and the change feed's
    connections (before uvicorn re-raises a captured signal)."""
    stop = asyncio.Event()
    running: list[asyncio.Task[object]] = []

    async def start() -> None:
        if scheduler_interval is None:
            return
        tasks = scheduler_tasks(container)
        running.append(
            asyncio.create_task(
                run_scheduler(container.services(), tasks, stop, interval=scheduler_interval),
                name="sla-scheduler",
            )
        )

    async def finish() -> None:
        stop.set()
        for task in running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
        with contextlib.suppress(Exception):
            await dispose_engines(container)

    return _Lifespan(app, start, finish)


class _Lifespan:
    """Runs ``start`` before the app's own startup and ``finish`` before its shutdown."""

    def __init__(
        self, app: ASGIApp, start: Callable[[], Awaitable[None]], finish: Callable[[], Awaitable[None]]
    ) -> None:
        self._app, self._start, self._finish = app, start, finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
            elif message["type"] == "lifespan.shutdown":
                await self._finish()
            return message

        await self._app(scope, lifespan_receive, send)
