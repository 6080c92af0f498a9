"""Reading and publishing SLA policies: data per country and case kind, versioned (SPEC §2, §6, §10).

``read_sla_policy`` (``sla_policy.read``: L0-L3 and auditors) answers one version of a
country's policy for a case kind, the current one when no version is asked for, with the
number of the current version (what a publisher passes as ``expected_version``). Version 1
is always the built-in default (``default_sla_policy``, decisions D38 and D40).

``publish_sla_policy`` (``sla_policy.manage``: L3 of the country) stores a complete new
policy as version ``expected_version + 1``:

- every severity the kind works with is covered, and no other: ``SEV0``..``SEV3`` for order
  incidents, disputes and platform incidents, ``SEV1``..``SEV3`` for diagnostics tickets
  (there is no Sev-0 ticket); each severity has exactly the three clocks (acknowledge,
  mitigate, status update);
- each target is on one basis with exactly one amount: ``seconds`` (1 s .. 30 days) or, on
  the ``BUSINESS`` basis only, ``business_days`` (1..30). These publishing bounds are
  tighter than what a stored document may hold (a year, D38): a target of months is a typo;
- the new document is read back through ``SlaPolicy.from_document`` before it is stored.

A refused input is ``INVALID_INPUT`` naming the field (``targets[3].seconds``) and nothing
is written; another publisher who got there first (the current version is no longer
``expected_version``) is ``CONCURRENCY_CONFLICT``. The publication and its audit entry
``sla_policy.published`` (the previous and the new document) are one transaction.

New cases open under the current version; an open case keeps the version it opened with
(``CaseState.policy_version``, looked up with ``uow.sla_policies.version`` by every later
command, application/cases/use_cases.py ``sla_of``), so publishing never moves the
deadlines of cases already open.

Both use cases authorize first and record a refusal with ``record_denial``, whatever the
entry point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget, record_denial
from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.cases.sla import Basis, SlaPolicy
from domain.shared import CountryCode, InvalidInput

MAX_PUBLISHED_DURATION: Final = timedelta(days=30)
MAX_PUBLISHED_BUSINESS_DAYS: Final = 30
MAX_PUBLISHED_VERSION: Final = 1_000_000
POLICY_AGGREGATE: Final = "sla_policy"
PUBLISHED_ACTION: Final = "sla_policy.published"

DIAGNOSTICS_SEVERITIES: Final = (Severity.SEV1, Severity.SEV2, Severity.SEV3)


def severities_of(kind: CaseKind) -> tuple[Severity, ...]:
    """The severities a policy of this kind must cover, exactly."""
    return DIAGNOSTICS_SEVERITIES if kind is CaseKind.DIAGNOSTICS else tuple(Severity)


def policy_id(country: CountryCode, kind: CaseKind) -> str:
    return f"{country.value}/{kind.value}"


@dataclass(frozen=True, slots=True)
class ReadSlaPolicy:
    country: CountryCode
    kind: CaseKind
    version: int | None = None  # None: the current version


@dataclass(frozen=True, slots=True)
class SlaPolicyView:
    policy: SlaPolicy
    current_version: int  # the version new cases open under (pass it as ``expected_version``)


@dataclass(frozen=True, slots=True)
class TargetInput:
    """One clock's target for one severity, as a publisher gives it."""

    severity: Severity
    clock: ClockKind
    basis: Basis
    seconds: int | None = None
    business_days: int | None = None


@dataclass(frozen=True, slots=True)
class PublishSlaPolicy:
    country: CountryCode
    kind: CaseKind
    expected_version: int  # the current version the publisher read
    targets: Sequence[TargetInput]


ReadFailure = Forbidden | InvalidInput | NotFound
PublishFailure = Forbidden | InvalidInput | ConcurrencyConflict


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _target_problem(index: int, target: TargetInput) -> InvalidInput | None:
    path = f"targets[{index}]"
    if (target.seconds is None) == (target.business_days is None):
        return InvalidInput(path, "needs exactly one of seconds and business_days")
    if target.seconds is not None:
        limit = int(MAX_PUBLISHED_DURATION.total_seconds())
        if not _is_int(target.seconds) or not 0 < target.seconds <= limit:
            return InvalidInput(f"{path}.seconds", f"must be a whole number of seconds, 1..{limit} (30 days)")
        return None
    if target.basis is not Basis.BUSINESS:
        return InvalidInput(f"{path}.business_days", "business days need the BUSINESS basis")
    if not _is_int(target.business_days) or not (
        1 <= (target.business_days or 0) <= MAX_PUBLISHED_BUSINESS_DAYS
    ):
        return InvalidInput(
            f"{path}.business_days", f"must be a whole number 1..{MAX_PUBLISHED_BUSINESS_DAYS}"
        )
    return None


