from __future__ import annotations

from dataclasses import replace

from returns.result import Result, Success

from application.messaging.notifications import (
    NEW_MESSAGE_TEMPLATE,
    NOTIFY_JOB_KIND,
    deliver_notification,
    notification_jobs,
)
from application.ports.outbox import Job, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderReceipt
from domain.messaging import Participants, Party
from domain.shared import CountryCode, InvalidInput
from tests.unit.domain.messaging.builders import PHONE, T0, Chat


class RecordingNotifier:
    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls.append((idempotency_key, recipient_role, recipient_id, template))
        return Success(ProviderReceipt(self.name, "notify", idempotency_key, f"n_{idempotency_key}"))


def as_job(new: NewJob, job_id: int = 1) -> Job:
    return Job(
        id=job_id,
        country=new.country,
        idempotency_key=new.idempotency_key,
        kind=new.kind,
        provider=new.provider,
        reference=new.reference,
        payload=new.payload,
        status=JobStatus.RUNNING,
        attempts=1,
        max_attempts=new.max_attempts,
        available_at=new.available_at,
        created_at=new.available_at,
    )


async def test_every_other_party_is_notified_once_per_job_key() -> None:
    chat = Chat()
    message = chat.send(body="¿a qué hora?").message
    jobs = notification_jobs(message, chat.conversation.participants, now=T0)
    assert [(j.kind, j.payload["recipient_role"]) for j in jobs] == [
        (NOTIFY_JOB_KIND, "SELLER"),
        (NOTIFY_JOB_KIND, "COURIER"),
    ]
    notifier = RecordingNotifier()
    for n, job in enumerate(jobs):
        assert isinstance(await deliver_notification(notifier, as_job(job, n)), Success)
    assert [call[1:] for call in notifier.calls] == [
        ("SELLER", "sel_1", NEW_MESSAGE_TEMPLATE),
        ("COURIER", "cou_1", NEW_MESSAGE_TEMPLATE),
    ]
    assert [call[0] for call in notifier.calls] == [job.idempotency_key for job in jobs]


def test_blocked_messages_notify_nobody_and_support_reaches_all_parties() -> None:
    chat = Chat()
    blocked = chat.send(screening=PHONE).message
    assert notification_jobs(blocked, chat.conversation.participants, now=T0) == []
    from_support = replace(blocked, party=Party.SUPPORT, findings=(), status=chat.send().message.status)
    parties = Participants("buy_1", "sel_1", None)
    assert [j.payload["recipient_role"] for j in notification_jobs(from_support, parties, now=T0)] == [
        "BUYER",
        "SELLER",
    ]


async def test_a_foreign_or_malformed_job_is_refused() -> None:
    chat = Chat()
    (job, _) = notification_jobs(chat.send().message, chat.conversation.participants, now=T0)
    notifier = RecordingNotifier()
    other = as_job(replace(job, kind="dispute.step"))
    assert isinstance((await deliver_notification(notifier, other)).failure(), InvalidInput)
    broken = as_job(replace(job, payload={"recipient_role": "SELLER"}))
    assert isinstance((await deliver_notification(notifier, broken)).failure(), InvalidInput)
    assert notifier.calls == []
