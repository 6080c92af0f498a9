"""``supportos report --month YYYY-MM --country MX [--json]``: the monthly case report (D47).

Runs as the system in the country's scope only (the CLI is an operator's tool, bound to the
one country asked for), prints Markdown for people or, with ``--json``, the same figures as
JSON for tools (integers only: seconds, basis points, minor units with their currency).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from returns.result import Failure

from application.cases.reports import CaseReportQuery, case_report, to_json, to_markdown
from application.context import RequestContext
from application.security.principal import Principal, Role
from application.security.scope import scoped_to
from domain.cases.report import Month
from domain.shared import CountryCode
from interfaces.cli.ready import require_ready_database
from interfaces.container import build_container
from interfaces.settings import get_settings


def report(
    month: Annotated[str, typer.Option(help="The calendar month (UTC), YYYY-MM.")],
    country: Annotated[str, typer.Option(help="ISO-3166 alpha-2 country code, e.g. MX.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of Markdown.")] = False,
) -> None:
    """The month's cases of a country: volumes, times to acknowledge and mitigate, SLA, tiers,
    satisfaction and money refunded through outcomes."""
    parsed_month = Month.parse(month)
    parsed_country = CountryCode.parse(country.strip().upper())
    for parsed in (parsed_month, parsed_country):
        if isinstance(parsed, Failure):
            typer.echo(f"{parsed.failure().code}: {parsed.failure().message}", err=True)
            raise typer.Exit(2)
    query = CaseReportQuery(parsed_country.unwrap(), parsed_month.unwrap())
    container = build_container(get_settings())

    async def go() -> str:
        await require_ready_database(container)
        principal = Principal("supportos-report", Role.SYSTEM, frozenset({query.country}))
        try:
            with scoped_to(frozenset({query.country})):
                result = await case_report(
                    container.services(), RequestContext(principal, "cli:report"), query
                )
        finally:
            await container.engine().dispose()
        if isinstance(result, Failure):  # pragma: no cover - SYSTEM may read every report
            typer.echo(f"{result.failure().code}: {result.failure().message}", err=True)
            raise typer.Exit(1)
        built = result.unwrap()
        return json.dumps(to_json(built), indent=2, sort_keys=True) if as_json else to_markdown(built)

    typer.echo(asyncio.run(go()).rstrip("\n"))
