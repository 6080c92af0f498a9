"""The scheduler's platform-incident task: remind when a status update is due (D46).

A live platform incident owes a status update on its severity's cadence: its case's
``STATUS_UPDATE`` clock, whose deadline the incident keeps as ``update_due_at``. When that
instant passes without an update, one tick of the scheduler, in one unit of work per
incident:

- records an ``UPDATE_REMINDER`` entry on the incident's timeline (``PlatformIncident.remind``:
  at most once per due instant),
- enqueues a ``platform_incident.update_reminder`` notification job to the incident's
  opener (the worker delivers it through the notifications provider; its idempotency key
  names the incident and the due instant),
- writes an audit entry as the scheduler,

and commits. Two schedulers racing on one incident: the loser's optimistic save matches no
row (``ConcurrencyConflict``) and its transaction is rolled back, and the outbox key is
unique anyway, so each due period yields exactly one reminder. Posting an update moves
the deadline (a new period); the case's clock, not this task, records a breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure, Result

from application.audit.trail import record
from application.context import RequestContext, Services
from application.ports.outbox import Job, NewJob
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers
from application.security.principal import Principal, Role
from application.security.scope import system_scope
from domain.cases.platform import PlatformIncident
from domain.disputes.evidence import ActorRef
from domain.shared.ids import ActorId

REMINDER_JOB_KIND: Final = "platform_incident.update_reminder"
REMINDER_TEMPLATE: Final = "platform_incident.update_due"
REMINDER_PROVIDER: Final = "notifications"
SCHEDULER_ID: Final = "sla-scheduler"
DEFAULT_BATCH: Final = 100


def reminder_key(incident_id: str, due_at: datetime) -> str:
    return f"platform_incident:{incident_id}:update_due:{due_at.isoformat()}"


def reminder_job(incident: PlatformIncident, due_at: datetime, *, now: datetime) -> NewJob:
    state = incident.state
    return NewJob(
        country=incident.country,
        idempotency_key=reminder_key(incident.incident_id, due_at),
        kind=REMINDER_JOB_KIND,
        provider=REMINDER_PROVIDER,
        reference=f"platform_incident:{incident.incident_id}",
        payload={
            "incident_id": incident.incident_id,
            "case_id": state.case_id,
            "severity": state.severity.value,
            "due_at": due_at.isoformat(),
            "recipient_role": state.opened_by.role,
            "recipient_id": state.opened_by.actor_id,
            "template": REMINDER_TEMPLATE,
        },
        available_at=now,
    )


@dataclass(frozen=True, slots=True)
class PlatformUpdateReminders:
    """The tick task: ``await task(svc, now)`` reminds about every due update (in batches of
    ``batch``) and returns how many reminders this call recorded."""

    batch: int = DEFAULT_BATCH
    scheduler_id: str = SCHEDULER_ID

    @property
    def name(self) -> str:
        return "platform_incident_update_reminders"

    @system_scope
    async def __call__(self, svc: Services, now: datetime) -> int:
        principal = Principal(self.scheduler_id, Role.SYSTEM, frozenset())
        ctx = RequestContext(principal, f"scheduler:{self.scheduler_id}:{now.isoformat()}")
        actor = ActorRef(ActorId(self.scheduler_id), Role.SYSTEM.value)
        async with svc.uow() as uow:
            due = await uow.platform_incidents.reminders_due(now, limit=self.batch)
        reminded = 0
        for item in due:
            async with svc.uow() as uow:
                incident = await uow.platform_incidents.get(item.country, item.incident_id)
                if incident is None:
                    continue
                due_at = incident.remind(now, actor)
                if due_at is None:
                    continue
                saved = await uow.platform_incidents.save(incident)
                if isinstance(saved, Failure):  # another scheduler reminded first
                    continue
                if not await uow.outbox.enqueue(reminder_job(incident, due_at, now=now), now=now):
                    continue  # already enqueued for this due instant: nothing new to record
                await record(
                    uow,
                    ctx,
                    country=incident.country,
                    action="platform_incident.update_reminder",
                    target_type="platform_incident",
                    target_id=incident.incident_id,
                    at=now,
                    after={"due_at": due_at.isoformat(), "case_id": incident.state.case_id},
                )
                await uow.commit()
                reminded += 1
        return reminded


async def platform_reminder_job(job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
    """The worker's handler for ``platform_incident.update_reminder``: one templated
    notification to the incident's opener, under the job's idempotency key."""
    payload = job.payload
    return await providers.notifications.notify(
        idempotency_key=job.provider_key,  # the job's key, or its replay's (D83)
        country=job.country,
        recipient_role=str(payload.get("recipient_role") or "L2"),
        recipient_id=str(payload.get("recipient_id") or ""),
        template=str(payload.get("template") or REMINDER_TEMPLATE),
    )
