"""``supportos seed-demo``: load demo data and print development credentials."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import typer
from returns.result import Failure

from application.context import RequestContext
from application.demo.seed import DEMO_COUNTRIES, demo_payment_partner, demo_seller
from application.demo.seed import seed_demo as run_seed
from application.security.api_keys import IssueApiKey, issue_api_key
from application.security.principal import PartnerKind, Principal, Role
from application.security.scope import ALL, scoped_to
from domain.shared import CountryCode
from interfaces.auth import TokenKeys, mint_token
from interfaces.cli.ready import require_ready_database
from interfaces.container import Container, build_container, demo_providers
from interfaces.settings import Settings, get_settings

CONSOLE_ROLES = (Role.L1, Role.L2, Role.L3, Role.AUDITOR)


def print_tokens(settings: Settings) -> None:
    """One development token per console role, scoped to every demo country."""
    if settings.jwt_algorithm != "HS256":
        typer.echo("# tokens: mint them with `supportos token --private-key-file ...` (RS256)")
        return
    countries = frozenset(CountryCode(c) for c in DEMO_COUNTRIES)
    keys = TokenKeys.from_settings(settings)
    for role in CONSOLE_ROLES:
        minted = mint_token(
            keys,
            subject=f"demo-{role.value.lower()}",
            role=role,
            countries=countries,
            now=datetime.now(UTC),
            ttl=timedelta(hours=12),
        )
        typer.echo(f"# {role.value} token ({','.join(DEMO_COUNTRIES)}, 12 h):")
        typer.echo(minted)


async def print_partner_key(container: Container, kind: PartnerKind = PartnerKind.SELLER_ORG) -> None:
    """A partner API key in MX (created once, with the data): for the first demo seller, or
    (``PAYMENT_PARTNER``) for the payment partner of every demo payment there."""
    country = CountryCode("MX")
    paying = kind is PartnerKind.PAYMENT_PARTNER
    partner = demo_payment_partner("MX") if paying else demo_seller("MX")
    label = "demo payment partner" if paying else "demo back office"
    ctx = RequestContext(Principal("seed-demo", Role.SYSTEM, frozenset({country})), "seed-demo")
    with scoped_to(ALL):  # as `supportos apikey create`: the system writes the key (row-level security)
        issued = await issue_api_key(container.services(), ctx, IssueApiKey(partner, country, label, kind))
    if isinstance(issued, Failure):
        typer.echo(f"# partner key not created: {issued.failure().message}", err=True)
        return
    typer.echo(f"# {kind.value} partner API key for {partner} in MX (shown once):")
    typer.echo(issued.unwrap().raw_key)


def seed_demo() -> None:
    """Load demo data (several countries; orders and disputes in every state). Idempotent."""
    settings = get_settings()
    if settings.is_production:
        typer.echo("refusing to load demo data in production", err=True)
        raise typer.Exit(2)
    container = build_container(settings)

    async def go() -> None:
        await require_ready_database(container)
        services = container.services()
        with scoped_to(ALL):  # the seeder acts as the system, in every country
            report = await run_seed(
                uow=services.uow,
                ids=services.ids,
                providers=demo_providers(),
                clock=services.clock,
                screener=container.screener(),
            )
        if report.partial:
            await container.engine().dispose()
            typer.echo(
                "the demo data is only partly loaded (an earlier seed-demo stopped half-way):"
                " recreate the database (delete the SQLite file, or drop and create the PostgreSQL"
                " database), run `supportos migrate`, then `supportos seed-demo` again",
                err=True,
            )
            raise typer.Exit(1)
        if report.skipped:
            typer.echo("demo data already loaded (partner keys: `supportos apikey create`)")
            if report.conversations:
                typer.echo(f"demo conversations added: {report.conversations}")
        else:
            typer.echo("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in sorted(report.orders.items())))
            typer.echo(f"demo conversations: {report.conversations}")
            await print_partner_key(container)
            await print_partner_key(container, PartnerKind.PAYMENT_PARTNER)
        await container.engine().dispose()

    asyncio.run(go())
    print_tokens(settings)
