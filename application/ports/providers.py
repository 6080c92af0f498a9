"""Provider ports: the outside world the saga talks to (payments, notifications).

Every call carries the step's idempotency key: a provider that sees a key again must
answer with its first result and move no money twice. Expected provider failures are
values: transient ones are retried, permanent ones are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from returns.result import Result

from domain.shared import DomainError, Money


class ProviderFailureKind(StrEnum):
    TRANSIENT = "TRANSIENT"  # 5xx, timeouts: retry with backoff
    PERMANENT = "PERMANENT"  # 4xx, declines: do not retry


@dataclass(frozen=True, slots=True)
class ProviderError(DomainError):
    code: ClassVar[str] = "PROVIDER_ERROR"
    provider: str
    operation: str
    kind: ProviderFailureKind
    detail: str

    @property
    def message(self) -> str:
        return f"{self.provider}.{self.operation} failed ({self.kind.value.lower()}): {self.detail}"


@dataclass(frozen=True, slots=True)
class ProviderReceipt:
    """What a provider answered: its own reference for the operation.

    ``confirmed=False`` means *accepted, confirmation to follow*: the provider will send a
    signed webhook when the operation settles (or fails); until then the step waits.
    """

    provider: str
    operation: str
    idempotency_key: str
    reference: str
    confirmed: bool = True


class PaymentsProvider(Protocol):
    name: str

    async def refund(
        self, *, idempotency_key: str, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]: ...


class NotificationsProvider(Protocol):
    name: str

    async def notify(
        self, *, idempotency_key: str, recipient_role: str, recipient_id: str, template: str
    ) -> Result[ProviderReceipt, ProviderError]: ...
