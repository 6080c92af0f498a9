"""In-memory providers that behave like real ones where it matters for exactly-once:
a repeated idempotency key returns the first answer and moves no money twice, and every
call is counted per key so tests can prove it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from returns.result import Failure, Result, Success

from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from domain.shared import CountryCode, Money


@dataclass
class FakePayments:
    name: str = "fake-payments"
    calls: Counter[str] = field(default_factory=Counter)
    refunds: dict[str, Money] = field(default_factory=dict)  # money actually moved, by key
    fail_next: list[ProviderFailureKind] = field(default_factory=list)
    fail_always: ProviderFailureKind | None = None
    captures: dict[str, Money] = field(default_factory=dict)
    payouts: dict[str, Money] = field(default_factory=dict)

    def _move(
        self, operation: str, key: str, amount: Money, moved: dict[str, Money]
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[key] += 1
        kind = self.fail_always or (self.fail_next.pop(0) if self.fail_next else None)
        if kind is not None:
            return Failure(ProviderError(self.name, operation, kind, "simulated failure"))
        moved.setdefault(key, amount)
        return Success(ProviderReceipt(self.name, operation, key, f"{operation[:2]}_{key}"))

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._move("refund", idempotency_key, amount, self.refunds)

    async def capture(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._move("capture", idempotency_key, amount, self.captures)

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._move("payout", idempotency_key, amount, self.payouts)

    @property
    def total_refunded_minor(self) -> int:
        return sum(m.minor for m in self.refunds.values())


@dataclass
class FakeNotifications:
    name: str = "fake-notifications"
    calls: Counter[str] = field(default_factory=Counter)
    sent: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._send("notify", idempotency_key, (recipient_role, recipient_id, template))

    async def push(
        self, *, idempotency_key: str, country: CountryCode, recipient_id: str, title: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._send("push", idempotency_key, (recipient_id, title, body))

    async def email(
        self, *, idempotency_key: str, country: CountryCode, to_address: str, subject: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        return self._send("email", idempotency_key, (to_address, subject, body))

    def _send(
        self, operation: str, key: str, message: tuple[str, str, str]
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[key] += 1
        self.sent.setdefault(key, message)
        return Success(ProviderReceipt(self.name, operation, key, f"msg_{key}"))
