"""Expected failures as GraphQL types: members of every result union.

Six shapes, shared by every operation, all implementing the ``Error`` interface
(``code`` from ``docs/errors.md`` and a ``message`` for people):

- ``UnauthenticatedError``: no valid bearer token or API key;
- ``ForbiddenError``: the role may not, or the country is outside the caller's scope (audited);
- ``NotFoundError``: no such object in this country, or one the caller may not see;
- ``InvalidInputError``: a field broke a rule (``field`` names it, in camelCase);
- ``ConflictError``: optimistic concurrency or an idempotency key in use / reused;
- ``RuleViolationError``: any other domain rule (an illegal transition, a closed window...).

Unexpected failures are exceptions: masked by ``MaskErrors`` and logged with the request id.
"""

from __future__ import annotations

from typing import TypeAlias

import strawberry

from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey
from application.security.principal import Forbidden
from domain.shared import DomainError, InvalidInput
from interfaces.auth import Unauthenticated
from interfaces.graphql.observability import note_error


@strawberry.interface(description="An expected failure: a stable code (see docs/errors.md) and a message.")
class Error:
    code: str
    message: str

    def __post_init__(self) -> None:
        note_error(type(self).__name__, self.code)  # errors by type, in /metrics


@strawberry.type(description="No valid credentials: send `Authorization: Bearer <jwt>` or `X-Api-Key`.")
class UnauthenticatedError(Error):
    pass


@strawberry.type(description="The caller's role may not do this, or not in this country. Audited.")
class ForbiddenError(Error):
    operation: str
    country_code: str


@strawberry.type(description="No such object in this country (or one the caller may not see).")
class NotFoundError(Error):
    kind: str
    id: str


@strawberry.type(description="A field broke a rule; nothing was changed.")
class InvalidInputError(Error):
    field: str


@strawberry.type(description="Concurrent change or idempotency-key conflict; nothing was changed.")
class ConflictError(Error):
    pass


@strawberry.type(description="A domain rule refused the operation (code says which); nothing was changed.")
class RuleViolationError(Error):
    pass


AnyError: TypeAlias = (
    UnauthenticatedError
    | ForbiddenError
    | NotFoundError
    | InvalidInputError
    | ConflictError
    | RuleViolationError
)
GuardError: TypeAlias = UnauthenticatedError | ForbiddenError | InvalidInputError
"""What the scope guard can answer before any resolver work."""
ReadError: TypeAlias = UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def unauthenticated(error: Unauthenticated | None = None) -> UnauthenticatedError:
    error = error or Unauthenticated()
    return UnauthenticatedError(code=error.code, message=error.message)


def forbidden(error: Forbidden) -> ForbiddenError:
    return ForbiddenError(
        code=error.code, message=error.message, operation=error.operation, country_code=error.country
    )


def not_found(kind: str, id: str) -> NotFoundError:
    error = NotFound(kind, id)
    return NotFoundError(code=error.code, message=error.message, kind=kind, id=id)


def invalid_input(error: InvalidInput) -> InvalidInputError:
    field = camel(error.field)
    return InvalidInputError(code=error.code, message=f"{field}: {error.reason}", field=field)


def invalid_field(field: str, reason: str) -> InvalidInputError:
    return invalid_input(InvalidInput(field, reason))


def to_error(error: DomainError) -> AnyError:
    """The union member for a use case's typed failure."""
    match error:
        case Unauthenticated():
            return unauthenticated(error)
        case Forbidden():
            return forbidden(error)
        case NotFound():
            return NotFoundError(code=error.code, message=error.message, kind=error.kind, id=error.id)
        case InvalidInput():
            return invalid_input(error)
        case InvalidIdempotencyKey():
            return InvalidInputError(code=error.code, message=error.message, field="idempotencyKey")
        case ConcurrencyConflict() | IdempotencyKeyReused() | IdempotencyKeyInFlight():
            return ConflictError(code=error.code, message=error.message)
        case _:
            return RuleViolationError(code=error.code, message=error.message)


ERROR_TYPES: tuple[type, ...] = (
    UnauthenticatedError,
    ForbiddenError,
    NotFoundError,
    InvalidInputError,
    ConflictError,
    RuleViolationError,
)
