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
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

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


def _error_kind(error: GraphQLError) -> tuple[str, str, str]:
    """(type, code, outcome) of a GraphQL error: an exception in a resolver is ours, a
    parse, validation or input error is the caller's."""
    if error.path is not None:
        original = error.original_error
        return (type(original).__name__ if original is not None else "GraphQLError", UNEXPECTED, "error")
    return ("GraphQLError", INVALID_REQUEST, "rejected")


class OperationObservability(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        noted: list[tuple[str, str]] = []
        token = _NOTED.set(noted)
        try:
            yield
        finally:
            _NOTED.reset(token)
        seconds = time.perf_counter() - started
        context = self.execution_context
        metrics = api_metrics()
        outcome = "ok"
        # the errors as raised (before masking), for their exception classes
        for error in context.pre_execution_errors or ():
            kind, code, error_outcome = _error_kind(error)
            metrics.graphql_error(kind, code)
            if outcome != "error":
                outcome = error_outcome
        for typename, code in noted:
            metrics.graphql_error(typename, code)
        try:
            kind = context.operation_type.value
        except Exception:  # no parsable operation
            kind = "unknown"
        metrics.graphql_operation(context.operation_name, kind, outcome, seconds)
        request_id = getattr(context.context, "request_id", None)
        result = context.result
        errors = getattr(result, "errors", None)
        if request_id and errors:
            for error in errors:
                error.extensions = {**(error.extensions or {}), "requestId": request_id}
