"""The root GraphQL schema: the feature packages (``interfaces/graphql/<feature>/``) merged.

Limits are on by default: query depth, token count and aliases are capped, and are
checked while the document is parsed and validated, before any resolver runs.
Unexpected errors (exceptions in resolvers) are masked and logged with the request id;
expected errors are values in result unions. In production introspection is refused and
field suggestions are off; the SDL is committed at ``docs/schema.graphql``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

import strawberry
from graphql.error import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

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
from interfaces.graphql.execution import SupportOsExecutor
from interfaces.graphql.integrations.mutations import IntegrationMutations
from interfaces.graphql.integrations.queries import IntegrationQueries
from interfaces.graphql.ledger.queries import LedgerQueries
from interfaces.graphql.messaging.mutations import MessagingMutations
from interfaces.graphql.messaging.queries import MessagingQueries
from interfaces.graphql.messaging.subscriptions import MessagingSubscriptions
from interfaces.graphql.observability import OperationObservability, is_unexpected
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


class MaskUnexpectedErrors(MaskErrors):
    """``MaskErrors`` that logs what it masks, with the request id (the answer carries none)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = context.request_id if isinstance(context, GraphQLContext) else "-"
        logger.error(
            "unexpected error in %s (request %s)",
            ".".join(str(part) for part in error.path) if error.path else "no field",
            request_id,
            exc_info=error.original_error or error,
        )
        return super().anonymise_error(error)

    def _process_result(self, result: object) -> None:
        # MaskErrors asks `isinstance(result, <a runtime-checkable Protocol>)`, which costs
        # 8.5 us on every request; the attribute is the same question (D93).
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if errors:
            result.__setattr__("errors", self._process_errors(errors))


class SupportOsSchema(strawberry.Schema):
    """Strawberry's schema, logging the caller's mistakes (parse, validation, input errors)
    at INFO instead of ERROR; unexpected errors are logged once, by ``MaskUnexpectedErrors``."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if not is_unexpected(error):
                logger.info("rejected GraphQL request: %s", error.message)


# The limiters' validation rules, built once: QueryDepthLimiter and MaxAliasesLimiter make a
# new rule class per instance; the document cache's rules are fixed (D35, D92).
_LIMIT_RULES: Final = (
    *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


def _extensions(*, introspection: bool) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    # factories, so that every request gets fresh extension instances
    rules = [*_LIMIT_RULES] if introspection else [*_LIMIT_RULES, NoSchemaIntrospectionCustomRule]
    # A query text is parsed (under the token cap) and validated (under the depth and alias
    # limits) once; partners poll with the same few documents (D35, D92). One cache per schema.
    documents = DocumentCache(rules=rules, max_tokens=MAX_TOKENS, maxsize=DOCUMENT_CACHE_SIZE)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        OperationObservability,  # first: it sees the answer last, after masking (observability.py)
        lambda: PreparedDocuments(documents),
        MaskUnexpectedErrors,
    ]
    return extensions


def build_schema(*, production: bool = False) -> SupportOsSchema:
    """The schema; in production without introspection and without field suggestions."""
    return SupportOsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=ERROR_TYPES,
        extensions=_extensions(introspection=not production),
        config=StrawberryConfig(scalar_map=SCALAR_MAP, disable_field_suggestions=production),
        execution_context_class=SupportOsExecutor,  # plain fields without the per-field walk (D141)
    )


schema: Final = build_schema()
"""The development schema (the SDL in ``docs/schema.graphql`` is printed from it)."""


def sdl() -> str:
    return schema.as_str() + "\n"
