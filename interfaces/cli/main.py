"""The ``supportos`` command: one entry point for every operational task.

Each command (or command group) lives in its own module under ``interfaces/cli/``
and is registered here:

- a single command: ``app.command(name="migrate")(migrate.migrate)``
- a group of commands: ``app.add_typer(dlq.app, name="dlq")`` where ``dlq.app`` is a ``typer.Typer``
"""

from __future__ import annotations

import typer

from interfaces.cli import (
    credentials,
    database,
    demo,
    diagnostics,
    payouts,
    report,
    scheduler,
    schema,
    serve,
    webhooks,
    worker,
)

app = typer.Typer(
    name="supportos",
    help="Support OS: incidents, disputes, exactly-once money and evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Support OS operational commands."""


app.command(name="serve")(serve.serve)
app.command(name="migrate")(database.migrate)
app.command(name="audit-verify")(database.audit_verify)
app.command(name="seed-demo")(demo.seed_demo)
app.command(name="token")(credentials.token)
app.add_typer(credentials.apikey, name="apikey")
app.command(name="schema")(schema.schema)
app.command(name="inspect")(diagnostics.inspect)
app.command(name="bundles-purge")(diagnostics.bundles_purge)
app.command(name="worker")(worker.worker)
app.command(name="scheduler")(scheduler.scheduler)
app.command(name="report")(report.report)
app.command(name="payouts")(payouts.payouts)
app.command(name="webhook-send")(webhooks.webhook_send)


if __name__ == "__main__":  # pragma: no cover
    app()
