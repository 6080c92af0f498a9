"""The worker pool's adaptive batch size and its in-process cache of closed circuits (D59).
No I/O: ``next_batch`` is arithmetic and ``ClosedCircuits`` a dictionary with a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.context import Services
from application.saga.executor import ClosedCircuits, Providers, SagaRunner
from application.saga.worker_pool import WorkerPool
from domain.integrations import Admission, Circuit, CircuitState, Verdict
from domain.shared import CountryCode
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds

MX = CountryCode("MX")
KEY = (MX, "pinger")
AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def unused_uow() -> object:
    raise AssertionError("no transaction expected")


def pool(*, batch: int = 10, max_batch: int = 100, lease: timedelta = timedelta(seconds=30)) -> WorkerPool:
    services = Services(uow=unused_uow, clock=FixedClock(), ids=SequentialIds())  # type: ignore[arg-type]
    runner = SagaRunner(services, Providers(FakePayments(), FakeNotifications()), lease=lease)
    return WorkerPool(runner, batch=batch, max_batch=max_batch)


def test_a_deep_queue_of_quick_jobs_doubles_the_batch_up_to_max_batch() -> None:
    workers = pool(batch=10, max_batch=100)
    sizes = [10]
    for _ in range(6):  # every claim came back full, 1 ms a job
        sizes.append(workers.next_batch(sizes[-1], claimed=sizes[-1], seconds=sizes[-1] * 0.001))
    assert sizes == [10, 20, 40, 80, 100, 100, 100]


def test_a_short_claim_goes_back_to_the_configured_batch() -> None:
    workers = pool(batch=10, max_batch=100)
    assert workers.next_batch(80, claimed=79, seconds=0.08) == 10  # the queue is no longer deep
    assert workers.next_batch(10, claimed=3, seconds=0.003) == 10


def test_the_batch_grows_only_while_a_batch_fits_an_eighth_of_the_lease() -> None:
    # lease 30 s: a claimed batch should be carried out within 3.75 s
    workers = pool(batch=10, max_batch=100)
    assert workers.next_batch(10, claimed=10, seconds=1.0) == 20  # 0.1 s a job: 20 jobs = 2 s
    assert workers.next_batch(20, claimed=20, seconds=2.0) == 20  # 40 jobs would take 4 s: stays
    assert workers.next_batch(40, claimed=40, seconds=4.0) == 20  # took longer than 3.75 s: halved
    assert workers.next_batch(10, claimed=10, seconds=10.0) == 10  # never below ``batch``
    assert workers.next_batch(10, claimed=10, seconds=1.0 - 1e-9) == 20


def test_max_batch_below_batch_means_no_growth_and_zero_is_refused() -> None:
    assert pool(batch=10, max_batch=10).next_batch(10, claimed=10, seconds=0.01) == 10
    assert pool(batch=20, max_batch=5).next_batch(20, claimed=20, seconds=0.01) == 20
    with pytest.raises(ValueError, match="max_batch"):
        pool(max_batch=0)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def closed(failures: int = 0) -> Admission:
    return Admission(Verdict.CALL, Circuit(MX, "pinger", consecutive_failures=failures))


def test_a_closed_verdict_is_trusted_for_refresh_seconds_from_before_its_read() -> None:
    ticks = Ticks()
    circuits = ClosedCircuits(refresh=1.0, clock=ticks)
    assert circuits.get(KEY) is None
    circuits.keep(KEY, closed(), read_at=99.5)  # the read began half a second ago
    assert circuits.get(KEY) == closed()
    ticks.now = 100.49
    assert circuits.get(KEY) == closed()
    ticks.now = 100.5  # one second after the read began: stale, read the circuit again
    assert circuits.get(KEY) is None
    ticks.now = 99.0
    assert circuits.get(KEY) is None  # dropped, not resurrected


def test_only_a_call_verdict_is_kept_and_forget_drops_it_at_once() -> None:
    ticks = Ticks()
    circuits = ClosedCircuits(refresh=60.0, clock=ticks)
    opened = Circuit(MX, "pinger", CircuitState.OPEN, 5, opened_at=AT, updated_at=AT)
    circuits.keep(KEY, Admission(Verdict.WAIT, opened, retry_at=AT), read_at=ticks.now)
    trial = Circuit(
        MX, "pinger", CircuitState.HALF_OPEN, 5, AT, trial_owner="w", trial_until=AT, updated_at=AT
    )
    circuits.keep(KEY, Admission(Verdict.TRIAL, trial), read_at=ticks.now)
    assert circuits.get(KEY) is None
    circuits.keep(KEY, closed(2), read_at=ticks.now)
    assert circuits.get(KEY) == closed(2)
    circuits.forget(KEY)
    assert circuits.get(KEY) is None
    circuits.forget(KEY)  # forgetting twice is harmless


def test_refresh_zero_never_trusts_a_verdict_and_negative_is_refused() -> None:
    circuits = ClosedCircuits(refresh=0.0, clock=Ticks())
    circuits.keep(KEY, closed(), read_at=100.0)
    assert circuits.get(KEY) is None
    with pytest.raises(ValueError, match="refresh"):
        ClosedCircuits(refresh=-1.0)
