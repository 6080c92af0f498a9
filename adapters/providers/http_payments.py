"""A payment provider over HTTP (httpx): how a real provider plugs into ``PaymentsProvider``.

The wire contract (a typical PSP's; adapt the mapping, keep the rules):

- ``POST {base_url}/v1/captures`` / ``/v1/refunds`` / ``/v1/payouts`` with a JSON body
  ``{"order_id" | "payee_id", "amount_minor", "currency", "country"}`` and headers
  ``Idempotency-Key: <the step's key>`` and ``Authorization: Bearer <api key>``. The
  provider answers a repeated key with its first answer and moves no money twice.
- 2xx: ``{"id": "...", "status": "succeeded" | "pending" | "failed", "failure_reason"?}``.
  ``pending`` is a receipt with ``confirmed=False`` (a signed webhook will settle it);
  ``failed`` is a permanent failure (a decline).

Errors are values, classified so the saga knows whether to retry:

- timeouts, connection errors, 5xx, 429 (rate limited) and 409 (the same key still in
  flight at the provider) are **transient**;
- any other 4xx is **permanent** (the request is wrong or refused; the provider's
  ``error.code`` is kept in the detail);
- a 2xx whose body cannot be read is **transient**: the operation may have happened, and
  asking again with the same idempotency key is safe and gets the answer.

No retries here: the saga retries with exponential backoff and jitter, behind the
provider's circuit breaker, always with the same idempotency key.
"""

from __future__ import annotations

from typing import Any, Final

import httpx
from returns.result import Failure, Result, Success

from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from domain.shared import CountryCode, Money

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_TRANSIENT_STATUSES: Final = frozenset({408, 409, 425, 429})


class HttpPayments:
    """``PaymentsProvider`` over HTTP. Pass ``client`` to share a pool or for tests
    (``httpx.MockTransport``); otherwise the adapter owns one (``aclose()`` it)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
        name: str = "http-payments",
    ) -> None:
        self.name = name
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout_s)
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)
        self._owns_client = client is None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def capture(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._post(
            "capture",
            "captures",
            idempotency_key=idempotency_key,
            country=country,
            subject={"order_id": order_id},
            amount=amount,
        )

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._post(
            "refund",
            "refunds",
            idempotency_key=idempotency_key,
            country=country,
            subject={"order_id": order_id},
            amount=amount,
        )

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._post(
            "payout",
            "payouts",
            idempotency_key=idempotency_key,
            country=country,
            subject={"payee_id": payee_id},
            amount=amount,
        )

    async def _post(
        self,
        operation: str,
        resource: str,
        *,
        idempotency_key: str,
        country: CountryCode,
        subject: dict[str, str],
        amount: Money,
    ) -> Result[ProviderReceipt, ProviderError]:
        body = {
            **subject,
            "amount_minor": amount.minor,
            "currency": amount.currency.code,
            "country": country.value,
        }
        headers = {IDEMPOTENCY_HEADER: idempotency_key}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            response = await self._client.post(
                f"{self._base_url}/v1/{resource}", json=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as error:
            return Failure(
                self._error(operation, ProviderFailureKind.TRANSIENT, f"timeout: {type(error).__name__}")
            )
        except httpx.TransportError as error:
            return Failure(
                self._error(operation, ProviderFailureKind.TRANSIENT, f"network: {type(error).__name__}")
            )
        return self._answer(operation, idempotency_key, response)

    def _answer(
        self, operation: str, idempotency_key: str, response: httpx.Response
    ) -> Result[ProviderReceipt, ProviderError]:
        status = response.status_code
        if status >= 500 or status in _TRANSIENT_STATUSES:
            return Failure(self._error(operation, ProviderFailureKind.TRANSIENT, f"http_{status}"))
        if status >= 400:
            code = _error_code(response)
            return Failure(self._error(operation, ProviderFailureKind.PERMANENT, f"http_{status}: {code}"))
        if not 200 <= status < 300:
            return Failure(self._error(operation, ProviderFailureKind.TRANSIENT, f"unexpected http_{status}"))
        try:
            data = response.json()
        except ValueError:
            data = None
        reference = data.get("id") if isinstance(data, dict) else None
        state = data.get("status") if isinstance(data, dict) else None
        if not isinstance(reference, str) or not reference or state not in ("succeeded", "pending", "failed"):
            return Failure(self._error(operation, ProviderFailureKind.TRANSIENT, "unreadable answer"))
        if state == "failed":
            reason = data.get("failure_reason") if isinstance(data, dict) else None
            detail = reason if isinstance(reason, str) and reason else "declined"
            return Failure(self._error(operation, ProviderFailureKind.PERMANENT, detail))
        return Success(
            ProviderReceipt(self.name, operation, idempotency_key, reference, confirmed=state == "succeeded")
        )

    def _error(self, operation: str, kind: ProviderFailureKind, detail: str) -> ProviderError:
        return ProviderError(self.name, operation, kind, detail)


def _error_code(response: httpx.Response) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        return "unreadable error"
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else "refused"
