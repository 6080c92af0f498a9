"""SLA policies as data: read and publish through the use cases, on SQLite and PostgreSQL.

Version 1 is the built-in default; L3 of the country publishes the next version, audited
with the previous and the new document; refusals change nothing. A case keeps the policy
version it opened with: publishing never moves the deadlines of open cases, while cases
opened afterwards run on the new targets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.sla_policies import (
    PublishSlaPolicy,
    ReadSlaPolicy,
    TargetInput,
    publish_sla_policy,
    read_sla_policy,
)
from application.cases.tickets import OpenDiagnosticsTicket, open_diagnostics_ticket
from application.cases.use_cases import (
    AcknowledgeCase,
    PostStatusUpdate,
    acknowledge_case,
    post_status_update,
)
from application.context import Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.security.principal import Forbidden, Role
from domain.audit import AuditEntry
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.cases.sla import Basis, SlaPolicy, Target, default_sla_policy
from domain.shared import CountryCode, InvalidInput
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, L2, L3, MX, ctx

CO = CountryCode("CO")
L3_MX_ONLY = ctx(Role.L3, "l3-mx", countries=("MX",))
AUDITOR = ctx(Role.AUDITOR)
BUYER = ctx(Role.BUYER, "buy_1")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    return Services(uow=uow_factory, clock=clock, ids=SequentialIds())


def minutes(severity: Severity, ack: int, mitigate: int, update: int) -> list[TargetInput]:
    return [
        TargetInput(severity, ClockKind.ACKNOWLEDGE, Basis.CONTINUOUS, seconds=ack * 60),
        TargetInput(severity, ClockKind.MITIGATE, Basis.CONTINUOUS, seconds=mitigate * 60),
        TargetInput(severity, ClockKind.STATUS_UPDATE, Basis.CONTINUOUS, seconds=update * 60),
    ]


def tighter_diagnostics() -> list[TargetInput]:
    """SEV1 10 / 60 / 20 min 24x7; SEV2 on 2 business hours and 3 business days; SEV3 daily."""
    return [
        *minutes(Severity.SEV1, 10, 60, 20),
        TargetInput(Severity.SEV2, ClockKind.ACKNOWLEDGE, Basis.BUSINESS, seconds=2 * 3600),
        TargetInput(Severity.SEV2, ClockKind.MITIGATE, Basis.BUSINESS, business_days=3),
        TargetInput(Severity.SEV2, ClockKind.STATUS_UPDATE, Basis.BUSINESS, seconds=2 * 3600),
        TargetInput(Severity.SEV3, ClockKind.ACKNOWLEDGE, Basis.BUSINESS, business_days=1),
        TargetInput(Severity.SEV3, ClockKind.MITIGATE, Basis.BUSINESS, business_days=5),
        TargetInput(Severity.SEV3, ClockKind.STATUS_UPDATE, Basis.BUSINESS, business_days=1),
    ]


def publish(
    targets: list[TargetInput], *, expected: int = 1, kind: CaseKind = CaseKind.DIAGNOSTICS
) -> PublishSlaPolicy:
    return PublishSlaPolicy(MX, kind, expected, targets)


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def current(
    svc: Services, country: CountryCode = MX, kind: CaseKind = CaseKind.DIAGNOSTICS
) -> SlaPolicy:
    async with svc.uow() as uow:
        return await uow.sla_policies.current(country, kind)


def ticket(severity: Severity = Severity.SEV1) -> OpenDiagnosticsTicket:
    return OpenDiagnosticsTicket(MX, "cus_8f14e45f", "ui", "The app freezes at checkout", severity)


# ------------------------------------------------------------------------ read


async def test_the_default_is_version_1_for_agents_and_auditors(svc: Services) -> None:
    for who in (L1, L2, L3, AUDITOR):
        view = (await read_sla_policy(svc, who, ReadSlaPolicy(MX, CaseKind.ORDER_INCIDENT))).unwrap()
        assert view.policy == default_sla_policy(MX, CaseKind.ORDER_INCIDENT)
        assert view.current_version == 1
    asked = (await read_sla_policy(svc, L1, ReadSlaPolicy(CO, CaseKind.DIAGNOSTICS, 1))).unwrap()
    assert asked.policy == default_sla_policy(CO, CaseKind.DIAGNOSTICS)
    assert set(asked.policy.targets) == {Severity.SEV1, Severity.SEV2, Severity.SEV3}

    missing = await read_sla_policy(svc, L1, ReadSlaPolicy(MX, CaseKind.DISPUTE, 2))
    assert missing == Failure(NotFound("sla_policy", "MX/DISPUTE/v2"))
    zero = await read_sla_policy(svc, L1, ReadSlaPolicy(MX, CaseKind.DISPUTE, 0))
    assert isinstance(zero, Failure) and isinstance(zero.failure(), InvalidInput)
    assert zero.failure().field == "version"


async def test_reading_is_refused_to_parties_and_other_countries_and_audited(svc: Services) -> None:
    refused = await read_sla_policy(svc, BUYER, ReadSlaPolicy(MX, CaseKind.DISPUTE))
    assert isinstance(refused, Failure) and isinstance(refused.failure(), Forbidden)
    elsewhere = await read_sla_policy(svc, L3_MX_ONLY, ReadSlaPolicy(CO, CaseKind.DISPUTE))
    assert isinstance(elsewhere, Failure) and isinstance(elsewhere.failure(), Forbidden)

    denials = await audit(svc, "access.denied")
    assert [(e.actor_id, e.country.value, e.target_type, e.target_id) for e in denials] == [
        ("buy_1", "MX", "sla_policy", "MX/DISPUTE"),
        ("l3-mx", "CO", "sla_policy", "CO/DISPUTE"),
    ]
    assert denials[0].after is not None and denials[0].after["operation"] == "sla_policy.read"


# ------------------------------------------------------------------------ publish


async def test_l3_publishes_version_2_audited_with_both_documents(svc: Services) -> None:
    published = (await publish_sla_policy(svc, L3, publish(tighter_diagnostics()))).unwrap()

    assert published.version == 2 and (published.country, published.case_kind) == (MX, CaseKind.DIAGNOSTICS)
    sev1 = published.targets[Severity.SEV1]
    assert sev1.acknowledge == Target.continuous(timedelta(minutes=10))
    assert sev1.mitigate == Target.continuous(timedelta(minutes=60))
    assert sev1.status_update == Target.continuous(timedelta(minutes=20))
    assert published.targets[Severity.SEV2].mitigate == Target.in_business_days(3)
    assert published.targets[Severity.SEV2].acknowledge == Target.business(timedelta(hours=2))
    assert await current(svc) == published

    view = (await read_sla_policy(svc, L1, ReadSlaPolicy(MX, CaseKind.DIAGNOSTICS))).unwrap()
    assert (view.policy, view.current_version) == (published, 2)
    old = (await read_sla_policy(svc, L1, ReadSlaPolicy(MX, CaseKind.DIAGNOSTICS, 1))).unwrap()
    assert (old.policy, old.current_version) == (default_sla_policy(MX, CaseKind.DIAGNOSTICS), 2)
    # other countries and kinds are untouched
    assert await current(svc, CO) == default_sla_policy(CO, CaseKind.DIAGNOSTICS)
    assert await current(svc, MX, CaseKind.DISPUTE) == default_sla_policy(MX, CaseKind.DISPUTE)

    (entry,) = await audit(svc, "sla_policy.published")
    assert (entry.actor_role, entry.country, entry.target_type, entry.target_id) == (
        "L3",
        MX,
        "sla_policy",
        "MX/DIAGNOSTICS",
    )
    assert entry.before == default_sla_policy(MX, CaseKind.DIAGNOSTICS).to_document()
    assert entry.after == published.to_document()
    assert SlaPolicy.from_document(entry.after).unwrap() == published

    third = [
        replace(t, seconds=300) if t.clock is ClockKind.ACKNOWLEDGE and t.seconds else t
        for t in tighter_diagnostics()
    ]
    again = (await publish_sla_policy(svc, L3, publish(third, expected=2))).unwrap()
    assert again.version == 3
    assert again.targets[Severity.SEV1].acknowledge == Target.continuous(timedelta(minutes=5))
    assert len(await audit(svc, "sla_policy.published")) == 2


async def test_an_incident_policy_covers_sev0_to_sev3(svc: Services) -> None:
    targets = [
        *minutes(Severity.SEV0, 5, 20, 10),
        *minutes(Severity.SEV1, 10, 45, 30),
        *minutes(Severity.SEV2, 30, 180, 120),
        *minutes(Severity.SEV3, 240, 2880, 1440),
    ]
    published = (await publish_sla_policy(svc, L3, publish(targets, kind=CaseKind.ORDER_INCIDENT))).unwrap()
    assert published.version == 2
    assert published.targets[Severity.SEV0].mitigate == Target.continuous(timedelta(minutes=20))
    assert await current(svc, MX, CaseKind.ORDER_INCIDENT) == published

    without_sev0 = targets[3:]
    refused = await publish_sla_policy(
        svc, L3, publish(without_sev0, expected=2, kind=CaseKind.ORDER_INCIDENT)
    )
    assert refused == Failure(
        InvalidInput("targets", "SEV0 has no target for ACKNOWLEDGE, MITIGATE, STATUS_UPDATE")
    )


async def test_l2_and_other_countries_are_refused_and_audited(svc: Services) -> None:
    by_l2 = await publish_sla_policy(svc, L2, publish(tighter_diagnostics()))
    assert isinstance(by_l2, Failure) and isinstance(by_l2.failure(), Forbidden)
    by_auditor = await publish_sla_policy(svc, AUDITOR, publish(tighter_diagnostics()))
    assert isinstance(by_auditor, Failure) and isinstance(by_auditor.failure(), Forbidden)
    other_country = PublishSlaPolicy(CO, CaseKind.DIAGNOSTICS, 1, tighter_diagnostics())
    by_mx_l3 = await publish_sla_policy(svc, L3_MX_ONLY, other_country)
    assert isinstance(by_mx_l3, Failure) and isinstance(by_mx_l3.failure(), Forbidden)

    assert await current(svc) == default_sla_policy(MX, CaseKind.DIAGNOSTICS)
    assert await current(svc, CO) == default_sla_policy(CO, CaseKind.DIAGNOSTICS)
    assert await audit(svc, "sla_policy.published") == []
    denials = await audit(svc, "access.denied")
    assert [(e.actor_role, e.country.value, e.target_id) for e in denials] == [
        ("L2", "MX", "MX/DIAGNOSTICS"),
        ("AUDITOR", "MX", "MX/DIAGNOSTICS"),
        ("L3", "CO", "CO/DIAGNOSTICS"),
    ]
    assert all(e.after is not None and e.after["operation"] == "sla_policy.manage" for e in denials)


def _swap(targets: list[TargetInput], index: int, **changes: object) -> list[TargetInput]:
    changed = list(targets)
    changed[index] = replace(changed[index], **changes)  # type: ignore[arg-type]
    return changed


@pytest.mark.parametrize(
    ("targets", "field"),
    [
        pytest.param(tighter_diagnostics()[:-1], "targets", id="a clock missing"),
        pytest.param(tighter_diagnostics()[3:], "targets", id="a severity missing"),
        pytest.param(
            [*minutes(Severity.SEV0, 5, 30, 15), *tighter_diagnostics()],
            "targets[0].severity",
            id="SEV0 ticket",
        ),
        pytest.param([*tighter_diagnostics(), tighter_diagnostics()[0]], "targets[9]", id="given twice"),
        pytest.param(_swap(tighter_diagnostics(), 0, seconds=0), "targets[0].seconds", id="zero"),
        pytest.param(_swap(tighter_diagnostics(), 1, seconds=-60), "targets[1].seconds", id="negative"),
        pytest.param(
            _swap(tighter_diagnostics(), 2, seconds=30 * 86_400 + 1), "targets[2].seconds", id="over 30 days"
        ),
        pytest.param(
            _swap(tighter_diagnostics(), 4, business_days=0), "targets[4].business_days", id="0 days"
        ),
        pytest.param(
            _swap(tighter_diagnostics(), 4, business_days=31), "targets[4].business_days", id="31 days"
        ),
        pytest.param(
            _swap(tighter_diagnostics(), 0, business_days=1, seconds=None),
            "targets[0].business_days",
            id="24x7 days",
        ),
        pytest.param(_swap(tighter_diagnostics(), 3, business_days=2), "targets[3]", id="both amounts"),
        pytest.param(_swap(tighter_diagnostics(), 3, seconds=None), "targets[3]", id="no amount"),
    ],
)
async def test_invalid_targets_are_refused_and_change_nothing(
    svc: Services, targets: list[TargetInput], field: str
) -> None:
    refused = await publish_sla_policy(svc, L3, publish(targets))

    assert isinstance(refused, Failure) and isinstance(refused.failure(), InvalidInput)
    assert refused.failure().field == field
    assert await current(svc) == default_sla_policy(MX, CaseKind.DIAGNOSTICS)
    assert await audit(svc, "sla_policy.published") == []


async def test_a_bad_expected_version_is_refused(svc: Services) -> None:
    refused = await publish_sla_policy(svc, L3, publish(tighter_diagnostics(), expected=0))
    assert isinstance(refused, Failure) and isinstance(refused.failure(), InvalidInput)
    assert refused.failure().field == "expected_version"


async def test_a_stale_expected_version_is_a_conflict(svc: Services) -> None:
    (await publish_sla_policy(svc, L3, publish(tighter_diagnostics()))).unwrap()
    v2 = await current(svc)

    stale = await publish_sla_policy(
        svc, L3, publish(minutes(Severity.SEV1, 1, 2, 3) + tighter_diagnostics()[3:])
    )
    assert stale == Failure(ConcurrencyConflict("sla_policy", "MX/DIAGNOSTICS", 1))
    ahead = await publish_sla_policy(svc, L3, publish(tighter_diagnostics(), expected=5))
    assert ahead == Failure(ConcurrencyConflict("sla_policy", "MX/DIAGNOSTICS", 5))
    assert await current(svc) == v2
    assert len(await audit(svc, "sla_policy.published")) == 1


# ------------------------------------------------------------------------ open cases keep their version


async def test_open_cases_keep_their_version_and_new_cases_use_the_new_one(
    svc: Services, clock: FixedClock
) -> None:
    opened_before = clock.now()
    before = (await open_diagnostics_ticket(svc, L1, ticket())).unwrap()
    assert before.state.policy_version == 1

    clock.advance(timedelta(minutes=1))
    (await publish_sla_policy(svc, L3, publish(tighter_diagnostics()))).unwrap()
    opened_after = clock.now()
    after = (await open_diagnostics_ticket(svc, L1, ticket())).unwrap()

    assert after.state.policy_version == 2
    # the default SEV1 ticket: 30 min to acknowledge, 4 h to mitigate, hourly updates; v2: 10 / 60 / 20 min
    assert before.state.clocks[ClockKind.ACKNOWLEDGE].deadline == opened_before + timedelta(minutes=30)
    assert after.state.clocks[ClockKind.ACKNOWLEDGE].deadline == opened_after + timedelta(minutes=10)
    assert after.state.clocks[ClockKind.MITIGATE].deadline == opened_after + timedelta(minutes=60)
    async with svc.uow() as uow:
        stored = await uow.cases.get(MX, before.case_id)
    assert stored is not None and stored.state.clocks == before.state.clocks  # publishing moved nothing

    # later commands use the version each case opened with: the status-update cadence
    clock.advance(timedelta(minutes=2))
    acked_at = clock.now()
    old = (await acknowledge_case(svc, L1, AcknowledgeCase(MX, before.case_id))).unwrap()
    new = (await acknowledge_case(svc, L1, AcknowledgeCase(MX, after.case_id))).unwrap()
    assert old.state.clocks[ClockKind.STATUS_UPDATE].deadline == acked_at + timedelta(minutes=60)
    assert new.state.clocks[ClockKind.STATUS_UPDATE].deadline == acked_at + timedelta(minutes=20)
    assert old.state.clocks[ClockKind.MITIGATE].deadline == opened_before + timedelta(hours=4)

    clock.advance(timedelta(minutes=5))
    posted_at = clock.now()
    old = (
        await post_status_update(svc, L1, PostStatusUpdate(MX, before.case_id, "Looking into it"))
    ).unwrap()
    new = (await post_status_update(svc, L1, PostStatusUpdate(MX, after.case_id, "Looking into it"))).unwrap()
    assert old.state.clocks[ClockKind.STATUS_UPDATE].deadline == posted_at + timedelta(minutes=60)
    assert new.state.clocks[ClockKind.STATUS_UPDATE].deadline == posted_at + timedelta(minutes=20)
