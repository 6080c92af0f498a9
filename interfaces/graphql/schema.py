"""The root GraphQL schema: the feature packages (``interfaces/graphql/<feature>/``) merged.

Limits are on by default: query depth, token count and aliases are capped, and are
checked while the document is parsed and validated, before any resolver runs.
Unexpected errors (exceptions in resolvers) are masked and logged with the request id;
expected errors are values in result unions. In production introspection is refused and
field suggestions are off; the SDL is committed at ``docs/schema.graphql``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any, Final, TypeGuard, cast

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import execute
from graphql.error import GraphQLError
from graphql.language import DocumentNode, OperationDefinitionNode
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from interfaces.graphql.audit.queries import AuditQueries
from interfaces.graphql.cases.mutations import CaseMutations
from interfaces.graphql.cases.queries import CaseQueries
from interfaces.graphql.cases.sla import SlaPolicyMutations, SlaPolicyQueries
from interfaces.graphql.cases.subscriptions import CaseSubscriptions
from interfaces.graphql.common import SCALAR_MAP
from interfaces.graphql.context import GraphQLContext
from interfaces.graphql.diagnostics.mutations import DiagnosticsMutations
from interfaces.graphql.diagnostics.queries import DiagnosticsQueries
from interfaces.graphql.disputes.mutations import DisputeMutations
from interfaces.graphql.disputes.queries import DisputeQueries
from interfaces.graphql.documents import DocumentCache, PreparedDocuments
from interfaces.graphql.errors import ERROR_TYPES
from interfaces.graphql.execution import SupportOsExecutor, direct_resolvers
from interfaces.graphql.integrations.mutations import IntegrationMutations
from interfaces.graphql.integrations.queries import IntegrationQueries
from interfaces.graphql.ledger.queries import LedgerQueries
from interfaces.graphql.messaging.mutations import MessagingMutations
from interfaces.graphql.messaging.queries import MessagingQueries
from interfaces.graphql.messaging.subscriptions import MessagingSubscriptions
from interfaces.graphql.observability import (
    OperationObservability,
    is_unexpected,
    noting_errors,
    operation_done,
)
from interfaces.graphql.orders.mutations import OrderMutations
from interfaces.graphql.orders.queries import OrderQueries
from interfaces.graphql.platform.mutations import PlatformMutations
from interfaces.graphql.platform.queries import PlatformQueries
from interfaces.version import supportos_version

MAX_QUERY_DEPTH: Final = 12
MAX_TOKENS: Final = 2_000
MAX_ALIASES: Final = 30
DOCUMENT_CACHE_SIZE: Final = 512  # distinct query texts whose parse and validation are remembered
SDL_PATH: Final = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"

logger = logging.getLogger("supportos.graphql")


async def resolve_version() -> str:
    return supportos_version()


@strawberry.type(description="Service metadata (the one field that needs neither credentials nor a country).")
class MetaQueries:
    # `field(resolver=..., description=...)` keeps the resolver typed under mypy --strict;
    # the decorator form with keyword arguments is typed as returning Any.
    version: str = strawberry.field(
        resolver=resolve_version, description="The version of the running Support OS service."
    )


Query = merge_types(
    "Query",
    (
        MetaQueries,
        OrderQueries,
        DisputeQueries,
        LedgerQueries,
        AuditQueries,
        IntegrationQueries,
        MessagingQueries,
        CaseQueries,
        SlaPolicyQueries,
        PlatformQueries,
        DiagnosticsQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        DisputeMutations,
        OrderMutations,
        IntegrationMutations,
        MessagingMutations,
        CaseMutations,
        SlaPolicyMutations,
        PlatformMutations,
        DiagnosticsMutations,
    ),
)
Subscription = merge_types("Subscription", (MessagingSubscriptions, CaseSubscriptions))
"""Served over graphql-transport-ws on the GraphQL route (``interfaces/http/app.py``)."""


UNEXPECTED_MESSAGE: Final = "Unexpected error."


def masked(error: GraphQLError, context: object) -> GraphQLError:
    """An unexpected error as the answer shows it, logged here with the request id of
    ``context`` (the GraphQL context): the message replaced, the exception dropped, its place
    in the document and its path kept (as Strawberry's ``MaskErrors`` makes it)."""
    request_id = context.request_id if isinstance(context, GraphQLContext) else "-"
    logger.error(
        "unexpected error in %s (request %s)",
        ".".join(str(part) for part in error.path) if error.path else "no field",
        request_id,
        exc_info=error.original_error or error,
    )
    return GraphQLError(
        message=UNEXPECTED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
    )


class MaskUnexpectedErrors(MaskErrors):
    """``MaskErrors`` that logs what it masks, with the request id (the answer carries none)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=UNEXPECTED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error, self.execution_context.context)

    def _process_result(self, result: object) -> None:
        # MaskErrors asks `isinstance(result, <a runtime-checkable Protocol>)`, which costs
        # 8.5 us on every request; the attribute is the same question (D93).
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if errors:
            result.__setattr__("errors", self._process_errors(errors))


class SupportOsSchema(strawberry.Schema):
    """Strawberry's schema, logging the caller's mistakes (parse, validation, input errors)
    at INFO instead of ERROR; unexpected errors are logged once, by ``MaskUnexpectedErrors``
    (or :func:`masked` on the prepared path)."""

    documents: DocumentCache | None = None
    """The schema's document cache (set by :func:`build_schema`): the prepared path's."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if not is_unexpected(error):
                logger.info("rejected GraphQL request: %s", error.message)

    async def execute_prepared(
        self,
        query: str,
        *,
        variable_values: dict[str, Any] | None,
        context_value: object,
        operation_name: str | None,
        allowed_operation_types: Collection[OperationType],
    ) -> ExecutionResult | None:
        """The answer to one operation of a document that parses and validates, executed by
        graphql-core without Strawberry's per-request pipeline (D142); ``None`` (nothing ran)
        for anything else - a text that does not parse or validate, no single operation to
        run, an operation type not allowed - which :meth:`execute` then answers.

        It does what that pipeline does for such a document with this schema's three
        extensions (``_extensions``): the document from the cache (``PreparedDocuments``),
        the operation timed and counted and its typed errors noted (``OperationObservability``,
        through :func:`operation_done`), the caller's errors logged (:meth:`process_errors`),
        unexpected errors masked and logged (:func:`masked`), the request id in the answer's
        errors. The executor is the schema's (D141); no extension has a resolver hook, so
        there is no middleware."""
        documents = self.documents
        if documents is None:
            return None
        document = documents.valid_document(self._schema, query)
        operation = None if document is None else _single_operation(document, operation_name)
        if document is None or operation is None:
            return None
        kind = OperationType(operation.operation.value)
        if kind not in allowed_operation_types:
            return None
        started = time.perf_counter()
        with noting_errors() as noted:
            try:
                outcome = execute(
                    self._schema,
                    document,
                    context_value=context_value,
                    variable_values=variable_values,
                    operation_name=operation_name,
                    executor_class=self.execution_context_class,
                    is_awaitable=_IS_AWAITABLE,
                    operation_extensions=None,
                )
                result = outcome if isinstance(outcome, GraphQLExecutionResult) else await outcome
                data, raised = result.data, result.errors
            except Exception as error:  # as Strawberry answers an exception out of execution
                data, raised = None, [_coerced(error)]
        answered: list[GraphQLError] | None = None
        if raised:
            self.process_errors(raised)
            answered = [masked(error, context_value) if is_unexpected(error) else error for error in raised]
        name = operation_name
        if name is None and operation.name is not None:
            name = operation.name.value
        operation_done(
            name=name,
            kind=kind.value,
            seconds=time.perf_counter() - started,
            raised=raised or (),
            noted=noted,
            caller=context_value,
            answered=answered,
        )
        return ExecutionResult(data=data, errors=answered, extensions={})


# Strawberry's check (what its execute passes), typed as graphql-core's parameter is
_IS_AWAITABLE: Final = cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", optimized_is_awaitable)


def _coerced(error: Exception) -> GraphQLError:
    return error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)


