"""The case and SLA-policy repositories on SQLite and PostgreSQL: round trips through every
kind of change (clocks paused and resumed, breaches, rating), only new timeline entries
written, optimistic concurrency, the scheduler's due clocks, the work queue's filters,
order and cursors, the write-once timeline and versioned SLA policies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from returns.result import Failure, Result, Success
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.cases import _FOR_ORDER, decode_cursor, encode_cursor
from adapters.persistence.tables import case_clocks, case_timeline, cases
from application.ports.cases import CaseFilter, DueClock
from application.ports.concurrency import ConcurrencyConflict
from application.security.scope import scoped_to
from domain.cases.case import Case, CaseChanged, ClockState, TimelineKind
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, Severity, Tier
from domain.cases.sla import SlaPolicy, Target, default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.shared.ids import ActorId
from tests.fakes.calendars import fixed_calendar
from tests.integration.case_builders import AGENT, CO, MX, T0, UowFactory, open_case, store
from tests.integration.statement_spies import DriverStatements

CALENDAR = fixed_calendar("MX")
POLICY = default_sla_policy(MX, CaseKind.ORDER_INCIDENT)
SCHEDULER = ActorRef(ActorId("scheduler"), "SYSTEM")
BUYER = ActorRef(ActorId("buyer-1"), "BUYER")
ANY_CASE = CaseFilter()


async def reload(uow_factory: UowFactory, case_id: str, country: object = MX) -> Case:
    async with uow_factory() as uow:
        case = await uow.cases.get(MX if country is MX else CO, case_id)
    assert case is not None
    return case


async def timeline_rows(engine: AsyncEngine, case_id: str) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(case_timeline).where(case_timeline.c.case_id == case_id)
        )
    return int(count or 0)


async def test_a_case_reads_back_exactly_through_every_kind_of_change(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    case = open_case("c1", severity=Severity.SEV2)
    await store(uow_factory, case)
    assert (await reload(uow_factory, "c1")).state == case.state

    steps: list[Callable[[Case], Result[Any, Any]]] = [
        lambda c: c.acknowledge(T0 + timedelta(minutes=5), AGENT, CALENDAR, POLICY),
        lambda c: c.assign(T0 + timedelta(minutes=6), AGENT, "agent-7"),
        lambda c: c.wait_on_customer(T0 + timedelta(minutes=20), AGENT, "need the address", CALENDAR),
        lambda c: c.customer_replied(T0 + timedelta(hours=3), BUYER, CALENDAR),
        lambda c: c.post_status_update(
            T0 + timedelta(hours=3, minutes=5), AGENT, "courier found", CALENDAR, POLICY
        ),
        lambda c: c.record_action(
            T0 + timedelta(hours=3, minutes=6), AGENT, "RETRY", "re-dispatched", {"n": "1"}
        ),
        lambda c: c.mitigate(T0 + timedelta(hours=3, minutes=30), AGENT, "on its way", CALENDAR, POLICY),
        lambda c: c.resolve(T0 + timedelta(hours=4), AGENT, "delivered"),
        lambda c: c.close(T0 + timedelta(hours=5), AGENT),
    ]
    for step in steps:
        async with uow_factory() as uow:
            loaded = await uow.cases.get(MX, "c1")
            assert loaded is not None
            assert isinstance(step(loaded), Success)
            assert await uow.cases.save(loaded) == Success(None)
            await uow.commit()
        again = await reload(uow_factory, "c1")
        assert again.state == loaded.state
        assert await timeline_rows(engine, "c1") == len(loaded.state.timeline)

    async with uow_factory() as uow:
        closed = await uow.cases.get(MX, "c1")
        assert closed is not None
        rated = closed.rate(T0 + timedelta(hours=6), BUYER, 4, "fast enough")
        assert isinstance(rated, Success)
        assert await uow.cases.save(closed) == Success(None)
        await uow.commit()
    final = (await reload(uow_factory, "c1")).state
    assert final == closed.state
    assert final.status is CaseStatus.CLOSED and final.rating is not None and final.rating.score == 4
    assert [clock.state for clock in final.clocks.values()] == [ClockState.STOPPED] * 3
    assert final.timeline[-1].kind is TimelineKind.RATED


async def test_pausing_and_resuming_clocks_is_persisted_with_the_time_they_had_left(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    await store(uow_factory, open_case("c1", severity=Severity.SEV1))
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        case.acknowledge(T0 + timedelta(minutes=4), AGENT, CALENDAR, POLICY)
        case.wait_on_customer(T0 + timedelta(minutes=10), AGENT, "photo please", CALENDAR)
        assert await uow.cases.save(case) == Success(None)
        await uow.commit()

    paused = (await reload(uow_factory, "c1")).state
    mitigate = paused.clocks[ClockKind.MITIGATE]
    assert mitigate.state is ClockState.PAUSED and mitigate.deadline is None
    assert mitigate.remaining == timedelta(minutes=50)
    assert paused.clocks[ClockKind.STATUS_UPDATE].remaining == timedelta(minutes=24)
    assert paused.next_deadline is None
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(case_clocks.c.clock, case_clocks.c.state, case_clocks.c.due_at))
        ).all()
        stored_deadline = await connection.scalar(select(cases.c.next_deadline))
    assert sorted((r.clock, r.state, r.due_at) for r in rows) == [
        ("ACKNOWLEDGE", "STOPPED", None),
        ("MITIGATE", "PAUSED", None),
        ("STATUS_UPDATE", "PAUSED", None),
    ]
    assert stored_deadline is None
    async with uow_factory() as uow:
        assert await uow.cases.due_clocks(T0 + timedelta(days=30), limit=10) == []

    resumed_at = T0 + timedelta(hours=2)
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        case.customer_replied(resumed_at, BUYER, CALENDAR)
        assert await uow.cases.save(case) == Success(None)
        await uow.commit()
    resumed = (await reload(uow_factory, "c1")).state
    assert resumed.clocks[ClockKind.MITIGATE].deadline == resumed_at + timedelta(minutes=50)
    assert resumed.next_deadline == resumed_at + timedelta(minutes=24)
    async with uow_factory() as uow:
        due = await uow.cases.due_clocks(resumed_at + timedelta(minutes=24), limit=10)
    assert [(d.case_id, d.clock, d.deadline) for d in due] == [
        ("c1", ClockKind.STATUS_UPDATE, resumed_at + timedelta(minutes=24))
    ]


async def test_only_new_timeline_entries_are_written_and_stored_ones_cannot_change(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    await store(uow_factory, open_case("c1"))
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        case.add_note(T0 + timedelta(minutes=1), AGENT, "first")
        assert await uow.cases.save(case) == Success(None)
        case.add_note(T0 + timedelta(minutes=2), AGENT, "second")
        assert await uow.cases.save(case) == Success(None)  # the same unit of work, saved twice
        assert await uow.cases.save(case) == Success(None)  # nothing new: nothing written
        await uow.commit()
    assert await timeline_rows(engine, "c1") == 3
    assert [e.summary for e in (await reload(uow_factory, "c1")).state.timeline[1:]] == ["first", "second"]

    async with engine.begin() as connection:  # the owner, past every other guard
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(update(case_timeline).values(summary="rewritten"))
    async with engine.begin() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text("DELETE FROM case_timeline"))
    if backend == "postgresql":
        async with engine.begin() as connection:
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text("TRUNCATE case_timeline"))


async def test_a_stale_save_is_a_conflict_and_writes_nothing(uow_factory: UowFactory) -> None:
    """Someone else's committed change lands between the read and the write (simulated by
    bumping the row in the same transaction, what a READ COMMITTED reader sees): refused,
    and neither the row, the clocks nor the timeline change."""
    await store(uow_factory, open_case("c1"))
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        await uow.session.execute(update(cases).values(version=cases.c.version + 1, tier="L2"))
        case.acknowledge(T0 + timedelta(minutes=1), AGENT, CALENDAR, POLICY)
        assert await uow.cases.save(case) == Failure(ConcurrencyConflict("case", "c1", 1))
        row = (await uow.session.execute(select(cases.c.status, cases.c.tier, cases.c.version))).one()
        assert tuple(row) == ("NEW", "L2", 2)
        states = (await uow.session.execute(select(case_clocks.c.clock, case_clocks.c.state))).all()
        assert sorted(map(tuple, states)) == [("ACKNOWLEDGE", "RUNNING"), ("MITIGATE", "RUNNING")]
        entries = await uow.session.scalar(select(func.count()).select_from(case_timeline))
        assert entries == 1


async def test_a_case_saved_without_being_loaded_is_inserted_once_then_conflicts(
    uow_factory: UowFactory,
) -> None:
    case = open_case("c1")
    async with uow_factory() as uow:
        assert await uow.cases.save(case) == Success(None)
        await uow.commit()
    async with uow_factory() as uow:
        assert isinstance(await uow.cases.save(open_case("c1")), Failure)
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.cases.add(open_case("c1"))
    assert (await reload(uow_factory, "c1")).state == case.state


async def test_cases_are_found_by_order_and_subject_in_their_country_only(uow_factory: UowFactory) -> None:
    await store(
        uow_factory,
        open_case("c2", at=T0 + timedelta(minutes=1)),
        open_case("c1"),
        open_case("c3", order_id="order-2"),
        open_case("co1", country=CO),
        open_case("d1", kind=CaseKind.DISPUTE, subject_ref="dsp-1"),
    )
    async with uow_factory() as uow:
        assert [c.case_id for c in await uow.cases.for_order(MX, "order-1")] == ["c1", "d1", "c2"]
        assert [c.case_id for c in await uow.cases.for_order(CO, "order-1")] == ["co1"]
        assert [c.case_id for c in await uow.cases.for_subject(MX, CaseKind.DISPUTE, "dsp-1")] == ["d1"]
        assert await uow.cases.for_subject(CO, CaseKind.DISPUTE, "dsp-1") == []
        assert await uow.cases.get(CO, "c1") is None
        same = await uow.cases.get(MX, "c1")
        assert same is (await uow.cases.for_order(MX, "order-1"))[0]  # one object per case


async def test_an_orders_cases_read_by_the_prepared_statement_are_the_cases_get_reads(
    uow_factory: UowFactory, app_engine: AsyncEngine
) -> None:
    """D150: ``for_order`` runs a statement built once (on the driver inside the unit of
    work's transaction); every state it maps equals the one ``get`` maps through SQLAlchemy."""
    acknowledged = open_case("c1")
    acknowledged.acknowledge(T0 + timedelta(minutes=4), AGENT, CALENDAR, POLICY)
    await store(
        uow_factory, acknowledged, open_case("c2", at=T0 + timedelta(minutes=1), severity=Severity.SEV3)
    )
    spy = DriverStatements(app_engine)
    async with uow_factory() as uow:
        assert await uow.cases.get(CO, "c1") is None  # the transaction is begun: the driver path
        by_order = [case.state for case in await uow.cases.for_order(MX, "order-1")]
    assert [s for s in spy.driver if "FROM cases" in s] == [_FOR_ORDER.driver_sql(app_engine.dialect)]
    assert by_order == [(await reload(uow_factory, "c1")).state, (await reload(uow_factory, "c2")).state]
    assert by_order[0].acknowledged_at == T0 + timedelta(minutes=4)


async def test_due_clocks_are_the_running_unbreached_clocks_past_their_deadline_oldest_first(
    uow_factory: UowFactory,
) -> None:
    # c_due: acknowledge due at T0+10m (SEV1). c_late: opened earlier, due first.
    # c_future: due after now. c_ack: acknowledged (its first clock stopped; mitigate due
    # at T0+60m). c_breached: its acknowledge breach recorded. c_paused: waiting on the
    # customer. c_resolved: every clock stopped. co: another country, also due.
    now = T0 + timedelta(minutes=30)
    c_due, c_late = open_case("c_due"), open_case("c_late", at=T0 - timedelta(minutes=5))
    c_future = open_case("c_future", at=T0 + timedelta(minutes=25))
    c_ack, c_breached, c_paused, c_resolved = (
        open_case(name) for name in ("c_ack", "c_breached", "c_paused", "c_resolved")
    )
    co = open_case("co", country=CO, at=T0 + timedelta(minutes=1))
    c_ack.acknowledge(T0 + timedelta(minutes=1), AGENT, CALENDAR, POLICY)
    assert c_breached.record_breach(ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=11), SCHEDULER) is not None
    c_paused.acknowledge(T0 + timedelta(minutes=1), AGENT, CALENDAR, POLICY)
    c_paused.wait_on_customer(T0 + timedelta(minutes=2), AGENT, "address?", CALENDAR)
    c_resolved.resolve(T0 + timedelta(minutes=2), AGENT, "fixed")
    await store(uow_factory, c_due, c_late, c_future, c_ack, c_breached, c_paused, c_resolved, co)

    async with uow_factory() as uow:
        assert await uow.cases.due_clocks(now, limit=100) == [
            DueClock(MX, "c_late", ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=5)),
            DueClock(MX, "c_due", ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=10)),
            DueClock(CO, "co", ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=11)),
        ]
        assert len(await uow.cases.due_clocks(now, limit=2)) == 2
        assert await uow.cases.due_clocks(now, limit=0) == []
        assert await uow.cases.due_clocks(T0, limit=100) == []
    with scoped_to(frozenset({CO})):
        async with uow_factory() as uow:
            assert [d.case_id for d in await uow.cases.due_clocks(now, limit=100)] == ["co"]
    with scoped_to(None):
        async with uow_factory() as uow:
            assert await uow.cases.due_clocks(now, limit=100) == []


