"""The ``REPLACEMENT`` outcome end to end (SPEC §5), on SQLite and PostgreSQL.

"A new linked order at the seller's cost; no refund; original escrow released on the
replacement's delivery." The saga creates the replacement already PAID with nothing
charged; its delivery enqueues the dispute's deferred ``ledger_release``, which the worker
posts once and which completes the original. Nothing moves money on the replacement itself.
Money to the minor unit: T = 123_000, the seller's payout 106_000, the platform's take 17_000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.incidents import (
    ApplyIncidentAction,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.context import Services
from application.disputes.use_cases import OpenDispute, open_dispute
from application.orders.force_complete import ForceCompleteOrder, force_complete_order
from application.orders.use_cases import (
    CompleteDueOrders,
    TransitionOrder,
    complete_due_orders,
    transition_order,
)
from application.ports.outbox import JobStatus
from application.saga.executor import Providers, SagaRunner, StepOutcome, replacement_order_id
from application.saga.replacements import schedule_replacement_release
from domain.audit import AuditEntry
from domain.cases.kinds import IncidentAction, IncidentType, Severity
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason, OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.orders import Order, OrderStatus, ReplacementNotDisputable
from domain.shared.ids import BuyerId, DisputeId, OrderId, SellerId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, L2, L3, MX, MXN, SYSTEM, add_policy, decide, dispute_under_review

T, PAYOUT, TAKE = 123_000, 106_000, 17_000
ORIGINAL = "o1"
REPLACEMENT = replacement_order_id(ORIGINAL)


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


@pytest.fixture
def runner(svc: Services, payments: FakePayments) -> SagaRunner:
    return SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1")


def clock_of(svc: Services) -> FixedClock:
    assert isinstance(svc.clock, FixedClock)
    return svc.clock


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def order(svc: Services, order_id: str) -> Order:
    async with svc.uow() as uow:
        found = await uow.orders.get(MX, OrderId(order_id))
    assert found is not None
    return found


async def keys(svc: Services, prefix: str) -> list[str]:
    async with svc.uow() as uow:
        return [t.idempotency_key for t in await uow.ledger.transactions_for(MX, prefix)]


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


def release_key(dispute: Dispute) -> str:
    return f"dispute:{dispute.id}/REPLACEMENT/ledger_release"


async def move(svc: Services, order_id: str, *statuses: OrderStatus) -> None:
    for status in statuses:
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, OrderId(order_id), status))).unwrap()


ON_THE_WAY = (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT)


async def replaced(svc: Services, runner: SagaRunner) -> Dispute:
    """A DELIVERED order disputed, decided REPLACEMENT, and the saga's immediate steps run."""
    dispute = await dispute_under_review(svc, ORIGINAL)
    receipt = await decide(svc, dispute, OutcomeCode.REPLACEMENT)
    assert receipt.steps == ("create_replacement", "ledger_release", "notify_buyer", "notify_seller")
    assert await runner.drain() == [StepOutcome.COMPLETED, StepOutcome.COMPLETED, StepOutcome.RESOLVED]
    return dispute


