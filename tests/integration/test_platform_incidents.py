"""Platform incidents through the real use cases, on SQLite and PostgreSQL: a real timeline
(open, link orders and cases, updates, a reminder with racing schedulers, refunds through
outcomes, close) and the post-incident review's impact figures, exactly; the monthly report
over the same data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from returns.result import Failure, Result, Success
from sqlalchemy import func, select

from adapters.persistence.tables import audit_log, outbox_jobs
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.errors import CaseFollowsPlatformIncident
from application.cases.platform import (
    ActionItemInput,
    ClosePlatformIncident,
    OpenPlatformIncident,
    UpdatePlatformIncident,
    close_platform_incident,
    get_platform_incident,
    get_review,
    open_platform_incident,
    update_platform_incident,
)
from application.cases.platform_reminders import REMINDER_JOB_KIND, PlatformUpdateReminders
from application.cases.reports import CaseReportQuery, case_report, to_json, to_markdown
from application.cases.use_cases import (
    AcknowledgeCase,
    AssignCase,
    CloseCase,
    CustomerReplied,
    EscalateCase,
    MitigateCase,
    PostStatusUpdate,
    ResolveCase,
    WaitOnCustomer,
    acknowledge_case,
    assign_case,
    close_case,
    customer_replied,
    escalate_case,
    mitigate_case,
    post_status_update,
    resolve_case,
    wait_on_customer,
)
from application.context import Services
from application.errors import NotFound
from application.saga.executor import Providers, SagaRunner
from application.security.principal import Forbidden, Role
from domain.cases.case import Case, TimelineKind
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, Severity
from domain.cases.platform import (
    IllegalPlatformIncidentTransition,
    IncidentEntryKind,
    PlatformIncidentClosed,
    PlatformIncidentStatus,
)
from domain.cases.report import Month
from domain.disputes.codes import OutcomeCode
from domain.shared import DomainError, Money
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.case_builders import open_case, store
from tests.integration.scenario import (
    L1,
    L2,
    L3,
    MX,
    add_policy,
    ctx,
    decide,
    delivered_order,
    dispute_under_review,
)

T_FULL, PARTIAL_25 = 123_000, 25_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    services = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(services)
    return services


async def _count(svc: Services, statement: object) -> int:
    async with svc.uow() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        return int((await uow.session.execute(statement)).scalar_one())  # type: ignore[call-overload]


async def _refunds(svc: Services) -> tuple[str, str]:
    """o1 fully refunded, o2 partially (25 %), each through its dispute's outcome and saga."""
    runner = SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), worker_id="w1")
    full = await dispute_under_review(svc, "o1")
    await decide(svc, full, OutcomeCode.FULL_REFUND, key="k-o1")
    partial = await dispute_under_review(svc, "o2")
    await decide(svc, partial, OutcomeCode.PARTIAL_REFUND, key="k-o2", tier=2_500)
    await runner.drain()
    return full.id, partial.id


