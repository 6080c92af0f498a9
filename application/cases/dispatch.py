"""What a live incident's ``RETRY`` and ``URGENT_REPLACEMENT`` send to the order's parties (D72).

SPEC §6: ``RETRY`` re-dispatches the order, ``URGENT_REPLACEMENT`` reassigns its seller or
courier. SPEC §7 lists no dispatch provider: sellers and couriers receive their work through
the notifications provider, so dispatching is a templated notification to a party. The
action's unit of work writes one outbox job (``order.dispatch``, provider
``notifications``) per party it reaches, in the transaction that records the action on the
case and, for a replacement, saves the order with its new party:

- ``RETRY``: the seller and the courier (if one is assigned) get ``order.redispatch``;
- ``URGENT_REPLACEMENT``: the new party gets ``order.assigned`` and the replaced one (if
  any) ``order.unassigned``.

Each job's idempotency key names the case, the timeline entry of the action and the
recipient, so a worker's retry never notifies twice and a second ``RETRY`` (a new entry)
dispatches again. A worker carries a job out with :func:`order_dispatch_job`, under the
breaker, retries and dead letters of every provider job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from returns.result import Failure, Result

from application.messaging.notifications import WithNotifier, notification_job
from application.ports.outbox import Job, NewJob
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from domain.orders import Order

DISPATCH_JOB_KIND: Final = "order.dispatch"
DISPATCH_PROVIDER: Final = "notifications"


class DispatchTemplate(StrEnum):
    REDISPATCH = "order.redispatch"  # RETRY: take up the order again
    ASSIGNED = "order.assigned"  # URGENT_REPLACEMENT: the new party takes the order over
    UNASSIGNED = "order.unassigned"  # URGENT_REPLACEMENT: the replaced party stands down


@dataclass(frozen=True, slots=True)
class Notice:
    """One party to reach: ``role`` is ``SELLER`` or ``COURIER``."""

    role: str
    recipient_id: str
    template: DispatchTemplate


def redispatch_notices(order: Order) -> list[Notice]:
    """``RETRY``: the seller, and the courier when one is assigned."""
    notices = [Notice("SELLER", order.seller_id, DispatchTemplate.REDISPATCH)]
    if order.courier_id is not None:
        notices.append(Notice("COURIER", order.courier_id, DispatchTemplate.REDISPATCH))
    return notices


def replacement_notices(role: str, from_id: str | None, to_id: str) -> list[Notice]:
    """``URGENT_REPLACEMENT``: the new party, then the replaced one when there was one."""
    notices = [Notice(role, to_id, DispatchTemplate.ASSIGNED)]
    if from_id is not None:
        notices.append(Notice(role, from_id, DispatchTemplate.UNASSIGNED))
    return notices


def dispatch_key(case_id: str, sequence: int, notice: Notice) -> str:
    return f"case:{case_id}:{sequence}:dispatch:{notice.role}:{notice.recipient_id}"


def dispatch_jobs(
    order: Order, *, case_id: str, sequence: int, notices: Sequence[Notice], now: datetime
) -> list[NewJob]:
    """The outbox jobs of one action (``sequence``: its entry on the case's timeline)."""
    return [
        NewJob(
            country=order.country,
            idempotency_key=dispatch_key(case_id, sequence, notice),
            kind=DISPATCH_JOB_KIND,
            provider=DISPATCH_PROVIDER,
            reference=f"order:{order.id}",
            payload={
                "order_id": order.id,
                "case_id": case_id,
                "recipient_role": notice.role,
                "recipient_id": notice.recipient_id,
                "template": notice.template.value,
            },
            available_at=now,
        )
        for notice in notices
    ]


_TEMPLATES: Final = frozenset(template.value for template in DispatchTemplate)
_ROLES: Final = frozenset({"SELLER", "COURIER"})


async def order_dispatch_job(job: Job, providers: WithNotifier) -> Result[ProviderReceipt, ProviderError]:
    """The worker's handler for ``order.dispatch``: the messaging bridge's templated
    notification (:func:`notification_job`), to a seller or courier with a dispatch template.
    A malformed job fails for good (dead-letter queue)."""
    payload = job.payload
    if payload.get("recipient_role") not in _ROLES or payload.get("template") not in _TEMPLATES:
        return Failure(
            ProviderError(
                DISPATCH_PROVIDER,
                DISPATCH_JOB_KIND,
                ProviderFailureKind.PERMANENT,
                f"malformed {job.kind} job: needs a SELLER or COURIER recipient and a dispatch template",
            )
        )
    return await notification_job(job, providers.notifications, kind=DISPATCH_JOB_KIND)
