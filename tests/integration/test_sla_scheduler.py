"""The SLA scheduler on SQLite and PostgreSQL: every due clock breaches exactly once (one
timeline breach, one escalation, one audit entry, one metric), with two schedulers racing,
after a scheduler is SIGKILLed mid-tick, and the due-clocks query stays an index range scan
among 100,000 open cases."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.cases import due_clocks_query
from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.tables import audit_log, case_timeline
from adapters.persistence.unit_of_work import unit_of_work_factory
from application.cases.scheduler import (
    BREACH_ACTION,
    SchedulerTask,
    SlaBreaches,
    TickReport,
    run_scheduler,
    run_tick,
)
from application.cases.use_cases import AcknowledgeCase, acknowledge_case
from application.context import RequestContext, Services
from application.integrations.monitoring import refresh_queue_gauges
from application.ports.cases import DueClock
from application.security.principal import Principal, Role
from application.security.scope import ALL, current_scope, scoped_to
from domain.cases.case import ClockState, TimelineKind
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, Severity, Tier
from domain.cases.sla import default_sla_policy
from tests.fakes.calendars import fixed_calendar
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.case_builders import AGENT, CO, MX, T0, UowFactory, open_case, store
from tests.integration.crash_scheduler import run_killed

NOW = T0 + timedelta(minutes=30)  # SEV1 acknowledge (10 min) is due, mitigate (60 min) is not


def services(
    uow_factory: UowFactory, metrics: RecordingMetrics | None = None, now: datetime = NOW
) -> Services:
    return Services(
        uow=uow_factory, clock=FixedClock(now), ids=SequentialIds(), metrics=metrics or RecordingMetrics()
    )


async def seed(uow_factory: UowFactory, n: int) -> list[str]:
    """``n`` SEV1 cases (MX and CO alternately) whose acknowledge clock is due at NOW."""
    cases = [open_case(f"c{i:03d}", country=MX if i % 2 else CO) for i in range(n)]
    await store(uow_factory, *cases)
    return [case.case_id for case in cases]


async def breach_counts(engine: AsyncEngine) -> tuple[Counter[str], Counter[str], int]:
    """(SLA_BREACHED entries per case, ESCALATED entries per case, audit entries of breaches)."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(case_timeline.c.case_id, case_timeline.c.kind).where(
                    case_timeline.c.kind.in_(["SLA_BREACHED", "ESCALATED"])
                )
            )
        ).all()
        audits = await connection.scalar(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == BREACH_ACTION)
        )
    breached = Counter(str(row.case_id) for row in rows if row.kind == "SLA_BREACHED")
    escalated = Counter(str(row.case_id) for row in rows if row.kind == "ESCALATED")
    return breached, escalated, int(audits or 0)