async def test_the_replacement_is_linked_paid_and_charges_nothing(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    dispute = await replaced(svc, runner)
    original = await order(svc, ORIGINAL)
    replacement = await order(svc, REPLACEMENT)
    assert (replacement.status, replacement.version, replacement.replaces) == (OrderStatus.PAID, 1, ORIGINAL)
    assert (replacement.buyer_id, replacement.seller_id, replacement.courier_id, replacement.country) == (
        original.buyer_id,
        original.seller_id,
        original.courier_id,
        original.country,
    )
    assert original.snapshot is not None and replacement.snapshot is not None
    assert replacement.snapshot.order_id == REPLACEMENT
    assert replacement.snapshot.total_charged == original.snapshot.total_charged  # the original's terms
    assert replacement.snapshot.policy == original.snapshot.policy
    # the buyer is not charged again, nothing is refunded, the original's escrow stays held
    assert await keys(svc, f"order:{REPLACEMENT}/") == []
    assert await balance(svc, Account.escrow(REPLACEMENT)) == 0
    assert await balance(svc, Account.escrow(ORIGINAL)) == T
    assert await balance(svc, Account.psp_clearing()) == T
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert payments.total_refunded_minor == 0
    assert original.status is OrderStatus.DISPUTED
    async with svc.uow() as uow:
        assert (await uow.disputes.get(MX, DisputeId(dispute.id))) is not None
        assert await uow.outbox.by_key(release_key(dispute)) is None  # deferred: not enqueued yet
    (created,) = await audit(svc, "order.replacement_created")
    assert (created.target_id, created.actor_role) == (REPLACEMENT, "SYSTEM")
    assert created.after is not None and created.after["replaces"] == ORIGINAL
    assert created.after["dispute_id"] == dispute.id


async def test_an_order_that_took_the_replacements_id_is_not_taken_for_the_replacement(
    svc: Services, runner: SagaRunner
) -> None:
    """D112: an order of the marketplace named ``o1-R`` (stored before the suffix was
    reserved) was taken for o1's replacement: the step "succeeded", the dispute RESOLVED, and
    o1's escrow waited for a delivery that releases nothing. Now the step fails to the
    dead-letter queue and nothing is created or released."""
    stranger = Order.rehydrate(
        id=REPLACEMENT,
        country=MX,
        buyer_id=BuyerId("other_buyer"),
        seller_id=SellerId("sel_9"),
        courier_id=None,
        status=OrderStatus.CREATED,
        frozen_from=None,
        frozen_by_incident=None,
        snapshot=None,
        delivered_at=None,
        force_completed=False,
        force_complete_reason=None,
        version=0,
        created_at=clock_of(svc).now(),
    )
    async with svc.uow() as uow:
        await uow.orders.add(stranger)
        await uow.commit()
    dispute = await dispute_under_review(svc, ORIGINAL)
    await decide(svc, dispute, OutcomeCode.REPLACEMENT)

    assert await runner.drain() == [StepOutcome.DEAD_LETTERED]

    async with svc.uow() as uow:
        job = await uow.outbox.by_key(f"dispute:{dispute.id}/REPLACEMENT/create_replacement")
        kept = await uow.disputes.get(MX, DisputeId(dispute.id))
    assert job is not None and job.status is JobStatus.DEAD
    assert job.errors[-1].kind == "REPLACEMENT_NOT_ALLOWED"
    assert kept is not None and kept.status is DisputeStatus.EXECUTION_FAILED
    assert (await order(svc, REPLACEMENT)).replaces is None  # still the stranger, untouched
    assert await audit(svc, "order.replacement_created") == []
    assert await balance(svc, Account.escrow(ORIGINAL)) == T


async def test_delivering_the_replacement_releases_the_original_once(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    dispute = await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY)
    assert await runner.drain() == []  # on its way: nothing released yet
    assert await balance(svc, Account.escrow(ORIGINAL)) == T

    await move(svc, REPLACEMENT, OrderStatus.DELIVERED)
    async with svc.uow() as uow:
        job = await uow.outbox.by_key(release_key(dispute))
    assert job is not None and job.status is JobStatus.PENDING  # in the delivery's transaction
    (delivered,) = [
        e
        for e in await audit(svc, "order.transitioned")
        if e.after and e.after["status"] == "DELIVERED" and e.target_id == REPLACEMENT
    ]
    assert delivered.after is not None and delivered.after["scheduled_steps"] == [release_key(dispute)]

    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert (await order(svc, ORIGINAL)).status is OrderStatus.COMPLETED
    assert (await order(svc, REPLACEMENT)).status is OrderStatus.DELIVERED
    assert await balance(svc, Account.escrow(ORIGINAL)) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE
    assert await balance(svc, Account.psp_clearing()) == T
    assert await balance(svc, Account.escrow(REPLACEMENT)) == 0
    assert payments.total_refunded_minor == 0
    assert await keys(svc, f"dispute:{dispute.id}/") == [release_key(dispute)]
    async with svc.uow() as uow:
        resolved = await uow.disputes.get(MX, DisputeId(dispute.id))
    assert resolved is not None and resolved.status is DisputeStatus.RESOLVED
    (completed,) = [e for e in await audit(svc, "order.completed") if e.target_id == ORIGINAL]
    assert completed.after is not None
    assert (completed.after["replacement_id"], completed.after["ledger_key"]) == (
        REPLACEMENT,
        release_key(dispute),
    )

    # the job again (a duplicate delivery), and the trigger again: nothing moves twice
    async with svc.uow() as uow:
        done = await uow.outbox.by_key(release_key(dispute))
        assert done is not None and done.status is JobStatus.DONE
        delivered_replacement = await uow.orders.get(MX, REPLACEMENT)
        assert delivered_replacement is not None
        assert await schedule_replacement_release(uow, delivered_replacement, svc.clock.now()) == ()
        await uow.commit()
    assert await runner.execute(done) is StepOutcome.LEASE_LOST
    assert await runner.drain() == []
    assert await keys(svc, f"dispute:{dispute.id}/") == [release_key(dispute)]
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT


async def test_a_worker_that_lost_its_lease_releases_nothing(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    dispute = await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY, OrderStatus.DELIVERED)
    clock = clock_of(svc)
    async with svc.uow() as uow:
        (stale,) = await uow.outbox.claim(
            worker_id="w1", now=clock.now(), lease=timedelta(seconds=30), limit=10
        )
        await uow.commit()
    clock.advance(timedelta(minutes=1))  # w1 stalls past its lease; w2 takes the job over
    other = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w2")
    assert await other.drain() == [StepOutcome.COMPLETED]
    assert await runner.execute(stale) is StepOutcome.LEASE_LOST
    assert await keys(svc, f"dispute:{dispute.id}/") == [release_key(dispute)]
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.escrow(ORIGINAL)) == 0