def policy_from_targets(
    country: CountryCode, kind: CaseKind, version: int, targets: Sequence[TargetInput]
) -> Result[SlaPolicy, InvalidInput]:
    """The complete policy the targets describe, or the first problem found (in order)."""
    required = severities_of(kind)
    by_severity: dict[Severity, dict[ClockKind, dict[str, Any]]] = {}
    for index, target in enumerate(targets):
        if target.severity not in required:
            return Failure(
                InvalidInput(
                    f"targets[{index}].severity",
                    f"{kind.value} policies cover {', '.join(s.value for s in required)} only",
                )
            )
        problem = _target_problem(index, target)
        if problem is not None:
            return Failure(problem)
        clocks = by_severity.setdefault(target.severity, {})
        if target.clock in clocks:
            return Failure(
                InvalidInput(
                    f"targets[{index}]", f"{target.severity.value} {target.clock.value} is given twice"
                )
            )
        document: dict[str, Any] = {"basis": target.basis.value}
        if target.seconds is not None:
            document["duration_seconds"] = target.seconds
        else:
            document["business_days"] = target.business_days
        clocks[target.clock] = document
    for severity in required:
        missing = [clock.value for clock in ClockKind if clock not in by_severity.get(severity, {})]
        if missing:
            return Failure(
                InvalidInput("targets", f"{severity.value} has no target for {', '.join(missing)}")
            )
    return SlaPolicy.from_document(
        {
            "country": country.value,
            "case_kind": kind.value,
            "version": version,
            "targets": {
                severity.value: {clock.value: by_severity[severity][clock] for clock in ClockKind}
                for severity in required
            },
        }
    )


async def read_sla_policy(
    svc: Services, ctx: RequestContext, query: ReadSlaPolicy
) -> Result[SlaPolicyView, ReadFailure]:
    allowed = authorize(ctx.principal, Operation.SLA_POLICY_READ, query.country)
    if isinstance(allowed, Failure):
        await record_denial(
            svc, ctx, allowed.failure(), DenialTarget("sla_policy", policy_id(query.country, query.kind))
        )
        return allowed
    if query.version is not None and not 1 <= query.version <= MAX_PUBLISHED_VERSION:
        return Failure(InvalidInput("version", f"must be 1..{MAX_PUBLISHED_VERSION}"))
    async with svc.uow() as uow:
        current = await uow.sla_policies.current(query.country, query.kind)
        if query.version is None or query.version == current.version:
            return Success(SlaPolicyView(current, current.version))
        found = await uow.sla_policies.version(query.country, query.kind, query.version)
    if found is None:
        return Failure(NotFound("sla_policy", f"{policy_id(query.country, query.kind)}/v{query.version}"))
    return Success(SlaPolicyView(found, current.version))


async def publish_sla_policy(
    svc: Services, ctx: RequestContext, cmd: PublishSlaPolicy
) -> Result[SlaPolicy, PublishFailure]:
    target_id = policy_id(cmd.country, cmd.kind)
    allowed = authorize(ctx.principal, Operation.SLA_POLICY_MANAGE, cmd.country)
    if isinstance(allowed, Failure):
        await record_denial(svc, ctx, allowed.failure(), DenialTarget("sla_policy", target_id))
        return allowed
    if not _is_int(cmd.expected_version) or not 1 <= cmd.expected_version < MAX_PUBLISHED_VERSION:
        return Failure(InvalidInput("expected_version", f"must be 1..{MAX_PUBLISHED_VERSION - 1}"))
    built = policy_from_targets(cmd.country, cmd.kind, cmd.expected_version + 1, cmd.targets)
    if isinstance(built, Failure):
        return built
    policy = built.unwrap()
    now = svc.clock.now()
    async with svc.uow() as uow:
        current = await uow.sla_policies.current(cmd.country, cmd.kind)
        if current.version != cmd.expected_version:
            return Failure(ConcurrencyConflict(POLICY_AGGREGATE, target_id, cmd.expected_version))
        published = await uow.sla_policies.publish(policy)
        if isinstance(published, Failure):
            return published
        await record(
            uow,
            ctx,
            country=cmd.country,
            action=PUBLISHED_ACTION,
            target_type=POLICY_AGGREGATE,
            target_id=target_id,
            at=now,
            before=current.to_document(),
            after=policy.to_document(),
        )
        await uow.commit()
    return Success(policy)
