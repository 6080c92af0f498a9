"""``supportos token`` (development JWTs) and ``supportos apikey create|revoke`` (partner keys)."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final

import typer
from returns.result import Failure

from application.context import RequestContext
from application.security.api_keys import IssueApiKey, country_of_key_id, issue_api_key, revoke_api_key
from application.security.principal import PartnerKind, Principal, Role
from application.security.scope import ALL, scoped_to
from domain.shared import CountryCode
from interfaces.auth import TOKEN_ROLES, TokenKeys, mint_token
from interfaces.cli.ready import require_ready_database
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings, get_settings

MAX_TTL_HOURS: Final = 24 * 30

apikey = typer.Typer(help="Partner API keys: one partner, one country; stored hashed.", no_args_is_help=True)
PARTNER_KINDS: Final = ", ".join(kind.value for kind in PartnerKind)


def _countries(raw: str) -> frozenset[CountryCode]:
    parsed: set[CountryCode] = set()
    for part in raw.split(","):
        code = CountryCode.parse(part)
        if isinstance(code, Failure):
            raise typer.BadParameter(code.failure().reason, param_hint="--countries")
        parsed.add(code.unwrap())
    return frozenset(parsed)


def token(
    role: Annotated[str, typer.Option(help="L1, L2, L3, AUDITOR, BUYER, SELLER or COURIER.")],
    countries: Annotated[str, typer.Option(help="Comma-separated ISO-3166 codes, e.g. MX,CO.")],
    subject: Annotated[str | None, typer.Option(help="The actor id (default: dev-<role>).")] = None,
    ttl_hours: Annotated[int, typer.Option(min=1, max=MAX_TTL_HOURS, help="Lifetime in hours.")] = 12,
    private_key_file: Annotated[
        Path | None, typer.Option(help="RS256 only: the PEM private key to sign with.", exists=True)
    ] = None,
) -> None:
    """Mint a development bearer token; the bare token is the last line printed."""
    settings = get_settings()
    if settings.is_production:
        typer.echo("refusing to mint tokens in production: use the identity provider", err=True)
        raise typer.Exit(2)
    wanted = role.strip().upper()
    if wanted not in {r.value for r in TOKEN_ROLES}:
        allowed = ", ".join(sorted(r.value for r in TOKEN_ROLES))
        raise typer.BadParameter(f"one of {allowed} (partners use API keys)", param_hint="--role")
    if settings.jwt_algorithm == "RS256" and private_key_file is None:
        raise typer.BadParameter("RS256 needs the private key to sign with", param_hint="--private-key-file")
    scope = _countries(countries)
    actor = subject or f"dev-{wanted.lower()}"
    now = datetime.now(UTC)
    minted = mint_token(
        TokenKeys.from_settings(settings, private_key_file=private_key_file),
        subject=actor,
        role=Role(wanted),
        countries=scope,
        now=now,
        ttl=timedelta(hours=ttl_hours),
    )
    expires = (now + timedelta(hours=ttl_hours)).isoformat(timespec="seconds")
    typer.echo(f"# {wanted} {actor} in {','.join(sorted(c.value for c in scope))}, expires {expires}")
    typer.echo(minted)


def _cli_context(country: CountryCode) -> RequestContext:
    """CLI commands act as the system, in the one country they touch."""
    return RequestContext(Principal(f"cli:{getpass.getuser()}", Role.SYSTEM, frozenset({country})), "cli")


@apikey.command("create")
def create(
    partner: Annotated[
        str,
        typer.Option(
            help="The partner's id (a seller org: its seller id; a payment partner: the id its "
            "orders record at capture)."
        ),
    ],
    country: Annotated[str, typer.Option(help="The one country the key serves, e.g. CO.")],
    label: Annotated[str, typer.Option(help="A note for people (who holds the key).")] = "",
    kind: Annotated[
        str,
        typer.Option(
            help=f"{PARTNER_KINDS}: whose orders the key reads (the ones the partner sells, or "
            "the ones whose payment it processed)."
        ),
    ] = PartnerKind.SELLER_ORG.value,
) -> None:
    """Create a key; it is printed once, as the last line, and stored only as a hash."""
    scope = _countries(country)
    if len(scope) != 1:
        raise typer.BadParameter("exactly one country", param_hint="--country")
    (code,) = scope
    wanted = kind.strip().upper().replace("-", "_")
    if wanted not in {k.value for k in PartnerKind}:
        raise typer.BadParameter(f"one of {PARTNER_KINDS}", param_hint="--kind")
    partner_kind = PartnerKind(wanted)
    settings = get_settings()

    async def go() -> None:
        container = build_container(settings)
        await require_ready_database(container)
        try:
            with scoped_to(ALL):  # the CLI acts as the system
                issued = await issue_api_key(
                    container.services(), _cli_context(code), IssueApiKey(partner, code, label, partner_kind)
                )
        finally:
            await dispose_engines(container)
        if isinstance(issued, Failure):
            typer.echo(f"{issued.failure().code}: {issued.failure().message}", err=True)
            raise typer.Exit(1)
        made = issued.unwrap()
        typer.echo(
            f"# key id {made.record.key_id} for {partner_kind.value} partner {partner} in {code};"
            " shown once, keep it safe"
        )
        typer.echo(made.raw_key)

    asyncio.run(go())


@apikey.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id printed by `apikey create`.")]) -> None:
    """Revoke a key at once (revoking it again changes nothing)."""
    country = country_of_key_id(key_id)
    if country is None:
        typer.echo(f"NOT_FOUND: no API key {key_id!r}", err=True)
        raise typer.Exit(1)
    settings: Settings = get_settings()

    async def go() -> None:
        container = build_container(settings)
        await require_ready_database(container)
        try:
            with scoped_to(ALL):  # the CLI acts as the system
                revoked = await revoke_api_key(container.services(), _cli_context(country), key_id)
        finally:
            await dispose_engines(container)
        if isinstance(revoked, Failure):
            typer.echo(f"{revoked.failure().code}: {revoked.failure().message}", err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked {key_id} (partner {revoked.unwrap().partner_id})")

    asyncio.run(go())