async def test_a_tick_breaches_each_due_clock_once_escalates_audits_and_counts(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    ids = await seed(uow_factory, 4)
    top = open_case("top", tier=Tier.L3, severity=Severity.SEV0)  # 5 and 30 min: both due, no tier above
    acknowledged = open_case("ack")
    acknowledged.acknowledge(
        T0 + timedelta(minutes=1),
        AGENT,
        fixed_calendar("MX"),
        default_sla_policy(MX, CaseKind.ORDER_INCIDENT),
    )
    await store(uow_factory, top, acknowledged)
    metrics = RecordingMetrics()
    svc = services(uow_factory, metrics)

    report = await run_tick(svc, [SlaBreaches(batch=2)])  # several reads in one tick
    assert report.done == {"0:SlaBreaches": 6} and report.failed == []
    assert await run_tick(svc, [SlaBreaches()]) == type(report)(NOW, {"0:SlaBreaches": 0}, [])

    breached, escalated, audits = await breach_counts(engine)
    assert breached == Counter({**dict.fromkeys(ids, 1), "top": 2})
    assert escalated == Counter(dict.fromkeys(ids, 1))  # L1 -> L2; "top" stays at L3
    assert audits == 6
    assert metrics.sla_breaches == Counter(
        {
            ("MX", "SEV1", "ACKNOWLEDGE"): 2,
            ("CO", "SEV1", "ACKNOWLEDGE"): 2,
            ("MX", "SEV0", "ACKNOWLEDGE"): 1,
            ("MX", "SEV0", "MITIGATE"): 1,
        }
    )
    async with uow_factory() as uow:
        case = await uow.cases.get(CO, ids[0])
        assert case is not None
        state = case.state
        assert state.tier is Tier.L2 and state.breaches == 1 and state.assignee is None
        assert state.clocks[ClockKind.ACKNOWLEDGE].state is ClockState.BREACHED
        assert state.clocks[ClockKind.ACKNOWLEDGE].breached_at == NOW
        assert [e.kind for e in state.timeline] == [
            TimelineKind.OPENED,
            TimelineKind.SLA_BREACHED,
            TimelineKind.ESCALATED,
        ]
        assert {e.actor.role for e in state.timeline[1:]} == {"SYSTEM"}
        untouched = await uow.cases.get(MX, "ack")
        assert untouched is not None and untouched.state.breaches == 0
        assert await uow.cases.due_clocks(NOW, limit=100) == []
        entries = (
            await uow.session.execute(
                select(audit_log.c.actor_id, audit_log.c.actor_role, audit_log.c.after_state).where(
                    audit_log.c.target_id == ids[0]
                )
            )
        ).all()
    assert [(row.actor_id, row.actor_role) for row in entries] == [("scheduler", "SYSTEM")]
    assert entries[0].after_state["escalated_to"] == "L2" and entries[0].after_state["clock"] == "ACKNOWLEDGE"

    later = services(uow_factory, metrics, now=T0 + timedelta(minutes=61))
    # every MITIGATE but top's (already breached), and "ack"'s status-update clock (due T0+31m)
    assert (await run_tick(later, [SlaBreaches()])).done == {"0:SlaBreaches": 6}
    _, escalated, audits = await breach_counts(engine)
    assert audits == 12 and escalated[ids[0]] == 2 and escalated["ack"] == 2  # L1 -> L2 -> L3


@dataclass(frozen=True, slots=True)
class FailingFor(SlaBreaches):
    """Recording the breach of the named cases always fails (a case at its timeline cap, a row
    that no longer loads)."""

    failing: frozenset[str] = frozenset()
    attempts: Counter[str] = field(default_factory=Counter)

    async def breach(self, svc: Services, due: DueClock, now: datetime) -> bool:
        self.attempts[due.case_id] += 1
        if due.case_id in self.failing:
            raise RuntimeError(f"case {due.case_id} cannot be saved")
        return await SlaBreaches.breach(self, svc, due, now)


async def test_clocks_that_keep_failing_at_the_head_do_not_hold_back_the_others(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    """D107: a whole batch of clocks that always fail used to end the tick (no progress), every
    tick, so the clocks behind them were never breached."""
    head = [open_case(f"h{i}", at=T0 - timedelta(minutes=5)) for i in range(3)]  # due first
    await store(uow_factory, *head)
    behind = await seed(uow_factory, 4)
    task = FailingFor(batch=2, failing=frozenset(case.case_id for case in head))

    report = await run_tick(services(uow_factory), [task])

    assert report.done == {"0:FailingFor": 4} and report.failed == []
    breached, _, audits = await breach_counts(engine)
    assert breached == Counter(dict.fromkeys(behind, 1)) and audits == 4
    assert all(task.attempts[case.case_id] == 1 for case in head)  # tried once a tick, then skipped
    async with uow_factory() as uow:
        still_due = await uow.cases.due_clocks(NOW, limit=100)
    assert sorted(d.case_id for d in still_due) == ["h0", "h1", "h2"]  # left for the next tick


async def test_two_schedulers_racing_record_each_breach_exactly_once(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    ids = await seed(uow_factory, 30)
    other_engine = create_engine(app_url)  # a second scheduler: its own engine and pool
    try:
        metrics = RecordingMetrics()
        first = services(uow_factory, metrics)
        second = services(unit_of_work_factory(create_session_factory(other_engine)), metrics)
        reports = await asyncio.gather(
            run_tick(first, [SlaBreaches(batch=7)]), run_tick(second, [SlaBreaches(batch=7)])
        )
    finally:
        await other_engine.dispose()
    assert sum(report.done["0:SlaBreaches"] for report in reports) == 30
    assert all(report.failed == [] for report in reports)
    breached, escalated, audits = await breach_counts(engine)
    assert breached == Counter(dict.fromkeys(ids, 1))
    assert escalated == Counter(dict.fromkeys(ids, 1))
    assert audits == 30
    assert sum(metrics.sla_breaches.values()) == 30
    async with uow_factory() as uow:
        for case_id in ids:
            case = await uow.cases.get(MX if int(case_id[1:]) % 2 else CO, case_id)
            assert case is not None and case.state.tier is Tier.L2 and case.state.version == 2


async def test_a_scheduler_killed_mid_tick_leaves_no_half_breach_and_the_next_tick_records_it_once(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    ids = await seed(uow_factory, 3)
    assert await run_killed(app_url, NOW, "--crash-at-breach", "2") == -signal.SIGKILL
    breached, _, audits = await breach_counts(engine)
    assert sum(breached.values()) == 1 and audits == 1  # the first committed; the second rolled back
    async with uow_factory() as uow:
        assert len(await uow.cases.due_clocks(NOW, limit=100)) == 2

    svc = services(uow_factory)
    assert (await run_tick(svc, [SlaBreaches()])).done == {"0:SlaBreaches": 2}
    assert (await run_tick(svc, [SlaBreaches()])).done == {"0:SlaBreaches": 0}
    breached, escalated, audits = await breach_counts(engine)
    assert breached == Counter(dict.fromkeys(ids, 1)) and escalated == Counter(dict.fromkeys(ids, 1))
    assert audits == 3


async def test_extra_tasks_run_in_the_same_tick_and_a_failing_one_does_not_stop_the_others(
    uow_factory: UowFactory,
) -> None:
    await seed(uow_factory, 1)
    seen: list[tuple[object, datetime]] = []

    async def reminder(svc: Services, now: datetime) -> int:
        seen.append((current_scope(), now))
        return 3

    async def broken(svc: Services, now: datetime) -> int:
        raise RuntimeError("boom")

    tasks: list[SchedulerTask] = [broken, SlaBreaches(), reminder]
    report = await run_tick(services(uow_factory), tasks)
    assert report.done == {"1:SlaBreaches": 1, "2:reminder": 3}
    assert report.failed == ["0:broken"]
    assert seen == [(ALL, NOW)]

    stop = asyncio.Event()
    once = await run_scheduler(services(uow_factory), [reminder], stop, interval=60, once=True)
    assert [r.done for r in once] == [{"0:reminder": 3}]


async def test_among_100000_open_cases_the_due_clocks_are_an_index_range_scan(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    due_ids = await seed(uow_factory, 10)
    async with engine.begin() as connection:  # bulk, server side: 100,000 cases, 200,000 running clocks
        for statement in BULK[backend]:
            await connection.execute(
                text(statement), {"base": BULK_BASE if backend == "postgresql" else BULK_BASE_SQLITE}
            )
        await connection.execute(text("ANALYZE"))
        total = await connection.scalar(text("SELECT count(*) FROM case_clocks WHERE due_at IS NOT NULL"))
    assert total == 200_000 + 20

    async with uow_factory() as uow:
        connection = await uow.session.connection()
        compiled = due_clocks_query(NOW, limit=100, scope=ALL).compile(dialect=connection.dialect)
        params = compiled.construct_params()
        positional = tuple(params[name] for name in compiled.positiontup or ())
        if backend == "postgresql":
            plan = "\n".join(
                str(row[0])
                for row in await connection.exec_driver_sql("EXPLAIN " + compiled.string, positional)
            )
            assert "Index Scan using ix_case_clocks_due_at on case_clocks" in plan, plan
            assert "Seq Scan" not in plan and "Sort" not in plan, plan
        else:
            sqlite_params = tuple(
                p.replace(tzinfo=None) if isinstance(p, datetime) else p for p in positional
            )
            plan = "\n".join(
                str(row[-1])
                for row in await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + compiled.string, sqlite_params
                )
            )
            assert "USING INDEX ix_case_clocks_due_at" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort: the index is in deadline order
        due = await uow.cases.due_clocks(NOW, limit=100)
    assert sorted(d.case_id for d in due) == sorted(due_ids)

    metrics = RecordingMetrics()
    assert (await run_tick(services(uow_factory, metrics), [SlaBreaches()])).done == {"0:SlaBreaches": 10}
    assert sum(metrics.sla_breaches.values()) == 10


BULK_BASE = T0 + timedelta(days=2)
BULK_BASE_SQLITE = BULK_BASE.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
TARGET = '{"basis": "CONTINUOUS", "duration_seconds": 1800}'
BULK = {
    "postgresql": [
        """
        INSERT INTO cases (country_code, id, kind, severity, tier, status, title, opened_at, opened_by_id,
                           opened_by_role, policy_version, order_id, incident_type, breaches, next_deadline,
                           updated_at, version)
        SELECT CASE WHEN g % 3 = 0 THEN 'CO' ELSE 'MX' END, 'bulk-' || g,
               'ORDER_INCIDENT', 'SEV2', 'L1', 'NEW',
               'bulk', CAST(:base AS timestamptz), 'agent-1', 'L1', 1, 'order-' || g, 'LATE', 0,
               CAST(:base AS timestamptz) + g * interval '1 second', CAST(:base AS timestamptz), 1
        FROM generate_series(1, 100000) AS g
        """,
        f"""
        INSERT INTO case_clocks (country_code, case_id, clock, state, target, started_at, deadline, due_at)
        SELECT c.country_code, c.id, k.clock, 'RUNNING', '{TARGET}'::jsonb, CAST(:base AS timestamptz),
               c.next_deadline + k.extra, c.next_deadline + k.extra
        FROM cases c
        CROSS JOIN (VALUES ('ACKNOWLEDGE', interval '0'), ('MITIGATE', interval '1 hour')) AS k(clock, extra)
        WHERE c.id LIKE 'bulk-%'
        """,
    ],
    "sqlite": [
        """
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100000)
        INSERT INTO cases (country_code, id, kind, severity, tier, status, title, opened_at, opened_by_id,
                           opened_by_role, policy_version, order_id, incident_type, breaches, next_deadline,
                           updated_at, version)
        SELECT CASE WHEN n % 3 = 0 THEN 'CO' ELSE 'MX' END, 'bulk-' || n,
               'ORDER_INCIDENT', 'SEV2', 'L1', 'NEW',
               'bulk', :base, 'agent-1', 'L1', 1, 'order-' || n, 'LATE', 0,
               datetime(:base, '+' || n || ' seconds'), :base, 1
        FROM g
        """,
        f"""
        INSERT INTO case_clocks (country_code, case_id, clock, state, target, started_at, deadline, due_at)
        SELECT c.country_code, c.id, k.clock, 'RUNNING', '{TARGET}', :base,
               datetime(c.next_deadline, k.extra), datetime(c.next_deadline, k.extra)
        FROM cases c
        CROSS JOIN (SELECT 'ACKNOWLEDGE' AS clock, '+0 seconds' AS extra
                    UNION ALL SELECT 'MITIGATE', '+3600 seconds') AS k
        WHERE c.id LIKE 'bulk-%'
        """,
    ],
}


async def test_a_clock_stopped_after_its_deadline_before_any_tick_still_breaches_once(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    """D85: an agent acknowledges 20 minutes late, between two ticks: the command records
    the breach (timeline, escalation, audit entry, metric) as the tick would have, and the
    next tick finds nothing left to do."""
    await store(uow_factory, open_case("late"))
    metrics = RecordingMetrics()
    svc = services(uow_factory, metrics)  # NOW: the acknowledge target (10 min) passed 20 min ago
    agent = RequestContext(Principal("agent-1", Role.L1, frozenset({MX})), "req-late-ack")

    acknowledged = await acknowledge_case(svc, agent, AcknowledgeCase(MX, "late"))

    case = acknowledged.unwrap()
    state = case.state
    assert state.status is CaseStatus.ACKNOWLEDGED and state.tier is Tier.L2 and state.breaches == 1
    assert state.clocks[ClockKind.ACKNOWLEDGE].met_on_time() is False
    assert metrics.sla_breaches == Counter({("MX", "SEV1", "ACKNOWLEDGE"): 1})
    breached, escalated, audits = await breach_counts(engine)
    assert breached == Counter({"late": 1}) and escalated == Counter({"late": 1}) and audits == 1
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(audit_log.c.action, audit_log.c.actor_id, audit_log.c.request_id)
                .where(audit_log.c.target_id == "late")
                .order_by(audit_log.c.sequence)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (BREACH_ACTION, "scheduler", "req-late-ack"),
        ("case.acknowledged", "agent-1", "req-late-ack"),
    ]
    assert await run_tick(svc, [SlaBreaches()]) == TickReport(NOW, {"0:SlaBreaches": 0}, [])
    assert metrics.sla_breaches == Counter({("MX", "SEV1", "ACKNOWLEDGE"): 1})  # counted once


async def test_the_api_gauge_shows_breaches_no_tick_has_recorded_until_one_does(
    uow_factory: UowFactory,
) -> None:
    """D87: with no scheduler running, the database still says how long the oldest overdue
    clock has waited for its breach (the ``SupportOSSlaBreachesNotRecorded`` alert)."""
    await seed(uow_factory, 2)  # c000 in CO, c001 in MX: acknowledge due at T0 + 10 min
    metrics = RecordingMetrics()
    svc = services(uow_factory, metrics)  # NOW = T0 + 30 min
    await refresh_queue_gauges(svc, metrics)
    assert metrics.unrecorded[-1] == {"MX": 1_200.0, "CO": 1_200.0}

    await run_tick(svc, [SlaBreaches()])
    await refresh_queue_gauges(svc, metrics)
    assert metrics.unrecorded[-1] == {}  # recorded; the mitigate clocks (60 min) are not due
    with scoped_to(frozenset({MX})):  # a country's scope sees only its own backlog
        async with uow_factory() as uow:
            assert await uow.cases.oldest_due(T0 + timedelta(minutes=61)) == {MX: T0 + timedelta(minutes=60)}
