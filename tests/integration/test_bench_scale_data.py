"""The scale benchmark's generator (``bench/scale_data.py``) on a tiny count, on both databases:
its rows satisfy the migrated schema's constraints, read back through the product's own
mappers and repositories, and the SLA scheduler finds exactly the planned tick clocks due
in each slot (nothing else is due before ``now``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import tables
from adapters.persistence.read_models import SqlAlchemyDisputeReads
from application.cases.scheduler import SlaBreaches, run_tick
from application.context import Services
from application.ports.read_models import DisputeFilter, PageRequest
from bench.scale import records
from bench.scale_data import (
    COUNTRY_MIX,
    TABLES,
    TICK_COUNTRY,
    ScalePlan,
    country_of,
    generate,
    slot_start,
    tick_now,
)
from domain.shared import CountryCode
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.case_builders import UowFactory

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
PLAN = ScalePlan(orders=600, now=NOW, tick_slots=3, tick_clocks=2)


def rows_of(plan: ScalePlan, chunk: int) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    for part in generate(plan, chunk=chunk):
        for table, rows in part.items():
            merged[table].extend(rows)
    return merged


async def write(engine: AsyncEngine, rows: dict[str, list[dict[str, Any]]]) -> None:
    async with engine.begin() as connection:
        for table in TABLES:
            if rows[table]:
                await connection.execute(insert(tables.metadata.tables[table]), rows[table])


def test_the_country_mix_and_the_plan_checks() -> None:
    assert Counter(country_of(i) for i in range(100)) == {c: w for c, _, w in COUNTRY_MIX}
    assert tick_now(PLAN, 0) < slot_start(PLAN, 1) < tick_now(PLAN, 2) < NOW
    with pytest.raises(ValueError, match="too few CL orders"):
        ScalePlan(orders=50, now=NOW)
    with pytest.raises(ValueError, match="aware"):
        ScalePlan(orders=600, now=NOW.replace(tzinfo=None), tick_slots=3, tick_clocks=2)


def test_rows_are_deterministic_and_the_chunking_keeps_ids_and_countries() -> None:
    assert rows_of(PLAN, 250) == rows_of(PLAN, 250)
    whole, chunked = rows_of(PLAN, 600)["orders"], rows_of(PLAN, 250)["orders"]
    assert [(r["id"], r["country_code"]) for r in whole] == [(r["id"], r["country_code"]) for r in chunked]
    copy = records("orders", rows_of(PLAN, 600)["orders"][:1])[0]
    assert len(copy) == len(tables.orders.columns)
    assert isinstance(copy[[c.name for c in tables.orders.columns].index("policy_terms")], str)  # JSON text


async def test_generated_rows_fit_the_schema_and_read_back(
    engine: AsyncEngine, uow_factory: UowFactory
) -> None:
    rows = rows_of(PLAN, 250)
    await write(engine, rows)  # every CHECK, foreign key and unique index holds

    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(tables.orders)) == PLAN.orders
        unbalanced = await connection.scalar(
            text(
                "SELECT count(*) FROM (SELECT transaction_id FROM ledger_postings GROUP BY transaction_id "
                "HAVING sum(signed_minor) <> 0) AS t"
            )
        )
        disputed = await connection.scalar(
            select(func.count()).select_from(tables.orders).where(tables.orders.c.status == "DISPUTED")
        )
    assert unbalanced == 0
    assert disputed == len(rows["disputes"]) > 0
    assert {r["status"] for r in rows["disputes"]} <= {"OPEN", "UNDER_REVIEW", "WITHDRAWN"}
    assert Counter(r["kind"] for r in rows["cases"])["DISPUTE"] == len(rows["disputes"])

    # the product's mappers accept them (evidence hashes included)
    reads = SqlAlchemyDisputeReads(engine)
    for country, _, _ in COUNTRY_MIX:
        page = (
            await reads.list_disputes(CountryCode(country), DisputeFilter(), PageRequest(first=200))
        ).unwrap()
        assert len(page.items) == sum(1 for r in rows["disputes"] if r["country_code"] == country)

    # keyset pages walk the whole list newest first, without gaps or repeats
    mx = sorted(
        (r for r in rows["disputes"] if r["country_code"] == "MX"),
        key=lambda r: (r["opened_at"], r["id"]),
        reverse=True,
    )
    walked: list[str] = []
    after: str | None = None
    while True:
        page = (await reads.list_disputes(CountryCode("MX"), DisputeFilter(), PageRequest(2, after))).unwrap()
        walked.extend(d.id for d in page.items)
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert walked == [r["id"] for r in mx] and len(walked) > 2

    # only the tick clocks are due before now: a tick at slot s breaches exactly slot s's clocks
    running = [c for c in rows["case_clocks"] if c["due_at"] is not None]
    assert all(c["due_at"] > NOW for c in running if not c["case_id"].startswith("case_t"))
    async with uow_factory() as uow:
        for case in rows["cases"][:50]:
            loaded = await uow.cases.get(CountryCode(case["country_code"]), case["id"])
            assert loaded is not None and loaded.version == case["version"]
    for slot in range(PLAN.tick_slots):
        async with uow_factory() as uow:
            due = await uow.cases.due_clocks(tick_now(PLAN, slot), limit=100)
        assert sorted(d.case_id for d in due) == [
            f"case_t{slot:03d}_{j:03d}" for j in range(PLAN.tick_clocks)
        ]
        assert {d.country.value for d in due} == {TICK_COUNTRY}
        svc = Services(
            uow=uow_factory, clock=FixedClock(NOW), ids=SequentialIds(), metrics=RecordingMetrics()
        )
        report = await run_tick(svc, [SlaBreaches()], now=tick_now(PLAN, slot))
        assert report.done == {"0:SlaBreaches": PLAN.tick_clocks} and report.failed == []
    assert timedelta(0) < NOW - tick_now(PLAN, PLAN.tick_slots - 1)
