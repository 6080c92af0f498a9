"""Nothing is lost and nothing is doubled when a worker process is SIGKILLed mid-saga."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.ports.outbox import JobStatus
from application.saga.executor import Providers, SagaRunner
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.shared.ids import DisputeId, OrderId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, MXN, add_policy, decide, dispute_under_review

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


async def run_worker(url: str, state: Path, crash_at: str, offset: int) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.crash_worker",
        url,
        str(state),
        "--crash-at",
        crash_at,
        "--clock-offset-seconds",
        str(offset),
        cwd=ROOT,
    )
    return await asyncio.wait_for(process.wait(), timeout=120)


async def summary(svc: Services, order_id: str, dispute_id: str) -> dict[str, object]:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
        order = await uow.orders.get(MX, OrderId(order_id))
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute_id}")
        transactions = await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")
        escrow = await uow.ledger.balance(MX, Account.escrow(order_id), MXN)
    assert dispute is not None
    assert order is not None
    return {
        "dispute": dispute.status,
        "order": order.status,
        "jobs": [(j.payload["step"], j.status) for j in jobs],
        "postings": [
            (
                t.idempotency_key.rsplit("/", 1)[-1],
                t.kind,
                [(p.account.name.replace(order_id, "O"), p.side, p.amount.minor) for p in t.postings],
            )
            for t in transactions
        ],
        "escrow": escrow.amount.minor,
    }


async def test_sigkill_mid_saga_then_restart_equals_a_crash_free_run(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], migrated_url: str, tmp_path: Path
) -> None:
    svc = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(svc)
    crashed = await dispute_under_review(svc, "o1")
    await decide(svc, crashed, OutcomeCode.FULL_REFUND, key="crash")
    state = tmp_path / "provider.json"
    refund_key = f"dispute:{crashed.id}/FULL_REFUND/provider_refund"

    # 1. Killed right after the provider moved the money, before anything was recorded.
    assert await run_worker(migrated_url, state, "provider", 0) == -signal.SIGKILL
    provider = json.loads(state.read_text())
    assert provider["refunds"] == {refund_key: 123_000}
    async with svc.uow() as uow:
        job = await uow.outbox.by_key(refund_key)
        assert job is not None
        assert job.status is JobStatus.RUNNING  # leased by the dead worker
        assert await uow.ledger.transactions_for(MX, f"dispute:{crashed.id}/") == []

    # 2. Restarted after the lease expired: the provider sees the same key (no new money);
    #    then the process is killed inside the ledger transaction, before commit.
    assert await run_worker(migrated_url, state, "ledger", 120) == -signal.SIGKILL
    provider = json.loads(state.read_text())
    assert provider["calls"][refund_key] == 2
    assert provider["refunds"] == {refund_key: 123_000}
    async with svc.uow() as uow:
        assert await uow.ledger.transactions_for(MX, f"dispute:{crashed.id}/") == []  # rolled back

    # 3. Restarted again: it finishes.
    assert await run_worker(migrated_url, state, "never", 240) == 0

    # A crash-free run of the same scenario on another order, in this process.
    clean = await dispute_under_review(svc, "o2")
    await decide(svc, clean, OutcomeCode.FULL_REFUND, key="clean")
    await SagaRunner(svc, Providers(FakePayments(), FakeNotifications())).drain()

    after_crashes = await summary(svc, "o1", crashed.id)
    crash_free = await summary(svc, "o2", clean.id)
    assert after_crashes["dispute"] is DisputeStatus.RESOLVED
    assert after_crashes == crash_free
    assert len(after_crashes["postings"]) == 1  # type: ignore[arg-type]
    assert json.loads(state.read_text())["refunds"] == {refund_key: 123_000}
