"""``supportos migrate`` and ``supportos audit-verify``."""

from __future__ import annotations

import asyncio

import typer

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


def audit_verify() -> None:
    """Recompute the audit log's hash chain; report the first broken link (exit 1) or 0."""
    code, report = asyncio.run(verify_audit_log(get_settings()))
    typer.echo(report, err=code != 0)
    raise typer.Exit(code)
