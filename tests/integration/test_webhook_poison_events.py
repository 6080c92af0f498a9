"""Recovering stored webhooks whose processing raises (a poison event), on SQLite and PostgreSQL.

``reprocess_pending_webhooks`` claims the oldest unprocessed rows first. An event whose
processing raises every time must neither stop the rest of the batch nor come back for
ever at the head of every batch: each attempt is counted on the row, and past
``WebhookProcessing.max_attempts`` the row gets the final outcome ``PROCESSING_FAILED``, a
``webhook.processing_failed`` audit entry (the exception's class, never its message) and the
alert's counter, and is never claimed again. A failure that goes away is processed normally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import text

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.integrations.webhooks import (
    PROCESSING_FAILED,
    VerifiedWebhook,
    WebhookProcessing,
    WebhookReceipt,
    parse_event,
    receive_webhook,
    reprocess_pending_webhooks,
)
from application.ports.outbox import NewJob
from domain.audit import AuditEntry
from domain.shared import CountryCode
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.time_and_ids import FixedClock, SequentialIds

MX = CountryCode("MX")
PROVIDER = "sandbox-payments"
HOLD = timedelta(seconds=60)
PII = "jane.doe@example.com +52 55 1234 5678"  # what an exception's message may carry


@dataclass
class FlakyConfirmer:
    """``SagaRunner.confirm``, faked: raises for a key as long as it has failures left
    (``fail``: key -> how many more times; ``-1``: always), else answers ``COMPLETED``."""

    fail: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> str:
        self.calls.append(idempotency_key)
        left = self.fail.get(idempotency_key, 0)
        if left:
            self.fail[idempotency_key] = left - 1
            raise ValueError(f"cannot settle for {PII}")
        return "COMPLETED"


@dataclass
class Inbox:
    svc: Services
    clock: FixedClock
    metrics: RecordingMetrics
    confirmer: FlakyConfirmer

    def processing(self, max_attempts: int) -> WebhookProcessing:
        return WebhookProcessing(
            self.svc,
            self.confirmer,
            hold=HOLD,
            settles={PROVIDER: frozenset({"payments"})},
            max_attempts=max_attempts,
        )

    async def stored(self, key: str) -> VerifiedWebhook:
        """An event about the payments job ``key``, stored by a call that died before
        processing it (its first attempt), one second after the previous one."""
        async with self.svc.uow() as uow:
            await uow.outbox.enqueue(
                NewJob(
                    country=MX,
                    idempotency_key=key,
                    kind="dispute.step",
                    provider="payments",
                    reference=f"test:{key}",
                    payload={},
                    available_at=self.clock.now(),
                ),
                now=self.clock.now(),
            )
            await uow.commit()
        webhook = VerifiedWebhook(
            PROVIDER,
            f"msg_{key}",
            self.clock.now(),
            {"type": "refund.succeeded", "data": {"id": "re_1", "idempotency_key": key, "country": "MX"}},
        )
        async with self.svc.uow() as uow:
            assert await uow.webhook_inbox.store(
                parse_event(webhook).unwrap(), now=self.clock.now(), hold=HOLD
            )
            await uow.commit()
        self.clock.advance(timedelta(seconds=1))
        return webhook

    async def rows(self) -> dict[str, tuple[int, str | None]]:
        """Webhook id -> (attempts, outcome)."""
        async with self.svc.uow() as uow:
            assert isinstance(uow, SqlAlchemyUnitOfWork)
            rows = await uow.session.execute(text("SELECT webhook_id, attempts, outcome FROM webhook_inbox"))
            return {str(r[0]): (int(r[1]), r[2]) for r in rows.all()}

    async def audited(self, action: str) -> list[AuditEntry]:
        async with self.svc.uow() as uow:
            return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]

    async def sweep(self, processing: WebhookProcessing) -> list[WebhookReceipt]:
        """The worker's maintenance round once every hold has expired."""
        self.clock.advance(HOLD + timedelta(seconds=1))
        return await reprocess_pending_webhooks(processing)


