"""The HTTP payments adapter over a real socket: a small payment provider (Starlette under
uvicorn, on 127.0.0.1 and a free port) that keeps first answers by idempotency key,
fails on request, and is slow on request. Error mapping end to end, and the saga driving
the adapter through 5xx retries to exactly one refund (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from returns.result import Failure
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.http_payments import HttpPayments
from application.context import Services
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId
from tests.fakes.providers import FakeNotifications
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.local_server import serve
from tests.integration.scenario import MX, MXN, add_policy, decide, dispute_under_review

AMOUNT = Money.of(123_000, "MXN")


class FakePsp:
    """A provider with the adapter's wire contract. Order ids choose the behaviour:
    ``*down*``: 503 for the first ``outage_calls`` calls of a key (not remembered);
    ``*decline*``: 402 card_declined (remembered); ``*slow*``: answers after ``slow_s``."""

    def __init__(self, *, outage_calls: int = 2, slow_s: float = 1.0) -> None:
        self.calls: Counter[str] = Counter()
        self.moved: dict[str, int] = {}
        self.seen: list[tuple[str, dict[str, Any], str]] = []
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self._outage_calls = outage_calls
        self._slow_s = slow_s
        self.app = Starlette(routes=[Route("/v1/{resource}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "")
        body: dict[str, Any] = await request.json()
        self.calls[key] += 1
        self.seen.append((request.url.path, body, request.headers.get("authorization", "")))
        if key in self._answers:
            status, answer = self._answers[key]
            return JSONResponse(answer, status_code=status)
        subject = str(body.get("order_id", body.get("payee_id", "")))
        if "down" in subject and self.calls[key] <= self._outage_calls:
            return JSONResponse({"error": {"code": "unavailable"}}, status_code=503)
        if "slow" in subject:
            await asyncio.sleep(self._slow_s)
        if "decline" in subject:
            self._answers[key] = (402, {"error": {"code": "card_declined"}})
        else:
            self.moved[key] = int(body["amount_minor"])
            self._answers[key] = (200, {"id": f"re_{len(self._answers) + 1}", "status": "succeeded"})
        status, answer = self._answers[key]
        return JSONResponse(answer, status_code=status)


@pytest.fixture
async def psp() -> AsyncIterator[tuple[FakePsp, str]]:
    provider = FakePsp(slow_s=1.0)
    async with serve(provider.app) as url:
        yield provider, url


@pytest.fixture
async def payments(psp: tuple[FakePsp, str]) -> AsyncIterator[HttpPayments]:
    adapter = HttpPayments(psp[1], api_key="sk_test", timeout_s=0.3)
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def test_over_a_socket_a_repeated_key_moves_money_once(
    psp: tuple[FakePsp, str], payments: HttpPayments
) -> None:
    provider, _ = psp
    first = await payments.refund(
        idempotency_key="k1", country=CountryCode("MX"), order_id="o1", amount=AMOUNT
    )
    again = await payments.refund(
        idempotency_key="k1", country=CountryCode("MX"), order_id="o1", amount=AMOUNT
    )
    assert first == again
    assert first.unwrap().confirmed
    assert provider.moved == {"k1": 123_000}
    assert provider.calls == {"k1": 2}
    path, body, authorization = provider.seen[0]
    assert path == "/v1/refunds"
    assert body == {"order_id": "o1", "amount_minor": 123_000, "currency": "MXN", "country": "MX"}
    assert authorization == "Bearer sk_test"


async def test_over_a_socket_errors_map_to_transient_and_permanent(
    psp: tuple[FakePsp, str], payments: HttpPayments
) -> None:
    provider, _ = psp
    mx = CountryCode("MX")
    down = await payments.capture(idempotency_key="d", country=mx, order_id="o-down", amount=AMOUNT)
    assert isinstance(down, Failure)
    assert (down.failure().kind, down.failure().detail) == (ProviderFailureKind.TRANSIENT, "http_503")

    declined = await payments.refund(idempotency_key="x", country=mx, order_id="o-decline", amount=AMOUNT)
    assert isinstance(declined, Failure)
    assert declined.failure().kind is ProviderFailureKind.PERMANENT
    assert declined.failure().detail == "http_402: card_declined"

    slow = await payments.payout(idempotency_key="s", country=mx, payee_id="sel-slow", amount=AMOUNT)
    assert isinstance(slow, Failure)
    assert slow.failure().kind is ProviderFailureKind.TRANSIENT
    assert slow.failure().detail.startswith("timeout")
    await asyncio.sleep(1.2)  # the provider finished meanwhile: the retry gets its answer
    retried = await payments.payout(idempotency_key="s", country=mx, payee_id="sel-slow", amount=AMOUNT)
    assert retried.unwrap().confirmed
    assert provider.moved["s"] == 123_000


async def test_nothing_listening_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = HttpPayments(f"http://127.0.0.1:{port}", timeout_s=1.0)
    try:
        result = await adapter.refund(
            idempotency_key="k", country=CountryCode("MX"), order_id="o", amount=AMOUNT
        )
    finally:
        await adapter.aclose()
    assert isinstance(result, Failure)
    assert result.failure().kind is ProviderFailureKind.TRANSIENT


async def test_the_saga_retries_5xx_with_the_same_key_and_refunds_once(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], psp: tuple[FakePsp, str], payments: HttpPayments
) -> None:
    provider, _ = psp
    clock = FixedClock()
    svc = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(svc)
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1")
    dispute = await dispute_under_review(svc, "o-down-1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)

    outcomes: list[StepOutcome] = []
    for _ in range(20):
        outcomes += await runner.drain()
        clock.advance(timedelta(hours=1))  # past any backoff
    assert outcomes.count(StepOutcome.RETRY_SCHEDULED) == 2
    assert outcomes[-1] is StepOutcome.RESOLVED
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert provider.calls == {key: 3}
    assert provider.moved == {key: 123_000}
    async with svc.uow() as uow:
        found = await uow.disputes.get(MX, DisputeId(dispute.id))
        assert found is not None
        assert found.status is DisputeStatus.RESOLVED
        assert (await uow.ledger.balance(MX, Account.escrow("o-down-1"), MXN)).normal.minor == 0
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")) == 1
