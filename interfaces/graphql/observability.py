"""GraphQL operations measured and errors tagged with the request id (SPEC §11).

One schema extension hooks the *operation* (never the resolvers: a per-resolver hook
costs on every field of every list item): it times the operation, counts it by name, type
and outcome, counts its errors by type, and writes the request id into the
``extensions`` of every error in the answer (``{"requestId": "req_..."}``), the same id as
the ``X-Request-Id`` header, the logs and the audit entries.

Typed errors (union members such as ``ForbiddenError``) are not GraphQL errors: they are
noted when they are made (``note_error``, called by the ``Error`` types) into a list
the extension binds for the operation (a context variable, so concurrent requests never
mix), and counted when the operation ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from graphql.error import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from interfaces.telemetry import api_metrics

_NOTED: Final[ContextVar[list[tuple[str, str]] | None]] = ContextVar(
    "supportos_graphql_noted_errors", default=None
)
UNEXPECTED: Final = "UNEXPECTED"
INVALID_REQUEST: Final = "INVALID_REQUEST"


def note_error(typename: str, code: str) -> None:
    """A typed error was answered (counted when the operation ends; outside one: ignored)."""
    noted = _NOTED.get()
    if noted is not None:
        noted.append((typename, code))


# Strawberry's own refusals of a request (no query, no such operation, an operation type
# the transport does not allow) carry the exception they were made from; they are the caller's.
_CALLERS_EXCEPTIONS: Final = (
    GraphQLError,
    MissingQueryError,
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)


def is_unexpected(error: GraphQLError) -> bool:
    """An error of ours (a bug or a fault: masked in the answer, logged, counted as
    ``UNEXPECTED``), not the caller's mistake (parse, validation, input coercion, a refused
    operation: answered as it is).

    Ours: an exception raised while executing a field (the error has a path), or one raised
    outside any field - a subscription's source failing mid-stream, an extension's hook -
    which Strawberry wraps with no path and no place in the document (D93). The caller's
    errors point into the document (nodes or positions) or wrap no exception, or one of
    Strawberry's refusals."""
    if error.path is not None:
        return True
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, _CALLERS_EXCEPTIONS)
        and not error.nodes
        and not error.positions
    )


def _error_kind(error: GraphQLError) -> tuple[str, str, str]:
    """(type, code, outcome) of a GraphQL error: ours (:func:`is_unexpected`) or the caller's."""
    if is_unexpected(error):
        original = error.original_error
        return (type(original).__name__ if original is not None else "GraphQLError", UNEXPECTED, "error")
    return ("GraphQLError", INVALID_REQUEST, "rejected")


@contextmanager
def noting_errors() -> Iterator[list[tuple[str, str]]]:
    """The typed errors noted while the block runs (``note_error``), for ``operation_done``."""
    noted: list[tuple[str, str]] = []
    token = _NOTED.set(noted)
    try:
        yield noted
    finally:
        _NOTED.reset(token)


def operation_done(
    *,
    name: str | None,
    kind: str,
    seconds: float,
    raised: Sequence[GraphQLError],
    noted: Sequence[tuple[str, str]],
    caller: object,
    answered: list[GraphQLError] | None,
) -> None:
    """An operation ended: count it, its errors as raised (before masking, for their
    exception classes) and its noted typed errors, and write the request id into the errors
    of the answer (after masking). ``caller``: the GraphQL context. The schema extension and
    the prepared path (``SupportOsSchema.execute_prepared``, D142) both end here."""
    metrics = api_metrics()
    outcome = "ok"
    for error in raised:
        error_type, code, error_outcome = _error_kind(error)
        metrics.graphql_error(error_type, code)
        if outcome != "error":
            outcome = error_outcome
    for typename, code in noted:
        metrics.graphql_error(typename, code)
    # a new operation name takes one of the bounded label slots only for a known caller's
    # operation that parsed and validated (D113)
    caller_known = bool(getattr(caller, "authenticated", False))
    metrics.graphql_operation(name, kind, outcome, seconds, may_claim=caller_known and outcome != "rejected")
    request_id = getattr(caller, "request_id", None)
    if request_id and answered:
        for error in answered:
            error.extensions = {**(error.extensions or {}), "requestId": request_id}


class OperationObservability(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        with noting_errors() as noted:
            yield
        seconds = time.perf_counter() - started
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # no parsable operation
            kind = "unknown"
        operation_done(
            name=context.operation_name,
            kind=kind,
            seconds=seconds,
            raised=context.pre_execution_errors or (),
            noted=noted,
            caller=context.context,
            answered=getattr(context.result, "errors", None),
        )
