"""A webhook settles only the jobs of the job providers its provider is mapped to: in
memory (a fake unit of work), the decision ``receive_webhook`` makes for each event and
what it records. The same runs against SQLite and PostgreSQL through the HTTP endpoint in
``tests/integration/test_webhooks.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pytest

from application.context import Services
from application.integrations.webhooks import (
    PROVIDER_MISMATCH,
    UNKNOWN_KEY,
    VerifiedWebhook,
    WebhookProcessing,
    WebhookProviderMismatch,
    receive_webhook,
)
from application.ports.outbox import Job, JobStatus
from application.ports.webhook_inbox import WebhookEvent
from domain.audit import AuditDraft
from domain.shared import CountryCode
from interfaces.container import WEBHOOK_JOB_PROVIDERS
from tests.fakes.time_and_ids import FixedClock, SequentialIds

MX, CO = CountryCode("MX"), CountryCode("CO")
AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEY = "dispute:dsp_1/FULL_REFUND/provider_refund"


@dataclass
class World:
    """What the fake unit of work reads and writes."""

    jobs: dict[str, Job] = field(default_factory=dict)
    inbox: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    audit: list[AuditDraft] = field(default_factory=list)


class FakeOutbox:
    def __init__(self, world: World) -> None:
        self._world = world

    async def by_key(self, key: str) -> Job | None:
        return self._world.jobs.get(key)


class FakeInbox:
    def __init__(self, world: World) -> None:
        self._world = world

    async def store(self, event: WebhookEvent, *, now: datetime, hold: timedelta) -> bool:
        id_ = (event.country.value, event.provider, event.webhook_id)
        if id_ in self._world.inbox:
            return False
        self._world.inbox[id_] = None
        return True

    async def claim(self, *args: object, **kwargs: object) -> None:
        return None

    async def mark_processed(
        self, country: CountryCode, provider: str, webhook_id: str, *, now: datetime, outcome: str
    ) -> bool:
        id_ = (country.value, provider, webhook_id)
        if self._world.inbox.get(id_) is not None:
            return False
        self._world.inbox[id_] = outcome
        return True


class FakeAudit:
    def __init__(self, world: World) -> None:
        self._world = world
        self.staged: list[AuditDraft] = []

    def stage(self, draft: AuditDraft) -> None:
        self.staged.append(draft)


class FakeUnitOfWork:
    def __init__(self, world: World) -> None:
        self._world = world
        self.outbox = FakeOutbox(world)
        self.webhook_inbox = FakeInbox(world)
        self.audit = FakeAudit(world)

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._world.audit.extend(self.audit.staged)
        self.audit.staged = []


@dataclass
class Confirmer:
    calls: list[tuple[str, bool]] = field(default_factory=list)

    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> str:
        self.calls.append((idempotency_key, succeeded))
        return "COMPLETED" if succeeded else "DEAD_LETTERED"


def job(provider: str, country: CountryCode = MX) -> Job:
    return Job(
        id=1,
        country=country,
        idempotency_key=KEY,
        kind="dispute.step",
        provider=provider,
        reference="dispute:dsp_1",
        payload={},
        status=JobStatus.WAITING,
        attempts=1,
        max_attempts=8,
        available_at=AT,
        created_at=AT,
    )


def processing(
    world: World, confirmer: Confirmer, settles: Mapping[str, frozenset[str]] | None = None
) -> WebhookProcessing:
    services = Services(uow=lambda: FakeUnitOfWork(world), clock=FixedClock(AT), ids=SequentialIds())  # type: ignore[arg-type, return-value]
    if settles is None:
        return WebhookProcessing(services, confirmer)
    return WebhookProcessing(services, confirmer, settles=settles)


def webhook(
    provider: str, event_type: str = "refund.succeeded", webhook_id: str = "msg_1"
) -> VerifiedWebhook:
    payload: dict[str, Any] = {
        "type": event_type,
        "data": {"id": "re_1", "idempotency_key": KEY, "country": "MX"},
    }
    return VerifiedWebhook(provider, webhook_id, AT, payload)


@pytest.mark.parametrize("event_type", ["refund.succeeded", "refund.failed"])
async def test_another_providers_webhook_is_refused_and_recorded(event_type: str) -> None:
    world, confirmer = World(jobs={KEY: job("payments")}), Confirmer()
    deps = processing(world, confirmer, WEBHOOK_JOB_PROVIDERS)

    receipt = (await receive_webhook(deps, webhook("sandbox-notifications", event_type))).unwrap()

    refusal = WebhookProviderMismatch("sandbox-notifications", "payments")
    assert (receipt.processed, receipt.outcome, receipt.refusal) == (True, PROVIDER_MISMATCH, refusal)
    assert confirmer.calls == []
    assert world.inbox == {("MX", "sandbox-notifications", "msg_1"): "WEBHOOK_PROVIDER_MISMATCH"}
    [entry] = world.audit
    assert (entry.action, entry.actor_id, entry.country) == (
        "webhook.processed",
        "webhook:sandbox-notifications",
        MX,
    )
    assert entry.after is not None
    assert (entry.after["outcome"], entry.after["job_provider"]) == (PROVIDER_MISMATCH, "payments")


async def test_the_mapped_provider_settles_its_own_job() -> None:
    world, confirmer = World(jobs={KEY: job("payments")}), Confirmer()
    deps = processing(world, confirmer, WEBHOOK_JOB_PROVIDERS)
    receipt = (await receive_webhook(deps, webhook("sandbox-payments"))).unwrap()
    assert (receipt.outcome, receipt.refusal) == ("COMPLETED", None)
    assert confirmer.calls == [(KEY, True)]
    [entry] = world.audit
    assert entry.after is not None and "job_provider" not in entry.after


async def test_without_a_mapping_nothing_is_settled() -> None:
    world, confirmer = World(jobs={KEY: job("payments")}), Confirmer()
    deps = processing(world, confirmer)  # the default: no provider settles anything
    assert deps.settles == {}
    receipt = (await receive_webhook(deps, webhook("sandbox-payments"))).unwrap()
    assert receipt.refusal == WebhookProviderMismatch("sandbox-payments", "payments")
    assert confirmer.calls == []


async def test_an_unknown_key_or_another_countrys_job_stays_unknown() -> None:
    """The provider is checked only for a job of the event's country: the refusal does
    not tell another country's jobs apart from missing ones."""
    world, confirmer = World(jobs={KEY: job("notifications", CO)}), Confirmer()
    deps = processing(world, confirmer, WEBHOOK_JOB_PROVIDERS)
    receipt = (await receive_webhook(deps, webhook("sandbox-payments"))).unwrap()
    assert (receipt.outcome, receipt.refusal) == (UNKNOWN_KEY, None)
    assert confirmer.calls == []


def test_the_production_mapping_keeps_providers_apart() -> None:
    assert dict(WEBHOOK_JOB_PROVIDERS) == {
        "sandbox-payments": frozenset({"payments"}),
        "http-payments": frozenset({"payments"}),
        "sandbox-notifications": frozenset({"notifications"}),
    }
    error = WebhookProviderMismatch("sandbox-notifications", "payments")
    assert error.code == "WEBHOOK_PROVIDER_MISMATCH"
    assert (
        error.message == "webhooks of 'sandbox-notifications' may not settle jobs of the provider 'payments'"
    )
