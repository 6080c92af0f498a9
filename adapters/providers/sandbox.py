"""In-process sandbox providers: the embedded default.

Like a real provider, a repeated idempotency key returns the first answer and moves no
money again. ``fail_keys`` makes chosen operations fail permanently (a decline), so the
demo data and tests can show the dead-letter path. (Asynchronous confirmations by
signed webhook, latency and random failure rates come with the integration hub.)
"""

from __future__ import annotations

import hashlib

from returns.result import Failure, Result, Success

from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from domain.shared import Money


def _reference(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


class SandboxPayments:
    name = "sandbox-payments"

    def __init__(self, fail_orders: frozenset[str] = frozenset()) -> None:
        self._answers: dict[str, Result[ProviderReceipt, ProviderError]] = {}
        self._fail_orders = fail_orders
        self.refunded: dict[str, Money] = {}

    async def refund(
        self, *, idempotency_key: str, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        if idempotency_key not in self._answers:
            if order_id in self._fail_orders:
                self._answers[idempotency_key] = Failure(
                    ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "card_declined")
                )
            else:
                self.refunded[idempotency_key] = amount
                self._answers[idempotency_key] = Success(
                    ProviderReceipt(self.name, "refund", idempotency_key, _reference("re", idempotency_key))
                )
        return self._answers[idempotency_key]


class SandboxNotifications:
    name = "sandbox-notifications"

    def __init__(self) -> None:
        self.sent: dict[str, tuple[str, str, str]] = {}

    async def notify(
        self, *, idempotency_key: str, recipient_role: str, recipient_id: str, template: str
    ) -> Result[ProviderReceipt, ProviderError]:
        self.sent.setdefault(idempotency_key, (recipient_role, recipient_id, template))
        return Success(
            ProviderReceipt(self.name, "notify", idempotency_key, _reference("msg", idempotency_key))
        )