@pytest.fixture
def inbox(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Inbox:
    clock, metrics = FixedClock(), RecordingMetrics()
    svc = Services(uow=uow_factory, clock=clock, ids=SequentialIds(), metrics=metrics)
    return Inbox(svc, clock, metrics, FlakyConfirmer())


def outcomes(receipts: list[WebhookReceipt]) -> list[tuple[str, bool, str | None]]:
    return [(r.webhook_id, r.processed, r.outcome) for r in receipts]


async def test_a_poison_event_at_the_head_of_the_inbox_does_not_hold_up_the_others(inbox: Inbox) -> None:
    processing = inbox.processing(max_attempts=5)
    inbox.confirmer.fail["poison"] = -1  # raises every time
    for key in ("poison", "k1", "k2"):  # the poison event is the oldest: first in the batch
        await inbox.stored(key)

    receipts = await inbox.sweep(processing)

    assert outcomes(receipts) == [
        ("msg_poison", False, None),  # raised: logged, left to its hold
        ("msg_k1", True, "COMPLETED"),
        ("msg_k2", True, "COMPLETED"),
    ]
    assert inbox.confirmer.calls == ["poison", "k1", "k2"]
    assert await inbox.rows() == {
        "msg_poison": (2, None),
        "msg_k1": (2, "COMPLETED"),
        "msg_k2": (2, "COMPLETED"),
    }
    assert [e.target_id for e in await inbox.audited("webhook.processed")] == [
        f"{PROVIDER}:msg_k1",
        f"{PROVIDER}:msg_k2",
    ]
    assert await reprocess_pending_webhooks(processing) == []  # the poison event is held again


async def test_past_its_maximum_a_poison_event_is_given_up_audited_counted_and_never_claimed_again(
    inbox: Inbox,
) -> None:
    processing = inbox.processing(max_attempts=3)
    inbox.confirmer.fail["poison"] = -1
    webhook = await inbox.stored("poison")  # attempt 1 (its process died)

    assert outcomes(await inbox.sweep(processing)) == [("msg_poison", False, None)]  # attempt 2
    assert inbox.metrics.webhook_failures == {}
    assert outcomes(await inbox.sweep(processing)) == [("msg_poison", True, PROCESSING_FAILED)]  # 3

    assert await inbox.rows() == {"msg_poison": (3, PROCESSING_FAILED)}
    [entry] = await inbox.audited("webhook.processing_failed")
    assert (entry.country, entry.target_type, entry.target_id) == (MX, "webhook", f"{PROVIDER}:msg_poison")
    assert entry.actor_id == f"webhook:{PROVIDER}"
    assert entry.after == {
        "provider": PROVIDER,
        "webhook_id": "msg_poison",
        "event_type": "refund.succeeded",
        "idempotency_key": "poison",
        "outcome": PROCESSING_FAILED,
        "attempts": 3,
        "max_attempts": 3,
        "error_type": "ValueError",  # the class only: the message may hold personal data
    }
    assert "jane" not in repr(entry)
    assert await inbox.audited("webhook.processed") == []
    assert inbox.metrics.webhook_failures == {("MX", PROVIDER): 1}

    calls = list(inbox.confirmer.calls)
    assert len(calls) == 2
    for _ in range(3):  # never claimed again, by the sweep or by a redelivery
        assert await inbox.sweep(processing) == []
    again = (await receive_webhook(processing, webhook)).unwrap()
    assert (again.duplicate, again.processed) == (True, False)
    assert inbox.confirmer.calls == calls
    assert await inbox.rows() == {"msg_poison": (3, PROCESSING_FAILED)}
    assert len(await inbox.audited("webhook.processing_failed")) == 1
    assert inbox.metrics.webhook_failures == {("MX", PROVIDER): 1}


async def test_an_event_claimed_past_its_maximum_is_given_up_without_processing_it(
    inbox: Inbox,
) -> None:
    """Every earlier attempt died with its process (killed mid-processing): nothing raised
    that could be caught, but the claims counted; the next claim is past the maximum."""
    processing = inbox.processing(max_attempts=3)
    await inbox.stored("k1")  # attempt 1
    for _ in range(2):  # attempts 2 and 3: claimed, then the process died
        inbox.clock.advance(HOLD + timedelta(seconds=1))
        async with inbox.svc.uow() as uow:
            assert await uow.webhook_inbox.claim(MX, PROVIDER, "msg_k1", now=inbox.clock.now(), hold=HOLD)
            await uow.commit()

    assert outcomes(await inbox.sweep(processing)) == [("msg_k1", True, PROCESSING_FAILED)]  # attempt 4

    assert inbox.confirmer.calls == []
    assert await inbox.rows() == {"msg_k1": (4, PROCESSING_FAILED)}
    [entry] = await inbox.audited("webhook.processing_failed")
    assert entry.after is not None
    assert (entry.after["attempts"], entry.after["error_type"]) == (4, None)
    assert inbox.metrics.webhook_failures == {("MX", PROVIDER): 1}
    assert await inbox.sweep(processing) == []


async def test_a_transient_failure_is_processed_normally_on_a_later_attempt(inbox: Inbox) -> None:
    processing = inbox.processing(max_attempts=3)
    inbox.confirmer.fail["k1"] = 1  # the database went away once, say
    await inbox.stored("k1")

    assert outcomes(await inbox.sweep(processing)) == [("msg_k1", False, None)]
    assert outcomes(await inbox.sweep(processing)) == [("msg_k1", True, "COMPLETED")]  # the last allowed

    assert inbox.confirmer.calls == ["k1", "k1"]
    assert await inbox.rows() == {"msg_k1": (3, "COMPLETED")}
    [entry] = await inbox.audited("webhook.processed")
    assert entry.after is not None and entry.after["outcome"] == "COMPLETED"
    assert await inbox.audited("webhook.processing_failed") == []
    assert inbox.metrics.webhook_failures == {}
    assert await inbox.sweep(processing) == []


def test_the_maximum_is_at_least_one(inbox: Inbox) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        inbox.processing(max_attempts=0)


class Killed(BaseException):
    """The sweep's process dying mid-event (a deploy's SIGKILL, an OOM), as an exception the
    sweep does not catch."""


async def test_a_sweep_that_dies_charges_an_attempt_only_to_the_event_it_was_processing(inbox: Inbox) -> None:
    # rows are claimed one at a time (D126): the rows after the one being processed when the
    # process died were never claimed, so their attempts stay as they were
    processing = inbox.processing(max_attempts=3)
    for key in ("k1", "k2", "k3"):
        await inbox.stored(key)

    async def die(idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = "") -> str:
        raise Killed

    real = inbox.confirmer.confirm
    inbox.confirmer.confirm = die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await inbox.sweep(processing)
    assert await inbox.rows() == {"msg_k1": (2, None), "msg_k2": (1, None), "msg_k3": (1, None)}

    inbox.confirmer.confirm = real  # type: ignore[method-assign]
    receipts = await inbox.sweep(processing)
    assert outcomes(receipts) == [
        ("msg_k1", True, "COMPLETED"),
        ("msg_k2", True, "COMPLETED"),
        ("msg_k3", True, "COMPLETED"),
    ]