def _single_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation ``name`` picks in ``document`` (no name: its only operation), or ``None``."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    named = [node for node in operations if node.name is not None and node.name.value == name]
    return named[0] if len(named) == 1 else None


# The limiters' validation rules, built once: QueryDepthLimiter and MaxAliasesLimiter make a
# new rule class per instance; the document cache's rules are fixed (D35, D92).
_LIMIT_RULES: Final = (
    *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


def _documents(*, introspection: bool) -> DocumentCache:
    # A query text is parsed (under the token cap) and validated (under the depth and alias
    # limits) once; partners poll with the same few documents (D35, D92). One cache per schema.
    rules = [*_LIMIT_RULES] if introspection else [*_LIMIT_RULES, NoSchemaIntrospectionCustomRule]
    return DocumentCache(rules=rules, max_tokens=MAX_TOKENS, maxsize=DOCUMENT_CACHE_SIZE)


def _extensions(documents: DocumentCache) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    # factories, so that every request gets fresh extension instances; a change here is a
    # change to SupportOsSchema.execute_prepared too (D142), which does what these do
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        OperationObservability,  # first: it sees the answer last, after masking (observability.py)
        lambda: PreparedDocuments(documents),
        MaskUnexpectedErrors,
    ]
    return extensions


def build_schema(*, production: bool = False) -> SupportOsSchema:
    """The schema; in production without introspection and without field suggestions."""
    documents = _documents(introspection=not production)
    built = SupportOsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=ERROR_TYPES,
        extensions=_extensions(documents),
        config=StrawberryConfig(scalar_map=SCALAR_MAP, disable_field_suggestions=production),
        execution_context_class=SupportOsExecutor,  # plain fields without the per-field walk (D141)
    )
    built.documents = documents
    direct_resolvers(built)  # resolvers without arguments or extensions called at once (D162)
    return built


schema: Final = build_schema()
"""The development schema (the SDL in ``docs/schema.graphql`` is printed from it)."""


def sdl() -> str:
    return schema.as_str() + "\n"
