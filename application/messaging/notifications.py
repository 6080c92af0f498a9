"""The notification bridge: every delivered message reaches the other parties.

Sending a message writes, in the same unit of work, one outbox job per recipient
(``conversation.notify``, provider ``notifications``). A worker claims each job and calls
:func:`deliver_notification`, which asks the :class:`PartyNotifier` to reach the recipient
on the channel the provider knows they prefer (push, else e-mail), under the job's
idempotency key, so a retried job never notifies twice. The payload names the message,
not its body: the body is read in the app, where it stays subject to screening.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

from returns.result import Failure, Result, Success

from application.ports.outbox import Job, NewJob
from application.ports.providers import PartyNotifier, ProviderError, ProviderFailureKind, ProviderReceipt
from domain.messaging import Message, Participants
from domain.shared import InvalidInput

NOTIFY_JOB_KIND: Final = "conversation.notify"
NOTIFY_PROVIDER: Final = "notifications"
NEW_MESSAGE_TEMPLATE: Final = "conversation.new_message"


def conversation_reference(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def notification_jobs(message: Message, participants: Participants, *, now: datetime) -> list[NewJob]:
    """One job per party but the sender (none for a blocked message: it is never delivered)."""
    if message.blocked:
        return []
    return [
        NewJob(
            country=message.country,
            idempotency_key=f"{message.message_id}:notify:{party.value}:{recipient_id}",
            kind=NOTIFY_JOB_KIND,
            provider=NOTIFY_PROVIDER,
            reference=conversation_reference(message.conversation_id),
            payload={
                "conversation_id": message.conversation_id,
                "order_id": message.order_id,
                "message_id": message.message_id,
                "sequence": message.sequence,
                "sender_party": message.party.value,
                "recipient_role": party.value,
                "recipient_id": recipient_id,
                "template": NEW_MESSAGE_TEMPLATE,
            },
            available_at=now,
        )
        for party, recipient_id in participants.recipients_of(message.party)
    ]


async def deliver_notification(
    notifier: PartyNotifier, job: Job, *, kind: str = NOTIFY_JOB_KIND
) -> Result[ProviderReceipt, ProviderError | InvalidInput]:
    """Carry out a templated notification job of ``kind`` (by default ``conversation.notify``):
    its payload names ``recipient_role``, ``recipient_id`` and ``template``."""
    if job.kind != kind:
        return Failure(InvalidInput("job.kind", f"expected {kind}, got {job.kind!r}"))
    payload = job.payload
    recipient_role, recipient_id, template = (
        payload.get("recipient_role"),
        payload.get("recipient_id"),
        payload.get("template"),
    )
    if not all(isinstance(value, str) and value for value in (recipient_role, recipient_id, template)):
        return Failure(InvalidInput("job.payload", "needs recipient_role, recipient_id and template"))
    return await notifier.notify(
        idempotency_key=job.provider_key,  # the job's key, or its replay's (D83)
        country=job.country,
        recipient_role=str(recipient_role),
        recipient_id=str(recipient_id),
        template=str(template),
    )


class WithNotifier(Protocol):
    """What the worker hands a provider job (``application.saga.executor.Providers``)."""

    @property
    def notifications(self) -> PartyNotifier: ...


async def notification_job(
    job: Job, notifier: PartyNotifier, *, kind: str = NOTIFY_JOB_KIND
) -> Result[ProviderReceipt, ProviderError]:
    """:func:`deliver_notification` as a worker's job handler: a malformed job is a permanent
    failure, so it goes to the dead-letter queue instead of being retried."""
    delivered = await deliver_notification(notifier, job, kind=kind)
    if isinstance(delivered, Success):
        return Success(delivered.unwrap())
    error = delivered.failure()
    if isinstance(error, ProviderError):
        return Failure(error)
    return Failure(ProviderError(NOTIFY_PROVIDER, kind, ProviderFailureKind.PERMANENT, error.message))


async def conversation_notify_job(
    job: Job, providers: WithNotifier
) -> Result[ProviderReceipt, ProviderError]:
    """The ``conversation.notify`` job kind the workers run (``SagaRunner.job_kinds``; the
    runner adds the breaker, retries, dead letters and the audit entry)."""
    return await notification_job(job, providers.notifications)