async def test_a_closed_incident_reviews_its_real_timeline_and_impact(
    svc: Services, clock: FixedClock
) -> None:
    start = clock.now()
    await _refunds(svc)
    await delivered_order(svc, "o3")
    late = open_case("case-late", order_id="o4", at=start)
    await store(svc.uow, late)  # type: ignore[arg-type]
    async with svc.uow() as uow:
        dispute_cases = [c for c in await uow.cases.for_order(MX, "o2") if c.state.kind is CaseKind.DISPUTE]
    assert len(dispute_cases) == 1  # every dispute has its case
    dispute_case_id = dispute_cases[0].case_id

    clock.advance(timedelta(minutes=1))
    opened = await open_platform_incident(
        svc,
        L2,
        OpenPlatformIncident(MX, Severity.SEV1, "Payments provider degraded", ("o1", "o3"), ("case-late",)),
    )
    assert isinstance(opened, Success), opened
    incident = opened.unwrap()
    assert incident.state.update_due_at == clock.now() + timedelta(minutes=30)  # SEV1: every 30 min
    async with svc.uow() as uow:
        case = await uow.cases.get(MX, incident.state.case_id)
        assert case is not None
        assert (case.state.kind, case.state.subject_ref) == (CaseKind.PLATFORM_INCIDENT, incident.incident_id)
        assert case.state.status is CaseStatus.ACKNOWLEDGED

    clock.advance(timedelta(minutes=10))
    updated = await update_platform_incident(
        svc,
        L2,
        UpdatePlatformIncident(
            MX, incident.incident_id, "Provider confirms elevated errors", case_ids=(dispute_case_id,)
        ),
    )
    assert isinstance(updated, Success), updated
    assert updated.unwrap().state.update_due_at == clock.now() + timedelta(minutes=30)

    # 40 minutes without an update: two schedulers tick at once; one reminder, one job, one audit entry
    clock.advance(timedelta(minutes=40))
    task = PlatformUpdateReminders()
    counts = await asyncio.gather(task(svc, clock.now()), task(svc, clock.now()))
    assert sorted(counts) == [0, 1]
    assert await task(svc, clock.now()) == 0
    jobs = select(func.count()).select_from(outbox_jobs).where(outbox_jobs.c.kind == REMINDER_JOB_KIND)
    assert await _count(svc, jobs) == 1
    audited = (
        select(func.count())
        .select_from(audit_log)
        .where(audit_log.c.action == "platform_incident.update_reminder")
    )
    assert await _count(svc, audited) == 1

    clock.advance(timedelta(minutes=5))
    mitigated = await update_platform_incident(
        svc,
        L2,
        UpdatePlatformIncident(
            MX, incident.incident_id, "Traffic moved to the backup provider", PlatformIncidentStatus.MITIGATED
        ),
    )
    assert isinstance(mitigated, Success), mitigated
    premature = await close_platform_incident(svc, L2, ClosePlatformIncident(MX, incident.incident_id, "x"))
    assert isinstance(premature, Failure) and isinstance(premature.failure(), Forbidden)  # L3 closes

    clock.advance(timedelta(minutes=30))
    closed = await close_platform_incident(
        svc,
        L3,
        ClosePlatformIncident(
            MX,
            incident.incident_id,
            "An expired TLS certificate at the provider's gateway",
            (
                ActionItemInput("Alert 14 days before certificates expire", "ops-lead-mx"),
                ActionItemInput("Fail over automatically | on 5xx bursts", "payments-team"),
            ),
        ),
    )
    assert isinstance(closed, Success), closed
    final, review = closed.unwrap()
    assert final.state.status is PlatformIncidentStatus.CLOSED
    assert review.orders_affected == ("o1", "o3", "o4", "o2")  # linked, then the linked cases' orders
    assert review.cases_affected == ("case-late", dispute_case_id)
    assert dict(review.cases_by_kind) == {"DISPUTE": 1, "ORDER_INCIDENT": 1}
    assert review.disputes == 2
    assert dict(review.refunded) == {"MXN": Money.of(T_FULL + PARTIAL_25, "MXN")}
    assert dict(review.credited) == {}
    markdown = review.markdown
    assert "- Orders affected: 4: `o1`, `o3`, `o4`, `o2`" in markdown
    assert "- Cases affected: 2 (DISPUTE 1, ORDER_INCIDENT 1)" in markdown
    assert "- Refunded through outcomes: 1480.00 MXN" in markdown
    assert "| FULL_REFUND | 1230.00 MXN | 0 |" in markdown
    assert "| PARTIAL_REFUND | 250.00 MXN | 0 |" in markdown
    assert "An expired TLS certificate at the provider's gateway" in markdown
    assert "| 2 | Fail over automatically \\| on 5xx bursts | payments-team |" in markdown
    assert "- Status updates: 2" in markdown
    for event in ("| OPENED |", "| UPDATE_REMINDER |", "| MITIGATED |", "| CLOSED |", "| NOTE |"):
        assert event in markdown  # the incident's and the linked cases' events, merged
    timeline = [line for line in markdown.splitlines() if line.startswith("| 20")]
    assert timeline == sorted(timeline, key=lambda line: line.split(" | ")[0])

    stored = await get_review(svc, L1, MX, incident.incident_id)
    assert isinstance(stored, Success)
    assert stored.unwrap().markdown == markdown
    assert dict(stored.unwrap().refunded) == {"MXN": Money.of(148_000, "MXN")}
    assert (stored.unwrap().orders_affected, stored.unwrap().cases_affected) == (4, 2)

    async with svc.uow() as uow:
        own = await uow.cases.get(MX, final.state.case_id)
        linked = await uow.cases.get(MX, "case-late")
    assert own is not None and own.state.status is CaseStatus.CLOSED
    assert [e.kind for e in own.state.timeline].count(TimelineKind.STATUS_UPDATE) == 2
    assert linked is not None and linked.state.timeline[-1].kind is TimelineKind.NOTE

    again = await update_platform_incident(svc, L2, UpdatePlatformIncident(MX, incident.incident_id, "late"))
    assert isinstance(again, Failure) and isinstance(again.failure(), PlatformIncidentClosed)
    read = await get_platform_incident(svc, L1, MX, incident.incident_id)
    assert isinstance(read, Success)
    kinds = [e.kind for e in read.unwrap().state.timeline]
    assert kinds.count(IncidentEntryKind.UPDATE_REMINDER) == 1
    assert kinds[-2:] == [IncidentEntryKind.RESOLVED, IncidentEntryKind.CLOSED]


