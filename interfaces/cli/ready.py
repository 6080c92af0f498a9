"""What the commands check before their work (D123): that the database can serve them, and
that the metrics port can be served; one line an operator can act on, exit 2, instead of a
traceback."""

from __future__ import annotations

import typer
from prometheus_client import start_http_server

from interfaces.container import Container, database_problem


async def require_ready_database(container: Container) -> None:
    """Return if the database is reachable and at the newest migration; else say why and exit 2."""
    problem = await database_problem(container)
    if problem is None:
        return
    await container.engine().dispose()
    typer.echo(problem, err=True)
    raise typer.Exit(2)


def serve_metrics(port: int | None, host: str) -> None:
    """This process's Prometheus metrics on ``port`` (if given); a port already in use is a bad
    ``--metrics-port`` (exit 2), not a traceback."""
    if port is None:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot serve metrics on {host}:{port} ({error.strerror or type(error).__name__})",
            param_hint="--metrics-port",
        ) from None