async def test_the_work_queue_filters_and_pages_by_nearest_deadline_with_cursors(
    uow_factory: UowFactory,
) -> None:
    sev0 = open_case("q_sev0", severity=Severity.SEV0)  # acknowledge due T0+5m
    sev1 = open_case("q_sev1", severity=Severity.SEV1)  # T0+10m
    sev1b = open_case("q_sev1b", severity=Severity.SEV1)  # T0+10m: tie, by id
    sev2 = open_case("q_sev2", severity=Severity.SEV2)  # T0+30m
    waiting = open_case("q_wait", severity=Severity.SEV1)  # paused: no running deadline
    waiting.acknowledge(T0 + timedelta(minutes=1), AGENT, CALENDAR, POLICY)
    waiting.wait_on_customer(T0 + timedelta(minutes=2), AGENT, "waiting", CALENDAR)
    done = open_case("q_done", severity=Severity.SEV3)
    done.resolve(T0 + timedelta(minutes=1), AGENT, "done")
    # acknowledge breached (overdue since T0+30m: sorts there, not last); mitigate still due T0+4h
    breached = open_case("q_breached", severity=Severity.SEV2, tier=Tier.L2)
    breached.record_breach(ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=31), SCHEDULER)
    breached.assign(T0 + timedelta(minutes=32), AGENT, "agent-9")
    dispute = open_case("q_dispute", kind=CaseKind.DISPUTE, severity=Severity.SEV3, subject_ref="dsp-1")
    await store(
        uow_factory, sev0, sev1, sev1b, sev2, waiting, done, breached, dispute, open_case("co", country=CO)
    )

    async def ids(where: CaseFilter = ANY_CASE, first: int = 100) -> list[str]:
        async with uow_factory() as uow:
            return [c.case_id for c in (await uow.cases.list(MX, where, first=first)).cases]

    everything = ["q_sev0", "q_sev1", "q_sev1b", "q_breached", "q_sev2", "q_dispute", "q_done", "q_wait"]
    assert await ids() == everything
    assert await ids(CaseFilter(severities=frozenset({Severity.SEV1}))) == ["q_sev1", "q_sev1b", "q_wait"]
    assert await ids(CaseFilter(kinds=frozenset({CaseKind.DISPUTE}))) == ["q_dispute"]
    assert await ids(CaseFilter(tiers=frozenset({Tier.L3}))) == ["q_breached"]  # escalated L2 -> L3
    assert await ids(
        CaseFilter(statuses=frozenset({CaseStatus.RESOLVED, CaseStatus.WAITING_ON_CUSTOMER}))
    ) == [
        "q_done",
        "q_wait",
    ]
    assert await ids(CaseFilter(breached=True)) == ["q_breached"]
    assert "q_breached" not in await ids(CaseFilter(breached=False))
    assert await ids(CaseFilter(assignee="agent-9")) == ["q_breached"]
    assert await ids(CaseFilter(at_risk_before=T0 + timedelta(minutes=10, seconds=1))) == [
        "q_sev0",
        "q_sev1",
        "q_sev1b",
    ]
    assert await ids(CaseFilter(order_id="order-1", severities=frozenset({Severity.SEV0}))) == ["q_sev0"]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        async with uow_factory() as uow:
            page = await uow.cases.list(MX, CaseFilter(), first=3, after=cursor)
        pages.append([c.case_id for c in page.cases])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [everything[0:3], everything[3:6], everything[6:8]]
    async with uow_factory() as uow:
        assert (await uow.cases.list(MX, CaseFilter(), first=0)).cases == ()
        with pytest.raises(ValueError, match="not a case cursor"):
            await uow.cases.list(MX, CaseFilter(), first=3, after="nonsense")
    assert decode_cursor(encode_cursor(None, "x")) == (None, "x")
    assert decode_cursor(encode_cursor(T0, "y")) == (T0, "y")