async def test_bad_input_changes_nothing(svc: Services) -> None:
    missing = await open_platform_incident(
        svc, L2, OpenPlatformIncident(MX, Severity.SEV0, "Outage", ("nope",))
    )
    assert isinstance(missing, Failure) and missing.failure() == NotFound("order", "nope")
    blank = await open_platform_incident(svc, L2, OpenPlatformIncident(MX, Severity.SEV0, "  "))
    assert isinstance(blank, Failure) and blank.failure().code == "INVALID_INPUT"
    outside = await open_platform_incident(
        svc, ctx(Role.L2, countries=("CO",)), OpenPlatformIncident(MX, Severity.SEV0, "Outage")
    )
    assert isinstance(outside, Failure) and isinstance(outside.failure(), Forbidden)
    async with svc.uow() as uow:
        assert await uow.case_history.opened_between(MX, Month(2026, 1).start, Month(2027, 1).start) == []

    opened = (
        await open_platform_incident(svc, L2, OpenPlatformIncident(MX, Severity.SEV2, "Maps slow"))
    ).unwrap()
    early = await close_platform_incident(svc, L3, ClosePlatformIncident(MX, opened.incident_id, "cause"))
    assert isinstance(early, Failure) and isinstance(early.failure(), IllegalPlatformIncidentTransition)
    unknown = await get_review(svc, L1, MX, opened.incident_id)
    assert isinstance(unknown, Failure) and isinstance(unknown.failure(), NotFound)


async def test_the_monthly_report_counts_the_month_exactly(svc: Services, clock: FixedClock) -> None:
    full_id, _ = await _refunds(svc)  # two DISPUTE cases in March, 1480.00 MXN refunded
    before = open_case("case-feb", at=clock.now() - timedelta(days=40))  # February: not counted
    await store(svc.uow, before)  # type: ignore[arg-type]
    incident = (
        await open_platform_incident(svc, L2, OpenPlatformIncident(MX, Severity.SEV1, "Outage"))
    ).unwrap()
    report = (await case_report(svc, L3, CaseReportQuery(MX, Month(2026, 3)))).unwrap()
    assert report.cases == 3
    assert report.by_kind_severity[CaseKind.PLATFORM_INCIDENT][Severity.SEV1] == 1
    assert sum(report.by_kind_severity[CaseKind.DISPUTE].values()) == 2
    assert report.disputes == 2
    assert dict(report.money.refunded) == {"MXN": Money.of(148_000, "MXN")}
    assert report.acknowledge.count >= 1  # the platform incident's case is acknowledged at once
    data = to_json(report)
    assert data["refunded"] == [{"currency": "MXN", "minor": 148_000}]
    assert data["cases"] == 3
    assert "- Refunded: 1480.00 MXN" in to_markdown(report)
    assert incident.incident_id and full_id
    denied = await case_report(svc, L2, CaseReportQuery(MX, Month(2026, 3)))
    assert isinstance(denied, Failure) and isinstance(denied.failure(), Forbidden)
    empty = (await case_report(svc, L3, CaseReportQuery(MX, Month(2026, 4)))).unwrap()
    assert (empty.cases, empty.disputes, dict(empty.money.refunded)) == (0, 0, {})


async def _own_case(svc: Services, case_id: str) -> tuple[int, int, int, CaseStatus]:
    """The incident's own case as stored: version, timeline length, audit entries, status."""
    async with svc.uow() as uow:
        case = await uow.cases.get(MX, case_id)
    assert case is not None
    audited = await _count(svc, select(func.count()).select_from(audit_log))
    return case.state.version, len(case.state.timeline), audited, case.state.status