async def test_the_replacement_completes_with_no_posting_when_its_window_closes(
    svc: Services, runner: SagaRunner
) -> None:
    await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY, OrderStatus.DELIVERED)
    await runner.drain()
    clock_of(svc).advance(timedelta(hours=72))
    completed = (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap()
    assert completed == [REPLACEMENT]
    assert (await order(svc, REPLACEMENT)).status is OrderStatus.COMPLETED
    assert await keys(svc, f"order:{REPLACEMENT}/") == []
    assert await balance(svc, Account.escrow(REPLACEMENT)) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT  # paid once, by the original
    assert await balance(svc, Account.commission_revenue()) == TAKE
    (entry,) = [e for e in await audit(svc, "order.completed") if e.target_id == REPLACEMENT]
    assert entry.after is not None and (entry.after["released_minor"], entry.after["replaces"]) == (
        0,
        ORIGINAL,
    )
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap() == []


async def test_a_replacement_cannot_be_disputed(svc: Services, runner: SagaRunner) -> None:
    await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY, OrderStatus.DELIVERED)
    refused = await open_dispute(svc, L1, OpenDispute(MX, REPLACEMENT, DisputeReason.DAMAGED, "Broken again"))
    assert refused == Failure(ReplacementNotDisputable(REPLACEMENT, OrderId(ORIGINAL)))
    assert refused.failure().code == "REPLACEMENT_NOT_DISPUTABLE"
    async with svc.uow() as uow:
        assert await uow.disputes.for_order(MX, REPLACEMENT) == []
    assert (await order(svc, REPLACEMENT)).status is OrderStatus.DELIVERED


