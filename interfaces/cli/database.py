"""``supportos migrate`` and ``supportos audit-verify``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from application.audit.verify import ChainHead
from interfaces.container import migrate_database, verify_audit_log
from interfaces.settings import get_settings


def migrate() -> None:
    """Bring the database to the newest schema; safe to re-run.

    Connects to SUPPORTOS_MIGRATION_DATABASE_URL (the schema owner) when set, else to
    SUPPORTOS_DATABASE_URL. On PostgreSQL it creates the service's role
    (SUPPORTOS_DATABASE_APP_ROLE, default supportos_app) if needed and grants it access.
    """
    before, after = asyncio.run(migrate_database(get_settings()))
    if before == after:
        typer.echo(f"database already at {after}")
    else:
        typer.echo(f"database migrated: {before or 'empty'} -> {after}")


def _chain_head(value: str | None) -> ChainHead | None:
    if value is None:
        return None
    try:
        return ChainHead.parse(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--expect-head'") from error


def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head reported by an earlier run: fail (exit 1) unless entry SEQ is still"
            " there with entry hash HASH (detects a truncated or rewritten tail).",
        ),
    ] = None,
) -> None:
    """Recompute the audit log's hash chain; report the first broken link (exit 1) or 0.

    An intact chain's report ends with its head, SEQ:HASH (the last sequence and its entry
    hash): keep it outside the database and pass it back as --expect-head.
    """
    head = _chain_head(expect_head)
    code, report = asyncio.run(verify_audit_log(get_settings(), expect_head=head))
    typer.echo(report, err=code != 0)
    raise typer.Exit(code)
