"""Dead-letter mutations (L3, audited): ``deadLetterReplay`` and ``deadLetterDiscard``."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.integrations.dead_letters import (
    DiscardDeadLetter,
    ReplayDeadLetter,
    discard_dead_letter,
    replay_dead_letter,
)
from application.security.principal import Operation
from domain.orders import MAX_REASON_LENGTH
from interfaces.graphql.common import BigInt, check_text
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.integrations.types import OutboxJob
from interfaces.graphql.scope import Scope, guard


@strawberry.input(description="Put a dead-letter job back in the queue with a fresh attempt budget.")
class DeadLetterReplayInput:
    country_code: str
    job_id: BigInt


@strawberry.type
class DeadLetterReplaySuccess:
    job: OutboxJob = strawberry.field(description="The job, PENDING again (its error history kept).")


DeadLetterReplayResult: TypeAlias = Annotated[
    DeadLetterReplaySuccess | AnyError, strawberry.union("DeadLetterReplayResult")
]


@strawberry.input(description="Take a job out of the dead-letter queue for good (reason required).")
class DeadLetterDiscardInput:
    country_code: str
    job_id: BigInt
    reason: str = strawberry.field(
        description=f"Why, in words (required, at most {MAX_REASON_LENGTH} characters)."
    )


@strawberry.type
class DeadLetterDiscardSuccess:
    job: OutboxJob


DeadLetterDiscardResult: TypeAlias = Annotated[
    DeadLetterDiscardSuccess | AnyError, strawberry.union("DeadLetterDiscardResult")
]


async def dead_letter_replay(info: GraphQLInfo, input: DeadLetterReplayInput) -> DeadLetterReplayResult:
    target = DenialTarget("outbox_job", str(input.job_id))
    scope = await guard(info, input.country_code, Operation.DEAD_LETTER_REPLAY, target)
    if not isinstance(scope, Scope):
        return scope
    result = await replay_dead_letter(
        scope.services, scope.request, ReplayDeadLetter(scope.country, int(input.job_id))
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DeadLetterReplaySuccess(job=OutboxJob.from_domain(result.unwrap()))


async def dead_letter_discard(info: GraphQLInfo, input: DeadLetterDiscardInput) -> DeadLetterDiscardResult:
    target = DenialTarget("outbox_job", str(input.job_id))
    scope = await guard(info, input.country_code, Operation.DEAD_LETTER_DISCARD, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_text("reason", input.reason, MAX_REASON_LENGTH)
    if problem is not None:
        return invalid_input(problem)
    result = await discard_dead_letter(
        scope.services, scope.request, DiscardDeadLetter(scope.country, int(input.job_id), input.reason)
    )
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DeadLetterDiscardSuccess(job=OutboxJob.from_domain(result.unwrap()))


@strawberry.type
class IntegrationMutations:
    dead_letter_replay: DeadLetterReplayResult = strawberry.mutation(
        resolver=dead_letter_replay,
        description=(
            "Replay a dead-letter job (L3): PENDING again with a fresh attempt budget; a dispute whose"
            " execution failed goes back to EXECUTING. Audited."
        ),
    )
    dead_letter_discard: DeadLetterDiscardResult = strawberry.mutation(
        resolver=dead_letter_discard,
        description=(
            "Discard a dead-letter job for good (L3; reason required; audited). A payment (refund or"
            " payout) that did not die of a refusal is refused (PAYMENT_OUTCOME_UNKNOWN): replay it."
        ),
    )