def _by_hand(
    case_id: str,
) -> list[tuple[str, Callable[[Services], Awaitable[Result[Case, DomainError]]]]]:
    """Every ordinary case command the platform incident's own flow owns, each by a role that may
    run it (L1 may mitigate and post updates, L2 may also resolve and close)."""
    return [
        ("resolve", lambda s: resolve_case(s, L2, ResolveCase(MX, case_id, "looks fine"))),
        ("close", lambda s: close_case(s, L2, CloseCase(MX, case_id))),
        ("mitigate by L1", lambda s: mitigate_case(s, L1, MitigateCase(MX, case_id, "meh"))),
        ("mitigate", lambda s: mitigate_case(s, L2, MitigateCase(MX, case_id, "failed over"))),
        ("wait", lambda s: wait_on_customer(s, L2, WaitOnCustomer(MX, case_id, "asked"))),
        ("replied", lambda s: customer_replied(s, L2, CustomerReplied(MX, case_id))),
        ("acknowledge", lambda s: acknowledge_case(s, L2, AcknowledgeCase(MX, case_id))),
        (
            "plain update (L1)",
            lambda s: post_status_update(s, L1, PostStatusUpdate(MX, case_id, "still down")),
        ),
        *(
            (
                f"update to {status.value}",
                lambda s, status=status: post_status_update(
                    s, L2, PostStatusUpdate(MX, case_id, "update", status)
                ),
            )
            for status in (
                CaseStatus.ACKNOWLEDGED,
                CaseStatus.MITIGATED,
                CaseStatus.WAITING_ON_CUSTOMER,
                CaseStatus.RESOLVED,
                CaseStatus.CLOSED,
            )
        ),
    ]


async def test_the_incident_s_own_case_moves_only_with_the_incident(svc: Services, clock: FixedClock) -> None:
    """D46: the ordinary status commands refuse a platform incident's own case before writing
    anything (CASE_FOLLOWS_PLATFORM_INCIDENT); assignment and escalation stay allowed; the
    incident still updates, mitigates, resolves, closes and writes its review."""
    incident = (
        await open_platform_incident(svc, L2, OpenPlatformIncident(MX, Severity.SEV1, "Payments down"))
    ).unwrap()
    case_id, incident_id = incident.state.case_id, incident.incident_id
    due = incident.state.update_due_at
    clock.advance(timedelta(minutes=5))
    before = await _own_case(svc, case_id)
    assert before[3] is CaseStatus.ACKNOWLEDGED

    for name, attempt in _by_hand(case_id):
        refused = await attempt(svc)
        assert refused == Failure(CaseFollowsPlatformIncident(case_id, incident_id)), name
        assert refused.failure().code == "CASE_FOLLOWS_PLATFORM_INCIDENT"
        assert incident_id in refused.failure().message
        assert await _own_case(svc, case_id) == before, name  # nothing saved, nothing audited
    async with svc.uow() as uow:
        case = await uow.cases.get(MX, case_id)
    assert case is not None and case.state.clocks[ClockKind.STATUS_UPDATE].due_at == due

    outside = await resolve_case(svc, L1, ResolveCase(MX, case_id, "not mine"))  # authorization first
    assert isinstance(outside, Failure) and isinstance(outside.failure(), Forbidden)

    assigned = await assign_case(svc, L2, AssignCase(MX, case_id, "l2-9"))
    assert isinstance(assigned, Success), assigned
    escalated = await escalate_case(svc, L2, EscalateCase(MX, case_id, "needs the ops lead"))
    assert isinstance(escalated, Success), escalated
    assert (escalated.unwrap().state.assignee, escalated.unwrap().state.status) == (
        None,
        CaseStatus.ACKNOWLEDGED,
    )

    updated = await update_platform_incident(
        svc, L2, UpdatePlatformIncident(MX, incident_id, "Investigating")
    )
    assert isinstance(updated, Success), updated
    clock.advance(timedelta(minutes=5))
    mitigated = await update_platform_incident(
        svc, L2, UpdatePlatformIncident(MX, incident_id, "Failed over", PlatformIncidentStatus.MITIGATED)
    )
    assert isinstance(mitigated, Success), mitigated
    resolved = await update_platform_incident(
        svc, L2, UpdatePlatformIncident(MX, incident_id, "Provider fixed", PlatformIncidentStatus.RESOLVED)
    )
    assert isinstance(resolved, Success), resolved
    assert (await _own_case(svc, case_id))[3] is CaseStatus.RESOLVED
    for name, attempt in _by_hand(case_id):  # a resolved incident's case is still the incident's
        assert await attempt(svc) == Failure(CaseFollowsPlatformIncident(case_id, incident_id)), name
    closed = await close_platform_incident(
        svc,
        L3,
        ClosePlatformIncident(MX, incident_id, "Provider outage", (ActionItemInput("Alerting", "ops"),)),
    )
    assert isinstance(closed, Success), closed
    assert closed.unwrap()[0].state.status is PlatformIncidentStatus.CLOSED
    assert (await _own_case(svc, case_id))[3] is CaseStatus.CLOSED
    review = await get_review(svc, L3, MX, incident_id)
    assert isinstance(review, Success) and "Provider outage" in review.unwrap().markdown
