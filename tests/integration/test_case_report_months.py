"""The monthly case report's money, on SQLite and PostgreSQL (D47): a dispute's outcome is
counted in one month, once, whichever cases lead to it, so the months add up to the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.reports import CaseReportQuery, case_report, to_json
from application.context import Services
from application.disputes.use_cases import OpenDispute, StartReview, open_dispute, start_review
from application.saga.executor import Providers, SagaRunner
from domain.cases.money import MoneyTotals, money_through_outcomes
from domain.cases.report import CaseReport, Month
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.disputes.references import ledger_prefix
from domain.shared import Money
from domain.shared.ids import OrderId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.case_builders import open_case, store
from tests.integration.scenario import L1, L3, MX, add_policy, decide, delivered_order

T_FULL = 123_000
JAN, FEB, MAR = Month(2026, 1), Month(2026, 2), Month(2026, 3)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 31, 22, 0, tzinfo=UTC))


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    services = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(services)
    return services


async def _refunded_dispute(svc: Services, order_id: str) -> Dispute:
    """A dispute on ``order_id`` opened now, fully refunded through its saga."""
    opened = await open_dispute(
        svc, L1, OpenDispute(MX, OrderId(order_id), DisputeReason.DAMAGED, "The vase arrived broken")
    )
    dispute = (await start_review(svc, L1, StartReview(MX, opened.unwrap().id))).unwrap()
    await decide(svc, dispute, OutcomeCode.FULL_REFUND, key=f"k-{order_id}")
    await SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), worker_id="w1").drain()
    return dispute


async def _ledger(svc: Services, *disputes: Dispute) -> MoneyTotals:
    money = MoneyTotals()
    async with svc.uow() as uow:
        for dispute in disputes:
            money = money.plus(
                money_through_outcomes(await uow.ledger.transactions_for(MX, ledger_prefix(dispute.id)))
            )
    return money


async def _report(svc: Services, month: Month) -> CaseReport:
    return (await case_report(svc, L3, CaseReportQuery(MX, month))).unwrap()


async def test_an_incident_in_one_month_and_its_dispute_in_the_next_count_the_money_once(
    svc: Services, clock: FixedClock, uow_factory: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    await delivered_order(svc, "o1")
    await store(
        uow_factory, open_case("case-inc", order_id="o1", at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC))
    )
    clock.set(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    dispute = await _refunded_dispute(svc, "o1")
    ledger = await _ledger(svc, dispute)
    assert dict(ledger.refunded) == {"MXN": Money.of(T_FULL, "MXN")}

    january, february = await _report(svc, JAN), await _report(svc, FEB)
    assert (january.cases, january.disputes, dict(january.money.refunded)) == (1, 0, {})
    assert (february.cases, february.disputes) == (1, 1)  # the dispute's own case
    assert dict(february.money.refunded) == dict(ledger.refunded)
    total = sum(entry["minor"] for report in (january, february) for entry in to_json(report)["refunded"])
    assert total == T_FULL  # the months add up to the ledger


async def test_an_incident_and_its_dispute_in_the_same_month_count_the_dispute_once(
    svc: Services, clock: FixedClock, uow_factory: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    clock.set(datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    await delivered_order(svc, "o1")
    await store(
        uow_factory, open_case("case-inc", order_id="o1", at=datetime(2026, 2, 10, 9, 30, tzinfo=UTC))
    )
    clock.set(datetime(2026, 2, 10, 10, 0, tzinfo=UTC))
    first = await _refunded_dispute(svc, "o1")  # reached through the incident and its own case
    clock.set(datetime(2026, 2, 27, 10, 0, tzinfo=UTC))
    await delivered_order(svc, "o2")
    second = await _refunded_dispute(svc, "o2")  # through its own case only
    ledger = await _ledger(svc, first, second)

    february = await _report(svc, FEB)
    assert (february.cases, february.disputes) == (3, 2)
    assert dict(february.money.refunded) == {"MXN": Money.of(2 * T_FULL, "MXN")}
    assert dict(february.money.refunded) == dict(ledger.refunded)
    for month in (JAN, MAR):
        empty = await _report(svc, month)
        assert (empty.cases, empty.disputes, dict(empty.money.refunded)) == (0, 0, {})


async def test_a_dispute_refunded_in_a_later_month_stays_in_the_month_it_opened(
    svc: Services, clock: FixedClock, uow_factory: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    await delivered_order(svc, "o1")
    await store(
        uow_factory, open_case("case-inc", order_id="o1", at=datetime(2026, 1, 31, 22, 30, tzinfo=UTC))
    )
    clock.set(datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    opened = await open_dispute(
        svc, L1, OpenDispute(MX, OrderId("o1"), DisputeReason.DAMAGED, "The vase arrived broken")
    )
    dispute = (await start_review(svc, L1, StartReview(MX, opened.unwrap().id))).unwrap()
    clock.set(datetime(2026, 2, 2, 12, 0, tzinfo=UTC))  # decided and refunded in February
    await decide(svc, dispute, OutcomeCode.FULL_REFUND, key="k-o1")
    await SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), worker_id="w1").drain()
    ledger = await _ledger(svc, dispute)

    january, february = await _report(svc, JAN), await _report(svc, FEB)
    assert (january.cases, january.disputes) == (2, 1)  # the incident and the dispute's case
    assert dict(january.money.refunded) == dict(ledger.refunded) == {"MXN": Money.of(T_FULL, "MXN")}
    assert (february.cases, february.disputes, dict(february.money.refunded)) == (0, 0, {})
