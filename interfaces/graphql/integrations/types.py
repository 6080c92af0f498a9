"""GraphQL types of the integration hub, built from outbox ``Job``s and ``ProviderStatus``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from application.integrations.dead_letters import ProviderStatus as DomainProviderStatus
from application.ports.outbox import Job, JobError, JobStatus
from domain.integrations import CircuitState as DomainCircuitState
from interfaces.graphql.common import BigInt


@strawberry.enum(description="Where an outbox job is in its life.")
class OutboxJobStatus(Enum):
    PENDING = JobStatus.PENDING.value
    RUNNING = JobStatus.RUNNING.value
    WAITING = JobStatus.WAITING.value
    DONE = JobStatus.DONE.value
    DEAD = JobStatus.DEAD.value
    DISCARDED = JobStatus.DISCARDED.value


@strawberry.enum(description="A provider's circuit breaker in one country.")
class CircuitState(Enum):
    CLOSED = DomainCircuitState.CLOSED.value
    OPEN = DomainCircuitState.OPEN.value
    HALF_OPEN = DomainCircuitState.HALF_OPEN.value


@strawberry.type(
    description="One entry of a job's call history: a failed attempt, or (kind PROVIDER_ACCEPTED) a call"
    " the provider accepted, its confirmation to follow (D99)."
)
class JobFailure:
    at: datetime
    attempt: int
    kind: str = strawberry.field(
        description="TRANSIENT, PROVIDER_TRANSIENT, PROVIDER_PERMANENT, PROVIDER_DECLINED, PROVIDER_ACCEPTED,"
        " EXECUTION_PLAN_DRIFT..."
    )
    detail: str

    @staticmethod
    def from_domain(error: JobError) -> JobFailure:
        return JobFailure(at=error.at, attempt=error.attempt, kind=error.kind, detail=error.detail)


@strawberry.type(description="An outbox job (a saga step or a provider call) and its error history.")
class OutboxJob:
    id: BigInt
    country_code: str
    kind: str
    provider: str
    reference: str = strawberry.field(description='What it belongs to, e.g. "dispute:dsp_1".')
    idempotency_key: str
    provider_idempotency_key: str = strawberry.field(
        description="The key its provider is called with: idempotencyKey, or after an L3 replay of "
        'a permanent refusal that proves the key moved nothing a fresh one, "<idempotencyKey>#r<n>"'
        " (ledger postings keep idempotencyKey)."
    )
    status: OutboxJobStatus
    attempts: int
    max_attempts: int
    available_at: datetime
    created_at: datetime
    dispute_id: str | None = strawberry.field(
        description="The dispute the job works for: a saga step's, or a refund re-issue's."
    )
    step: str | None = strawberry.field(description="The saga step's name, for dispute steps.")
    errors: list[JobFailure]

    @staticmethod
    def from_domain(job: Job) -> OutboxJob:
        # a saga step's dispute, or the dispute a refund re-issue is for (D136)
        dispute_id = job.payload.get("dispute_id", job.payload.get("for_dispute"))
        step = job.payload.get("step")
        return OutboxJob(
            id=BigInt(job.id),
            country_code=job.country.value,
            kind=job.kind,
            provider=job.provider,
            reference=job.reference,
            idempotency_key=job.idempotency_key,
            provider_idempotency_key=job.provider_key,
            status=OutboxJobStatus(job.status.value),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            available_at=job.available_at,
            created_at=job.created_at,
            dispute_id=None if dispute_id is None else str(dispute_id),
            step=None if step is None else str(step),
            errors=[JobFailure.from_domain(error) for error in job.errors],
        )


@strawberry.type(description="Live jobs of one provider in one country, by status.")
class QueueDepth:
    pending: int
    running: int
    waiting: int = strawberry.field(description="Accepted by the provider; its confirmation is awaited.")
    dead: int = strawberry.field(description="In the dead-letter queue.")


@strawberry.type(description="One provider in one country: its circuit breaker and its queue.")
class ProviderStatus:
    provider: str
    circuit: CircuitState
    consecutive_failures: int
    opened_at: datetime | None
    reopens_at: datetime | None = strawberry.field(description="OPEN only: when one trial call may go out.")
    queue: QueueDepth

    @staticmethod
    def from_domain(status: DomainProviderStatus) -> ProviderStatus:
        return ProviderStatus(
            provider=status.provider,
            circuit=CircuitState(status.state.value),
            consecutive_failures=status.circuit.consecutive_failures,
            opened_at=status.circuit.opened_at,
            reopens_at=status.reopens_at,
            queue=QueueDepth(
                pending=status.jobs(JobStatus.PENDING),
                running=status.jobs(JobStatus.RUNNING),
                waiting=status.jobs(JobStatus.WAITING),
                dead=status.jobs(JobStatus.DEAD),
            ),
        )
