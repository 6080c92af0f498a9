"""UnitOfWork port: one transaction, the repositories that work inside it.

Usage in a use case::

    async with uow_factory() as uow:
        ...                                   # read and change aggregates
        await uow.audit.append(draft)         # same transaction as the change
        await uow.commit()                    # nothing is kept without this

Leaving the ``async with`` block without ``commit()`` (an early ``return Failure(...)``,
an exception) rolls everything back. Repositories never commit.

Adding a repository: declare it here as a read-only property returning its port
(``@property def orders(self) -> OrderRepository: ...``) and bind it in the adapter's
``SqlAlchemyUnitOfWork._bind_repositories``; in-memory fakes add a plain attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from application.ports.api_keys import ApiKeyRepository
from application.ports.audit import AuditLog
from application.ports.case_bundles import CaseBundleRepository
from application.ports.cases import CaseRepository, SlaPolicyRepository
from application.ports.circuits import CircuitBreakers
from application.ports.disputes import DisputeRepository
from application.ports.idempotency import IdempotencyKeys
from application.ports.ledger import LedgerRepository
from application.ports.orders import OrderRepository
from application.ports.outbox import Outbox
from application.ports.platform_incidents import CaseHistory, PlatformIncidentRepository
from application.ports.policies import PolicyRepository
from application.ports.tracking import TrackingRecords
from application.ports.webhook_inbox import WebhookInbox
from domain.shared import DomainEvent

if TYPE_CHECKING:  # messaging's ports name this protocol (MessagingUnitOfWork): no import cycle
    from application.ports.messaging import ConversationRepository


class UnitOfWork(Protocol):
    @property
    def audit(self) -> AuditLog: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def disputes(self) -> DisputeRepository: ...

    @property
    def policies(self) -> PolicyRepository: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def webhook_inbox(self) -> WebhookInbox: ...

    @property
    def circuits(self) -> CircuitBreakers: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def tracking(self) -> TrackingRecords: ...

    @property
    def sla_policies(self) -> SlaPolicyRepository: ...

    @property
    def platform_incidents(self) -> PlatformIncidentRepository: ...

    @property
    def case_history(self) -> CaseHistory: ...

    @property
    def case_bundles(self) -> CaseBundleRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, then release the connection."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def collect_events(self) -> list[DomainEvent]:
        """Pull the pending domain events of every aggregate loaded or added in this unit of
        work, oldest first; they are cleared, so each event is collected once."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""A fresh unit of work per use-case call (``async with uow_factory() as uow:``)."""
