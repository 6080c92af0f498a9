"""``supportos seed-demo``: load demo data and print development credentials."""

from __future__ import annotations

import asyncio

import typer

from application.demo.seed import seed_demo as run_seed
from application.security.scope import ALL, scoped_to
from interfaces.container import build_container, demo_providers
from interfaces.settings import get_settings


def seed_demo() -> None:
    """Load demo data (several countries; orders and disputes in every state). Idempotent."""
    settings = get_settings()
    if settings.is_production:
        typer.echo("refusing to load demo data in production", err=True)
        raise typer.Exit(2)
    container = build_container(settings)

    async def go() -> None:
        services = container.services()
        with scoped_to(ALL):  # the seeder acts as the system, in every country
            report = await run_seed(
                uow=services.uow, ids=services.ids, providers=demo_providers(), clock=services.clock
            )
        await container.engine().dispose()
        if report.skipped:
            typer.echo("demo data already loaded")
        else:
            typer.echo("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in sorted(report.orders.items())))

    asyncio.run(go())