async def test_force_completing_a_replacement_posts_nothing_for_it_and_releases_the_original(
    svc: Services, runner: SagaRunner
) -> None:
    dispute = await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY)
    forced = (
        await force_complete_order(svc, L3, ForceCompleteOrder(MX, REPLACEMENT, "courier lost the tracker"))
    ).unwrap()
    assert forced.order.status is OrderStatus.FORCE_COMPLETED
    assert forced.ledger_keys == (release_key(dispute),)  # what will be posted: the original's release
    assert await keys(svc, f"order:{REPLACEMENT}/") == []
    assert await balance(svc, Account.escrow(REPLACEMENT)) == 0
    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert (await order(svc, ORIGINAL)).status is OrderStatus.COMPLETED
    assert await balance(svc, Account.escrow(ORIGINAL)) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE
    (entry,) = await audit(svc, "order.force_completed")
    assert entry.after is not None and (entry.after["released_minor"], entry.after["replaces"]) == (
        0,
        ORIGINAL,
    )


@pytest.mark.parametrize(
    "shipped", [(), ON_THE_WAY[:2], ON_THE_WAY], ids=["paid", "in-preparation", "in-transit"]
)
async def test_a_replacement_that_will_not_arrive_is_cancelled_and_the_original_refunded(
    svc: Services, runner: SagaRunner, payments: FakePayments, shipped: tuple[OrderStatus, ...]
) -> None:
    """D115: a replacement never shipped (or lost on its way) left the buyer with neither goods
    nor money: it could not be cancelled, and the original's escrow waited for its delivery.
    Its operational cancellation now refunds the original's total from the original's escrow,
    through a FULL_REFUND dispute on the original; the replacement itself moves nothing."""
    await replaced(svc, runner)
    await move(svc, REPLACEMENT, *shipped)
    case = (
        await open_order_incident(
            svc,
            L1,
            OpenOrderIncident(
                MX, REPLACEMENT, IncidentType.COURIER_UNAVAILABLE, Severity.SEV2, "never shipped"
            ),
        )
    ).unwrap()

    done = (
        await apply_incident_action(
            svc, L2, ApplyIncidentAction(MX, case.case_id, IncidentAction.OPERATIONAL_CANCELLATION)
        )
    ).unwrap()

    assert done.refund_minor == T and done.dispute_id is not None
    assert done.order_status is OrderStatus.CANCELLED
    async with svc.uow() as uow:
        refund = await uow.disputes.get(MX, DisputeId(done.dispute_id))
        assert await uow.disputes.for_order(MX, REPLACEMENT) == []
    assert refund is not None and refund.order_id == ORIGINAL
    outcomes = await runner.drain()
    assert outcomes[-1] is StepOutcome.RESOLVED
    assert payments.total_refunded_minor == T
    assert await balance(svc, Account.escrow(ORIGINAL)) == 0
    assert await balance(svc, Account.escrow(REPLACEMENT)) == 0
    assert await balance(svc, Account.psp_clearing()) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert (await order(svc, ORIGINAL)).status is OrderStatus.REFUNDED
    assert (await order(svc, REPLACEMENT)).status is OrderStatus.CANCELLED
    # the original's release waited for a delivery that can no longer come: never enqueued
    assert await keys(svc, f"order:{REPLACEMENT}/") == []


async def test_force_completing_a_replacement_through_its_incident_reports_nothing_released(
    svc: Services, runner: SagaRunner
) -> None:
    await replaced(svc, runner)
    await move(svc, REPLACEMENT, *ON_THE_WAY)
    case = (
        await open_order_incident(
            svc,
            L1,
            OpenOrderIncident(
                MX, REPLACEMENT, IncidentType.COURIER_UNAVAILABLE, Severity.SEV2, "tracker lost"
            ),
        )
    ).unwrap()
    receipt = (
        await apply_incident_action(
            svc,
            L3,
            ApplyIncidentAction(MX, case.case_id, IncidentAction.FORCE_COMPLETE, "delivered, app offline"),
        )
    ).unwrap()
    assert receipt.order_status is OrderStatus.FORCE_COMPLETED
    assert receipt.released_minor == 0  # the replacement held nothing; the saga releases the original
    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
