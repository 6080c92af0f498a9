"""``supportos webhook-send PROVIDER FILE [--url URL] [--id ID]``: sign and send events as a
webhook provider would (D90, D91), for trying the feeds against a running service.

``FILE`` (``-`` for standard input) holds one event or a JSON list of events in the
Standard Webhooks envelope, e.g. ``{"type": "order.created", "data": {"country": "MX",
"order_id": "ord_1", "buyer_id": "buy_1", "seller_id": "sel_1"}}``. Each is signed with the
provider's first secret in ``SUPPORTOS_WEBHOOK_SECRETS`` and POSTed to
``--url`` (default ``http://SUPPORTOS_HOST:SUPPORTOS_PORT/webhooks/PROVIDER``) with its own
webhook id (``--id``, suffixed ``-2``, ``-3``... for a list; a random one by default: send
the same id again to see a duplicate answered). Prints each answer; exits 1 if any was not
2xx (a 409 ``ORDER_NOT_YET_KNOWN`` means: send its ``order.created`` first, then again).
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from adapters.providers.webhook_delivery import sign_webhook
from interfaces.settings import get_settings


def webhook_send(
    provider: Annotated[
        str, typer.Argument(help="The webhook provider, e.g. marketplace or courier-tracking.")
    ],
    file: Annotated[str, typer.Argument(help="A JSON event, or a list of events; - for standard input.")],
    url: Annotated[str | None, typer.Option(help="Where to POST (default: this service's endpoint).")] = None,
    webhook_id: Annotated[
        str | None, typer.Option("--id", help="The webhook id (a random one by default).")
    ] = None,
) -> None:
    """Sign events with PROVIDER's secret and POST them, one webhook each."""
    settings = get_settings()
    secrets = settings.webhook_secrets_by_provider().get(provider, [])
    if not secrets:
        typer.echo(f"no secret for {provider!r} in SUPPORTOS_WEBHOOK_SECRETS", err=True)
        raise typer.Exit(2)
    try:
        raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        loaded: Any = json.loads(raw)
    except (OSError, ValueError) as error:
        typer.echo(f"cannot read events from {file}: {error}", err=True)
        raise typer.Exit(2) from None
    events = loaded if isinstance(loaded, list) else [loaded]
    if not events or not all(isinstance(event, dict) for event in events):
        typer.echo("the file must hold a JSON object or a non-empty list of objects", err=True)
        raise typer.Exit(2)
    target = url or f"http://{settings.host}:{settings.port}/webhooks/{provider}"
    base = webhook_id or f"msg_{uuid.uuid4().hex}"
    failed = 0
    with httpx.Client(timeout=10.0) as client:
        for number, event in enumerate(events, start=1):
            body = json.dumps(event, separators=(",", ":")).encode()
            this_id = base if number == 1 else f"{base}-{number}"
            headers = sign_webhook(
                secrets=secrets[:1], webhook_id=this_id, timestamp=datetime.now(UTC), body=body
            )
            try:
                answer = client.post(
                    target, content=body, headers={**headers, "content-type": "application/json"}
                )
            except httpx.HTTPError as error:
                typer.echo(f"{this_id} {event.get('type')}: {type(error).__name__}: {error}", err=True)
                raise typer.Exit(1) from None
            failed += not answer.is_success
            typer.echo(f"{this_id} {event.get('type')}: {answer.status_code} {answer.text}")
    if failed:
        raise typer.Exit(1)
