"""What every use case receives besides its command: who asks, and the request's id."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.security.principal import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    request_id: str


@dataclass(frozen=True, slots=True)
class Services:
    """The ports every use case uses: transactions, time and identifiers."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
