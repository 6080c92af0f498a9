"""The HTTP payments adapter's contract, against ``httpx.MockTransport``: what it sends
(idempotency key, credentials, JSON) and how every answer maps onto a receipt or a
transient/permanent error. (The same adapter over a real socket: tests/integration.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from returns.result import Failure

from adapters.providers.http_payments import HttpPayments
from application.ports.providers import ProviderFailureKind
from domain.shared import CountryCode, Money

MX = CountryCode("MX")
AMOUNT = Money.of(123_000, "MXN")


def adapter(handler: Callable[[httpx.Request], httpx.Response]) -> HttpPayments:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpPayments("https://psp.test/", api_key="sk_test", client=client)


async def test_it_sends_the_key_the_credentials_and_exact_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "re_1", "status": "succeeded"})

    payments = adapter(handler)
    receipt = (
        await payments.refund(idempotency_key="dispute:d1/refund", country=MX, order_id="o1", amount=AMOUNT)
    ).unwrap()
    assert receipt.reference == "re_1"
    assert receipt.confirmed
    assert receipt.operation == "refund"
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://psp.test/v1/refunds"
    assert request.headers["Idempotency-Key"] == "dispute:d1/refund"
    assert request.headers["Authorization"] == "Bearer sk_test"
    assert json.loads(request.content) == {
        "order_id": "o1",
        "amount_minor": 123_000,
        "currency": "MXN",
        "country": "MX",
    }


async def test_capture_and_payout_use_their_resources() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(201, json={"id": "x_1", "status": "succeeded"})

    payments = adapter(handler)
    await payments.capture(idempotency_key="c", country=MX, order_id="o1", amount=AMOUNT)
    await payments.payout(idempotency_key="p", country=MX, payee_id="sel_1", amount=AMOUNT)
    assert paths == ["/v1/captures", "/v1/payouts"]


async def test_pending_is_accepted_awaiting_a_webhook() -> None:
    payments = adapter(lambda _: httpx.Response(202, json={"id": "re_2", "status": "pending"}))
    receipt = (await payments.refund(idempotency_key="k", country=MX, order_id="o1", amount=AMOUNT)).unwrap()
    assert not receipt.confirmed


@pytest.mark.parametrize(
    ("response", "kind", "detail"),
    [
        (httpx.Response(500), ProviderFailureKind.TRANSIENT, "http_500"),
        (httpx.Response(503, text="down"), ProviderFailureKind.TRANSIENT, "http_503"),
        (httpx.Response(429), ProviderFailureKind.TRANSIENT, "http_429"),
        (httpx.Response(409), ProviderFailureKind.TRANSIENT, "http_409"),
        (
            httpx.Response(402, json={"error": {"code": "card_declined"}}),
            ProviderFailureKind.PERMANENT,
            "http_402: card_declined",
        ),
        (httpx.Response(400, text="<html>"), ProviderFailureKind.PERMANENT, "http_400: unreadable error"),
        (httpx.Response(404, json={}), ProviderFailureKind.PERMANENT, "http_404: refused"),
        (
            httpx.Response(200, json={"id": "re_3", "status": "failed", "failure_reason": "expired_card"}),
            ProviderFailureKind.PERMANENT,
            "expired_card",
        ),
        (httpx.Response(200, text="not json"), ProviderFailureKind.TRANSIENT, "unreadable answer"),
        (
            httpx.Response(200, json={"status": "succeeded"}),
            ProviderFailureKind.TRANSIENT,
            "unreadable answer",
        ),
        (httpx.Response(304), ProviderFailureKind.TRANSIENT, "unexpected http_304"),
    ],
)
async def test_answers_map_onto_transient_and_permanent_errors(
    response: httpx.Response, kind: ProviderFailureKind, detail: str
) -> None:
    payments = adapter(lambda _: response)
    result = await payments.refund(idempotency_key="k", country=MX, order_id="o1", amount=AMOUNT)
    assert isinstance(result, Failure)
    assert result.failure().kind is kind
    assert result.failure().detail == detail
    assert result.failure().provider == "http-payments"


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (httpx.ReadTimeout("slow"), "timeout: ReadTimeout"),
        (httpx.ConnectTimeout("slow"), "timeout: ConnectTimeout"),
        (httpx.ConnectError("refused"), "network: ConnectError"),
        (httpx.RemoteProtocolError("cut"), "network: RemoteProtocolError"),
    ],
)
async def test_timeouts_and_network_errors_are_transient(error: httpx.TransportError, detail: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    result = await adapter(handler).payout(idempotency_key="k", country=MX, payee_id="s", amount=AMOUNT)
    assert isinstance(result, Failure)
    assert result.failure().kind is ProviderFailureKind.TRANSIENT
    assert result.failure().detail == detail


async def test_the_adapter_closes_only_a_client_it_owns() -> None:
    owned = HttpPayments("https://psp.test")
    await owned.aclose()
    assert owned._client.is_closed
    shared = httpx.AsyncClient()
    borrowing = HttpPayments("https://psp.test", client=shared)
    await borrowing.aclose()
    assert not shared.is_closed
    await shared.aclose()