async def test_events_of_loaded_cases_are_collected_once(uow_factory: UowFactory) -> None:
    await store(uow_factory, open_case("c1"))
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        case.acknowledge(T0 + timedelta(minutes=1), AGENT, CALENDAR, POLICY)
        events = uow.collect_events()
        assert [type(e) for e in events] == [CaseChanged]
        assert uow.collect_events() == []


async def test_sla_policies_start_with_the_built_in_version_and_publish_in_order(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        assert await uow.sla_policies.current(MX, CaseKind.DISPUTE) == default_sla_policy(
            MX, CaseKind.DISPUTE
        )
        assert await uow.sla_policies.version(MX, CaseKind.DISPUTE, 1) == default_sla_policy(
            MX, CaseKind.DISPUTE
        )
        assert await uow.sla_policies.version(MX, CaseKind.DISPUTE, 2) is None
    base = default_sla_policy(MX, CaseKind.DISPUTE)
    tighter = SlaPolicy(
        MX,
        CaseKind.DISPUTE,
        2,
        {**base.targets, Severity.SEV3: base.targets[Severity.SEV0]},
    )
    async with uow_factory() as uow:
        assert await uow.sla_policies.publish(tighter) == Success(tighter)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.sla_policies.current(MX, CaseKind.DISPUTE) == tighter
        assert await uow.sla_policies.version(MX, CaseKind.DISPUTE, 2) == tighter
        assert await uow.sla_policies.version(MX, CaseKind.DISPUTE, 1) == base
        assert await uow.sla_policies.current(CO, CaseKind.DISPUTE) == default_sla_policy(
            CO, CaseKind.DISPUTE
        )
        assert await uow.sla_policies.current(MX, CaseKind.ORDER_INCIDENT) == POLICY
        assert await uow.sla_policies.publish(tighter) == Failure(
            ConcurrencyConflict("sla_policy", "MX/DISPUTE", 2)
        )
        skipping = SlaPolicy(MX, CaseKind.DISPUTE, 4, base.targets)
        assert isinstance(await uow.sla_policies.publish(skipping), Failure)
    assert Target.continuous(timedelta(minutes=5)) == tighter.targets[Severity.SEV3].acknowledge
