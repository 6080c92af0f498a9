"""Providers that confirm asynchronously: the step waits for the (verified) confirmation,
settles exactly once, and asks the provider again if no confirmation comes in time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from returns.result import Result, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.ports.outbox import JobStatus
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId
from tests.fakes.providers import FakeNotifications
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, MXN, add_policy, decide, dispute_under_review

T = 123_000


@dataclass
class AsyncPayments:
    """Accepts refunds and confirms later (or, once ``settled``, answers confirmed)."""

    name: str = "async-payments"
    settled: bool = False
    calls: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1
        self.moved.setdefault(idempotency_key, amount.minor)
        return Success(
            ProviderReceipt(
                self.name, "refund", idempotency_key, f"re_{idempotency_key}", confirmed=self.settled
            )
        )


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


async def status_of(svc: Services, dispute_id: str) -> DisputeStatus:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
        assert dispute is not None
        return dispute.status


async def escrow(svc: Services) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, Account.escrow("o1"), MXN)).normal.minor


async def test_a_confirmation_settles_the_waiting_step_exactly_once(svc: Services) -> None:
    payments = AsyncPayments()
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()))
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"

    assert await runner.run_once() == [StepOutcome.AWAITING_CONFIRMATION]
    async with svc.uow() as uow:
        job = await uow.outbox.by_key(key)
    assert job is not None
    assert job.status is JobStatus.WAITING
    assert await runner.run_once() == []  # waiting, not due
    assert await escrow(svc) == T  # nothing recorded before the confirmation

    assert await runner.confirm(key, succeeded=True, provider_reference="re_1") == StepOutcome.COMPLETED
    assert await runner.confirm(key, succeeded=True, provider_reference="re_1") == StepOutcome.ALREADY_SETTLED
    await runner.drain()
    assert await status_of(svc, dispute.id) is DisputeStatus.RESOLVED
    assert await escrow(svc) == 0
    assert payments.calls == {key: 1}
    async with svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")) == 1


async def test_no_confirmation_by_the_deadline_asks_the_provider_again(svc: Services) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    payments = AsyncPayments()
    runner = SagaRunner(
        svc, Providers(payments, FakeNotifications()), confirmation_timeout=timedelta(minutes=10)
    )
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    assert await runner.run_once() == [StepOutcome.AWAITING_CONFIRMATION]
    payments.settled = True  # the provider settled, but its webhook was lost
    clock.advance(timedelta(minutes=11))
    await runner.drain()
    assert await status_of(svc, dispute.id) is DisputeStatus.RESOLVED
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert payments.calls == {key: 2}
    assert payments.moved == {key: T}  # asked twice, money moved once


async def test_an_asynchronous_decline_dead_letters_the_step(svc: Services) -> None:
    runner = SagaRunner(svc, Providers(AsyncPayments(), FakeNotifications()))
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    await runner.run_once()
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    outcome = await runner.confirm(
        key, succeeded=False, provider_reference="re_1", detail="insufficient_funds"
    )
    assert outcome is StepOutcome.DEAD_LETTERED
    assert await status_of(svc, dispute.id) is DisputeStatus.EXECUTION_FAILED
    assert await escrow(svc) == T
