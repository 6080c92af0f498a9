"""``supportos serve``: run the HTTP service (FastAPI + GraphQL) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from interfaces.container import build_container
from interfaces.logs import configure_logging
from interfaces.settings import get_settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: SUPPORTOS_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to bind (default: SUPPORTOS_PORT or 8000).")
    ] = None,
) -> None:
    """Start the HTTP service: /graphql, /webhooks, /metrics, /healthz and /readyz."""
    settings = get_settings()
    configure_logging(settings.log_level)  # JSON lines with the request id, PII redacted
    settings.ensure_database_directory()
    container = build_container(settings)
    uvicorn.run(
        container.http_app(),
        host=host if host is not None else settings.host,
        port=port if port is not None else settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through the JSON handler
        access_log=False,  # the app writes its own access line (route template, status, request id)
        proxy_headers=False,
    )
