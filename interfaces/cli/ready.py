"""The commands that work on the database first check that it can serve them (D123): one
line an operator can act on, exit 2, instead of a traceback from the first statement."""

from __future__ import annotations

import typer

from interfaces.container import Container, database_problem


async def require_ready_database(container: Container) -> None:
    """Return if the database is reachable and at the newest migration; else say why and exit 2."""
    problem = await database_problem(container)
    if problem is None:
        return
    await container.engine().dispose()
    typer.echo(problem, err=True)
    raise typer.Exit(2)
