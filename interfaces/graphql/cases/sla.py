"""SLA policies over GraphQL: the query ``slaPolicy`` (L0-L3, AUDITOR) and the mutation
``slaPolicyPublish`` (L3 of the country).

A policy is answered as its version, the current version of its country and kind (what
``expectedVersion`` must be to publish the next one) and one target per severity and
clock: the basis, exactly one of ``seconds`` and ``businessDays``, and a description for
people. Publishing takes the complete list of targets (application/cases/sla_policies.py
checks it; a refused list is an ``InvalidInputError`` naming ``targets[i].field`` and
nothing is written; a stale ``expectedVersion`` is a ``ConflictError``). Open cases keep
the version they opened with.
"""

from __future__ import annotations

from typing import Annotated, Final, TypeAlias

import strawberry
from returns.result import Failure

import interfaces.graphql.cases.types  # noqa: F401  (registers CaseKind, Severity, ClockKind, SlaBasis)
from application.audit.denials import DenialTarget
from application.cases.sla_policies import (
    PublishSlaPolicy,
    ReadSlaPolicy,
    TargetInput,
    publish_sla_policy,
    read_sla_policy,
)
from application.errors import NotFound
from application.security.principal import Forbidden, Operation
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.cases.sla import Basis, SlaPolicy
from domain.shared import InvalidInput
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    AnyError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    forbidden,
    invalid_field,
    invalid_input,
    not_found,
    to_error,
)
from interfaces.graphql.orders.queries import CountryArgument
from interfaces.graphql.scope import Scope, guard

MAX_TARGETS: Final = 4 * 3 * 2  # every severity and clock, with room for a client's mistakes


@strawberry.type(name="SlaPolicyTarget", description="How long one clock may run for one severity.")
class SlaPolicyTargetType:
    severity: Severity
    clock: ClockKind
    basis: Basis
    seconds: int | None = strawberry.field(
        description="An amount of time: 24x7 (CONTINUOUS) or open hours (BUSINESS); null with businessDays."
    )
    business_days: int | None = strawberry.field(
        description="Due at the close of the n-th business day after the start (BUSINESS only); "
        "null with seconds."
    )
    description: str = strawberry.field(description='For people: "15 min, 24x7", "next business day"...')


@strawberry.type(name="SlaPolicy", description="One version of a country's SLA policy for a case kind.")
class SlaPolicyType:
    country_code: str
    kind: CaseKind
    version: int = strawberry.field(description="1 is the built-in default (SPEC §6 and §10).")
    current_version: int = strawberry.field(
        description="The version new cases open under: pass it as expectedVersion to publish the next."
    )
    targets: list[SlaPolicyTargetType] = strawberry.field(description="By severity, then clock.")

    @staticmethod
    def from_domain(policy: SlaPolicy, current_version: int) -> SlaPolicyType:
        targets: list[SlaPolicyTargetType] = []
        for severity, by_clock in policy.targets.items():
            for clock in ClockKind:
                target = by_clock.for_clock(clock)
                targets.append(
                    SlaPolicyTargetType(
                        severity=severity,
                        clock=clock,
                        basis=target.basis,
                        seconds=None if target.duration is None else int(target.duration.total_seconds()),
                        business_days=target.business_days,
                        description=target.describe(),
                    )
                )
        return SlaPolicyType(
            country_code=policy.country.value,
            kind=policy.case_kind,
            version=policy.version,
            current_version=current_version,
            targets=targets,
        )


SlaPolicyResult: TypeAlias = Annotated[
    SlaPolicyType | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("SlaPolicyResult"),
]


def _read_error(
    error: Forbidden | InvalidInput | NotFound,
) -> ForbiddenError | InvalidInputError | NotFoundError:
    """The read's failure (a refusal there is already audited by the use case)."""
    match error:
        case Forbidden():
            return forbidden(error)
        case NotFound():
            return not_found(error.kind, error.id)
        case InvalidInput():
            return invalid_input(error)


async def resolve_sla_policy(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    kind: CaseKind,
    version: Annotated[
        int | None, strawberry.argument(description="A published version; the current one when absent.")
    ] = None,
) -> SlaPolicyResult:
    scope = await guard(info, country_code, Operation.SLA_POLICY_READ, DenialTarget("query", "slaPolicy"))
    if not isinstance(scope, Scope):
        return scope
    found = await read_sla_policy(scope.services, scope.request, ReadSlaPolicy(scope.country, kind, version))
    if isinstance(found, Failure):
        return _read_error(found.failure())
    view = found.unwrap()
    return SlaPolicyType.from_domain(view.policy, view.current_version)


@strawberry.input(name="SlaPolicyTargetInput", description="One clock's target for one severity.")
class SlaPolicyTargetInput:
    severity: Severity
    clock: ClockKind
    basis: Basis
    seconds: int | None = strawberry.field(default=None, description="1 s to 30 days.")
    business_days: int | None = strawberry.field(default=None, description="1 to 30, BUSINESS basis only.")


@strawberry.input(
    description="Publish the next version of a country's SLA policy for a case kind: every severity "
    "of the kind (SEV0-SEV3; SEV1-SEV3 for DIAGNOSTICS) with its three clocks. New cases use it; "
    "open cases keep the version they opened with."
)
class SlaPolicyPublishInput:
    country_code: str
    kind: CaseKind
    expected_version: int = strawberry.field(description="The current version, as read with slaPolicy.")
    targets: list[SlaPolicyTargetInput]


@strawberry.type(description="The version just published (now the current one).")
class SlaPolicyPublishSuccess:
    policy: SlaPolicyType


SlaPolicyPublishResult: TypeAlias = Annotated[
    SlaPolicyPublishSuccess | AnyError, strawberry.union("SlaPolicyPublishResult")
]


async def sla_policy_publish(info: GraphQLInfo, input: SlaPolicyPublishInput) -> SlaPolicyPublishResult:
    target = DenialTarget("sla_policy", f"{input.country_code[:16]}/{input.kind.value}")
    scope = await guard(info, input.country_code, Operation.SLA_POLICY_MANAGE, target)
    if not isinstance(scope, Scope):
        return scope
    if len(input.targets) > MAX_TARGETS:
        return invalid_field("targets", f"at most {MAX_TARGETS} targets")
    command = PublishSlaPolicy(
        scope.country,
        input.kind,
        input.expected_version,
        tuple(
            TargetInput(t.severity, t.clock, t.basis, seconds=t.seconds, business_days=t.business_days)
            for t in input.targets
        ),
    )
    published = await publish_sla_policy(scope.services, scope.request, command)
    if isinstance(published, Failure):  # a refusal there is already audited by the use case
        return to_error(published.failure())
    policy = published.unwrap()
    return SlaPolicyPublishSuccess(policy=SlaPolicyType.from_domain(policy, policy.version))


@strawberry.type
class SlaPolicyQueries:
    sla_policy: SlaPolicyResult = strawberry.field(
        resolver=resolve_sla_policy,
        description="A country's SLA policy for a case kind: the current version or an older one.",
    )


@strawberry.type
class SlaPolicyMutations:
    sla_policy_publish: SlaPolicyPublishResult = strawberry.mutation(
        resolver=sla_policy_publish,
        description="Publish the next version of a country's SLA policy for a case kind (L3).",
    )
