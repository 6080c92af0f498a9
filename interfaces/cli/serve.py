"""``supportos serve``: run the HTTP service (FastAPI + GraphQL) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from interfaces.container import build_container
from interfaces.settings import get_settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: SUPPORTOS_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to bind (default: SUPPORTOS_PORT or 8000).")
    ] = None,
) -> None:
    """Start the HTTP service: /healthz and /graphql."""
    settings = get_settings()
    settings.ensure_database_directory()
    container = build_container(settings)
    uvicorn.run(
        container.http_app(),
        host=host if host is not None else settings.host,
        port=port if port is not None else settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
    )
