"""``supportos payouts [--country MX] [--interval-hours H]``: run the seller payout run now (D89).

Schedules one ``seller.payout`` job for every seller the ledger owes money (net of the
clawbacks in ``seller:receivable``) that has no payout in flight and was not paid in the last
``--interval-hours`` (default ``SUPPORTOS_PAYOUT_INTERVAL_HOURS``); a worker carries the jobs
out and posts each payout when the provider confirms it. The scheduler runs the same sweep
every ``SUPPORTOS_PAYOUT_CHECK_MINUTES``; running both at once schedules each payout once.
Prints one line per scheduled payout and the totals per country and currency.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from returns.result import Failure

from application.ledger.payouts import PayoutRun, run_payouts
from domain.shared import CountryCode
from interfaces.cli.ready import require_ready_database
from interfaces.container import build_container
from interfaces.settings import get_settings


def payouts(
    country: Annotated[
        str | None, typer.Option(help="Only this ISO-3166 alpha-2 country (default: every country).")
    ] = None,
    interval_hours: Annotated[
        int | None,
        typer.Option(
            min=0, max=24 * 366, help="Skip sellers paid less than this many hours ago (0: none skipped)."
        ),
    ] = None,
) -> None:
    """Schedule the payout of what the ledger owes each seller."""
    only: CountryCode | None = None
    if country is not None:
        parsed = CountryCode.parse(country.strip().upper())
        if isinstance(parsed, Failure):
            typer.echo(f"{parsed.failure().code}: {parsed.failure().message}", err=True)
            raise typer.Exit(2)
        only = parsed.unwrap()
    settings = get_settings()
    hours = settings.payout_interval_hours if interval_hours is None else interval_hours
    container = build_container(settings)

    async def go() -> PayoutRun:
        await require_ready_database(container)
        try:
            svc = container.services()
            interval = timedelta(hours=hours)
            return await run_payouts(svc, now=svc.clock.now(), min_interval=interval, country=only)
        finally:
            await container.engine().dispose()

    run = asyncio.run(go())
    for payout in run.scheduled:
        debt = payout.settled_receivable
        settled = f" (settles {debt} clawed back)" if debt.minor else ""
        typer.echo(f"{payout.idempotency_key}: {payout.amount}{settled}")
    for (code, currency), minor in sorted(run.total_minor.items()):
        typer.echo(f"total {code.value} {currency}: {minor} minor units")
    skipped = ", ".join(f"{reason.value.lower()}={count}" for reason, count in sorted(run.skipped.items()))
    typer.echo(f"{len(run.scheduled)} payout(s) scheduled" + (f"; skipped: {skipped}" if skipped else ""))
