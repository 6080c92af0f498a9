"""``UnitOfWork`` on an ``AsyncSession``: one transaction, its repositories, no implicit commit.

    uow_factory = unit_of_work_factory(create_session_factory(engine))
    async with uow_factory() as uow:
        await uow.audit.append(draft)
        await uow.commit()

Leaving the block rolls back whatever was not committed and returns the connection to
the pool. Repositories receive the session and never commit. ``commit()`` first appends the
audit entries use cases staged (``uow.audit.stage``), so they commit with the change.

To add a repository: annotate it on the class, construct it in ``_bind_repositories``,
and declare it on the ``UnitOfWork`` port (``application/ports/unit_of_work.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.api_keys import SqlAlchemyApiKeyRepository
from adapters.persistence.audit_log import SqlAlchemyAuditLog
from adapters.persistence.case_bundles import SqlAlchemyCaseBundleRepository
from adapters.persistence.cases import SqlAlchemyCaseRepository, SqlAlchemySlaPolicyRepository
from adapters.persistence.circuits import SqlAlchemyCircuitBreakers
from adapters.persistence.conversations import SqlAlchemyConversationRepository
from adapters.persistence.disputes import SqlAlchemyDisputeRepository
from adapters.persistence.idempotency import SqlAlchemyIdempotencyKeys
from adapters.persistence.ledger import SqlAlchemyLedgerRepository
from adapters.persistence.orders import SqlAlchemyOrderRepository
from adapters.persistence.outbox import SqlAlchemyOutbox
from adapters.persistence.platform_incidents import (
    SqlAlchemyCaseHistory,
    SqlAlchemyPlatformIncidentRepository,
)
from adapters.persistence.policies import SqlAlchemyPolicyRepository
from adapters.persistence.tracking import SqlAlchemyTrackingRecords
from adapters.persistence.webhook_inbox import SqlAlchemyWebhookInbox
from domain.shared import DomainEvent


class SqlAlchemyUnitOfWork:
    audit: SqlAlchemyAuditLog
    ledger: SqlAlchemyLedgerRepository
    orders: SqlAlchemyOrderRepository
    disputes: SqlAlchemyDisputeRepository
    policies: SqlAlchemyPolicyRepository
    idempotency: SqlAlchemyIdempotencyKeys
    outbox: SqlAlchemyOutbox
    api_keys: SqlAlchemyApiKeyRepository
    webhook_inbox: SqlAlchemyWebhookInbox
    circuits: SqlAlchemyCircuitBreakers
    conversations: SqlAlchemyConversationRepository
    cases: SqlAlchemyCaseRepository
    sla_policies: SqlAlchemySlaPolicyRepository
    platform_incidents: SqlAlchemyPlatformIncidentRepository
    case_history: SqlAlchemyCaseHistory
    case_bundles: SqlAlchemyCaseBundleRepository
    tracking: SqlAlchemyTrackingRecords

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None

    def _bind_repositories(self, session: AsyncSession) -> None:
        self.audit = SqlAlchemyAuditLog(session)
        self.ledger = SqlAlchemyLedgerRepository(session)
        self.orders = SqlAlchemyOrderRepository(session)
        self.disputes = SqlAlchemyDisputeRepository(session)
        self.policies = SqlAlchemyPolicyRepository(session)
        self.idempotency = SqlAlchemyIdempotencyKeys(session)
        self.outbox = SqlAlchemyOutbox(session)
        self.api_keys = SqlAlchemyApiKeyRepository(session)
        self.webhook_inbox = SqlAlchemyWebhookInbox(session)
        self.circuits = SqlAlchemyCircuitBreakers(session)
        self.conversations = SqlAlchemyConversationRepository(session)
        self.cases = SqlAlchemyCaseRepository(session)
        self.sla_policies = SqlAlchemySlaPolicyRepository(session)
        self.platform_incidents = SqlAlchemyPlatformIncidentRepository(session)
        self.case_history = SqlAlchemyCaseHistory(session)
        self.case_bundles = SqlAlchemyCaseBundleRepository(session)
        self.tracking = SqlAlchemyTrackingRecords(session)

    @property
    def session(self) -> AsyncSession:
        """The open session, for adapters that work inside this unit of work (never for use cases)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open; make one per use-case call")
        self._session = self._session_factory()
        self._bind_repositories(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        # the staged audit entries are the transaction's last write: the chain's lock is
        # taken here and held only for their INSERT and the COMMIT (D50)
        await self.audit.flush()
        await self.session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            self.audit.discard()
        await self.session.rollback()

    def collect_events(self) -> list[DomainEvent]:
        """Pull the pending events of every order and dispute loaded or added in this unit
        of work (so a second call returns only newer ones), in time order; events of the same
        instant keep the order their aggregates were first seen in and recorded them in."""
        if not hasattr(self, "orders"):  # never opened
            return []
        pending: list[DomainEvent] = []
        for order in self.orders.seen:
            pending.extend(order.pull_events())
        for dispute in self.disputes.seen:
            pending.extend(dispute.pull_events())
        for conversation in self.conversations.seen:
            pending.extend(conversation.pull_events())
        for case in self.cases.seen:
            pending.extend(case.pull_events())
        for incident in self.platform_incidents.seen:
            pending.extend(incident.pull_events())
        return sorted(pending, key=lambda event: event.occurred_at)


def unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[], SqlAlchemyUnitOfWork]:
    """A new ``SqlAlchemyUnitOfWork`` per call (satisfies ``UnitOfWorkFactory``)."""
    return partial(SqlAlchemyUnitOfWork, session_factory)
