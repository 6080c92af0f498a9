"""L0's goodwill store credit is granted at most once per order (found in review: every new
``LATE`` incident on the same order used to mint another credit, so an L1 who reopened
incidents could pay the buyer more than was captured)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases import l0
from application.cases.l0 import (
    GOODWILL_ONCE_RULE,
    GoodwillAlreadyGranted,
    GrantStoreCredit,
    grant_store_credit,
    l0_context,
    legacy_store_credit_key,
    revisit_late_incident,
    store_credit_key,
)
from application.cases.use_cases import ResolveCase, resolve_case
from application.context import Services
from application.disputes.use_cases import OpenDispute, StartReview, open_dispute, start_review
from application.orders.use_cases import TransitionOrder, transition_order
from application.saga.executor import Providers, SagaRunner
from domain.cases.case import Case
from domain.cases.kinds import CaseStatus, IncidentType, Severity, Tier
from domain.cases.l0 import DeliveryTrack
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.ledger import Account, Posted, rules
from domain.orders import OrderStatus
from domain.shared.ids import OrderId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.fakes.tracking import FakeTracking
from tests.integration.scenario import L1, L2, MX, SYSTEM, add_policy, decide
from tests.integration.test_case_use_cases import (
    audit,
    balance,
    case_of,
    in_flight_order,
    open_incident,
    order_of,
    stationary_trace,
)

T, GOODWILL = 123_000, 10_000
ORDER_KEY = "order:o1/L0_STORE_CREDIT/ledger_store_credit"


@pytest.fixture
def tracking() -> FakeTracking:
    return FakeTracking()


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], tracking: FakeTracking) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds(), tracking=tracking)
    await add_policy(services)
    return services


def late_and_stationary(svc: Services, tracking: FakeTracking) -> None:
    now = svc.clock.now()
    tracking.set(
        MX, "o1", DeliveryTrack(promised_at=now - timedelta(minutes=50), courier_trace=stationary_trace(svc))
    )


async def open_late(svc: Services) -> Case:
    return await open_incident(svc, "o1", kind=IncidentType.LATE, severity=Severity.SEV2)


def once_rule_entries(case: Case) -> list[dict[str, str]]:
    return [dict(e.data) for e in case.state.timeline if e.data.get("rule") == GOODWILL_ONCE_RULE]


async def assert_left_for_a_person(svc: Services, case: Case, ledger_key: str = ORDER_KEY) -> None:
    """No credit, routed as a case no rule covers (SEV2: L1, acknowledged), the reason noted."""
    stored = await case_of(svc, case.case_id)
    assert (stored.state.status, stored.state.tier, stored.state.resolved_tier) == (
        CaseStatus.ACKNOWLEDGED,
        Tier.L1,
        None,
    )
    assert await order_of(svc, "o1") == (OrderStatus.FROZEN, case.case_id)  # its hold stays
    (note,) = once_rule_entries(stored)
    assert (note["action"], note["ledger_key"], note["route_to"]) == ("L0_DECISION", ledger_key, "L1")
    assert "outcome" not in note
    (summary,) = [e.summary for e in stored.state.timeline if e.data.get("rule") == GOODWILL_ONCE_RULE]
    assert "already received its L0 goodwill credit" in summary
    assert all(e.data.get("action") != "STORE_CREDIT" for e in stored.state.timeline)


def test_the_credit_is_keyed_by_order() -> None:
    assert store_credit_key("o1") == ORDER_KEY
    assert legacy_store_credit_key("case_1") == "case:case_1/STORE_CREDIT/ledger_store_credit"


async def test_a_second_late_incident_on_the_order_gets_no_credit_and_waits_for_a_person(
    svc: Services, tracking: FakeTracking
) -> None:
    await in_flight_order(svc, "o1")
    late_and_stationary(svc, tracking)
    first = await open_late(svc)
    assert (first.state.status, first.state.resolved_tier) == (CaseStatus.RESOLVED, Tier.L0)
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    (granted,) = await audit(svc, "incident.store_credit_granted")
    assert granted.after is not None
    assert (granted.after["credit_minor"], granted.after["ledger_key"]) == (10_000, ORDER_KEY)

    for _ in range(4):  # the reviewer's loop: each new LATE incident, then a specialist closes it
        again = await open_late(svc)
        await assert_left_for_a_person(svc, again)
        (await resolve_case(svc, L2, ResolveCase(MX, again.case_id, "courier reached"))).unwrap()

    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    assert await balance(svc, Account.goodwill_expense()) == 10_000
    assert await balance(svc, Account.escrow("o1")) == T
    assert len(await audit(svc, "incident.store_credit_granted")) == 1
    decided = await audit(svc, "l0.decided")
    assert len(decided) == 5
    assert all((e.actor_id, e.actor_role) == ("L0", "L0") for e in decided)
    async with svc.uow() as uow:
        assert [t.idempotency_key for t in await uow.ledger.transactions_for(MX, "order:o1/L0_")] == [
            ORDER_KEY
        ]


async def test_credit_plus_full_refund_no_longer_grows_with_incidents(
    svc: Services, tracking: FakeTracking
) -> None:
    """The reviewer's scenario: five LATE incidents, delivery, a FULL_REFUND dispute. Before:
    50_000 credited + 123_000 refunded = 173_000 for 123_000 captured."""
    await in_flight_order(svc, "o1")
    late_and_stationary(svc, tracking)
    for i in range(5):
        case = await open_late(svc)
        if i:
            (await resolve_case(svc, L2, ResolveCase(MX, case.case_id, "courier reached"))).unwrap()
    (await transition_order(svc, SYSTEM, TransitionOrder(MX, OrderId("o1"), OrderStatus.DELIVERED))).unwrap()
    dispute = (
        await open_dispute(svc, L1, OpenDispute(MX, OrderId("o1"), DisputeReason.LATE, "late"))
    ).unwrap()
    dispute = (await start_review(svc, L1, StartReview(MX, dispute.id))).unwrap()
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    payments = FakePayments()
    await SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w").drain()

    credit = await balance(svc, Account.buyer_credit("buy_1"))
    assert (payments.total_refunded_minor, credit) == (123_000, 10_000)
    # one goodwill credit at most, whatever the number of incidents (FULL_REFUND itself
    # refunds the whole captured total; netting the goodwill against it is the dispute plan's)
    assert payments.total_refunded_minor + credit == 133_000 == T + GOODWILL


async def test_a_revisit_gives_no_second_credit_and_says_why_once(
    svc: Services, tracking: FakeTracking
) -> None:
    await in_flight_order(svc, "o1")
    late_and_stationary(svc, tracking)
    await open_late(svc)  # credited, resolved by L0
    now = svc.clock.now()
    tracking.set(  # the next incident opens before the courier is late enough: routed to L1
        MX, "o1", DeliveryTrack(promised_at=now - timedelta(minutes=30), courier_trace=stationary_trace(svc))
    )
    second = await open_late(svc)
    assert (second.state.status, second.state.tier) == (CaseStatus.ACKNOWLEDGED, Tier.L1)
    assert once_rule_entries(second) == []
    late_and_stationary(svc, tracking)  # a corrected promise: now the rule fires
    revisited = await revisit_late_incident(svc, MX, "o1")
    assert revisited is not None
    (note,) = once_rule_entries(revisited)
    assert (note["ledger_key"], note["route_to"]) == (ORDER_KEY, "L1")
    assert await revisit_late_incident(svc, MX, "o1") is None  # said once
    stored = await case_of(svc, second.case_id)
    assert len(once_rule_entries(stored)) == 1
    assert (stored.state.status, stored.state.tier) == (CaseStatus.ACKNOWLEDGED, Tier.L1)
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    assert len(await audit(svc, "incident.store_credit_granted")) == 1


async def test_a_replayed_grant_is_already_posted_not_a_fresh_grant(
    svc: Services, tracking: FakeTracking
) -> None:
    """The ledger key is the guard: a grant that reaches the post after another incident's
    credit committed gets ``AlreadyPosted`` and is refused, nothing written."""
    await in_flight_order(svc, "o1")
    late_and_stationary(svc, tracking)
    await open_late(svc)
    second = await open_late(svc)  # left for a person
    before = await case_of(svc, second.case_id)
    refused = await grant_store_credit(
        svc, l0_context(MX, second.case_id), GrantStoreCredit(MX, second.case_id, "late_stationary_courier")
    )
    assert refused == Failure(GoodwillAlreadyGranted("o1", ORDER_KEY))
    after = await case_of(svc, second.case_id)
    assert (after.state.version, after.state.status) == (before.state.version, CaseStatus.ACKNOWLEDGED)
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    assert len(await audit(svc, "incident.store_credit_granted")) == 1


async def test_l0_losing_the_race_for_the_order_key_routes_the_case(
    svc: Services, tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """L0 looked before the other incident's credit committed (its check saw nothing): the
    post answers ``AlreadyPosted``, L0 records why and routes the case; no second credit."""
    await in_flight_order(svc, "o1")
    late_and_stationary(svc, tracking)
    await open_late(svc)

    async def saw_nothing(_svc: Services, _country: object, _order_id: str) -> None:
        return None

    monkeypatch.setattr(l0, "_already_granted", saw_nothing)
    second = await open_late(svc)
    await assert_left_for_a_person(svc, second)
    stored = await case_of(svc, second.case_id)
    decisions = [e.data.get("rule") for e in stored.state.timeline if e.data.get("action") == "L0_DECISION"]
    assert decisions == ["late_stationary_courier", GOODWILL_ONCE_RULE]
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    assert len(await audit(svc, "incident.store_credit_granted")) == 1


async def test_an_older_per_case_credit_still_counts_for_the_order(
    svc: Services, tracking: FakeTracking
) -> None:
    """Credits posted before the key was the order's keep their per-case key and still count."""
    await in_flight_order(svc, "o1")
    now = svc.clock.now()
    tracking.set(MX, "o1", DeliveryTrack(promised_at=now - timedelta(minutes=30)))  # no rule fires
    old = await open_late(svc)
    old_key = legacy_store_credit_key(old.case_id)
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o1"))
        assert order is not None and order.snapshot is not None
        posted = await uow.ledger.post(
            rules.store_credit(order.snapshot, order.snapshot.policy.goodwill_credit, old_key)
        )
        assert isinstance(posted.unwrap(), Posted)
        await uow.commit()
    (await resolve_case(svc, L2, ResolveCase(MX, old.case_id, "credited by hand"))).unwrap()
    late_and_stationary(svc, tracking)
    second = await open_late(svc)
    await assert_left_for_a_person(svc, second, ledger_key=old_key)
    refused = await grant_store_credit(
        svc, l0_context(MX, second.case_id), GrantStoreCredit(MX, second.case_id, "late_stationary_courier")
    )
    assert refused == Failure(GoodwillAlreadyGranted("o1", old_key))
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000


async def test_concurrent_revisits_credit_the_order_once(svc: Services, tracking: FakeTracking) -> None:
    await in_flight_order(svc, "o1")
    now = svc.clock.now()
    tracking.set(  # not late enough when it opens: routed to L1, unassigned
        MX, "o1", DeliveryTrack(promised_at=now - timedelta(minutes=30), courier_trace=stationary_trace(svc))
    )
    case = await open_late(svc)
    assert case.state.status is CaseStatus.ACKNOWLEDGED
    late_and_stationary(svc, tracking)
    await asyncio.gather(*(revisit_late_incident(svc, MX, "o1") for _ in range(3)))
    assert await balance(svc, Account.buyer_credit("buy_1")) == 10_000
    assert await balance(svc, Account.goodwill_expense()) == 10_000
    (granted,) = await audit(svc, "incident.store_credit_granted")
    assert granted.target_id == case.case_id
    stored = await case_of(svc, case.case_id)
    assert (stored.state.status, stored.state.resolved_tier) == (CaseStatus.RESOLVED, Tier.L0)
