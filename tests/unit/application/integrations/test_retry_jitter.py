"""Retry timing (SPEC §7: "exponential backoff with full jitter up to a maximum"): the wait
after the n-th failed attempt is ``rand() * min(cap, base * 2**(n-1))``, and the runner the
composition root builds for production draws ``rand`` from ``random.random``. No I/O."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from application.context import Services
from application.saga.executor import Providers, SagaRunner
from application.saga.retry import RetryPolicy
from interfaces.container import saga_runner
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds

POLICY = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(minutes=5))


def unused_uow() -> object:
    raise AssertionError("no transaction expected")


def production_runner() -> SagaRunner:
    services = Services(uow=unused_uow, clock=FixedClock(), ids=SequentialIds())  # type: ignore[arg-type]
    return saga_runner(
        services,
        Providers(FakePayments(), FakeNotifications()),
        worker_id="w1",
        metrics=RecordingMetrics(),
        job_kinds={},
    )


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [
        (1, 0.0, timedelta(0)),  # full jitter reaches down to no wait at all
        (1, 0.5, timedelta(seconds=0.5)),
        (2, 0.5, timedelta(seconds=1)),
        (3, 0.25, timedelta(seconds=1)),
        (9, 0.5, timedelta(seconds=128)),  # 0.5 * 2**8 s
        (10, 0.5, timedelta(seconds=150)),  # 2**9 s = 512 s is past the cap: 0.5 * 300 s
        (30, 0.999, timedelta(seconds=299.7)),  # capped however many attempts
        (0, 0.5, timedelta(seconds=0.5)),  # an attempt below 1 counts as the first
    ],
)
def test_the_wait_is_a_random_fraction_of_the_capped_exponential(
    attempt: int, draw: float, expected: timedelta
) -> None:
    assert POLICY.delay(attempt, lambda: draw) == expected


def test_the_production_runner_draws_its_jitter_from_random() -> None:
    runner = production_runner()
    assert runner.rand is random.random
    random.seed(7)  # the module's generator: reproducible here, random in production
    for attempt in (1, 4, 12):
        ceiling = min(POLICY.cap, POLICY.base * 2 ** (attempt - 1))
        waits = [POLICY.delay(attempt, runner.rand) for _ in range(200)]
        assert all(timedelta(0) <= wait < ceiling for wait in waits)
        assert len(set(waits)) == 200  # drawn per retry, not one fixed fraction
        assert min(waits) < ceiling * 0.1 and max(waits) > ceiling * 0.9  # spread over [0, ceiling)


def test_the_production_runner_reports_to_the_given_metrics() -> None:
    runner = production_runner()
    assert isinstance(runner.metrics, RecordingMetrics)
    assert runner.worker_id == "w1"
