"""Each GraphQL query text parsed and validated once per process (D35, D92).

Partners and the console send the same few documents over and over. Strawberry's
``ParserCache`` and ``ValidationCache`` remembered both steps, but the validation cache's
key is the parsed ``DocumentNode``, which graphql-core hashes by walking the whole tree on
every request; with ``MaxTokensLimiter`` and ``AddValidationRules`` beside them, four
extensions ran their hooks for what is one lookup. :class:`PreparedDocuments` is that
lookup, keyed by the query text:

- **hit**: the document and its validation errors come from the cache; Strawberry neither
  parses nor validates;
- **miss**: Strawberry parses with the token cap as a parse option (over the cap is a
  syntax error, as ``MaxTokensLimiter`` makes it), then the document is validated with the
  fixed rules (graphql-core's specified rules, the depth and alias limits, and, in
  production, no introspection; Strawberry's ``validate_document`` adds its own ``Maybe``
  and ``@oneOf`` rules, as its default validation does) and remembered, valid or not. A
  text that does not parse is never remembered: it costs its own parse each time, bounded
  by the token cap.

Validation is a pure function of the text and the rules, and the rules of one cache never
change, so the answer is the same as without the cache (the schema's tests run through
it). Errors handed out are copies: the operation's extension writes the request id into
the errors of its answer, which must never reach another request's answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from graphql import GraphQLError, GraphQLSchema, parse
from graphql.language import DocumentNode
from graphql.validation import ASTValidationRule, specified_rules
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass(frozen=True, slots=True)
class _Prepared:
    document: DocumentNode
    errors: tuple[GraphQLError, ...]


def _copy(error: GraphQLError) -> GraphQLError:
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=dict(error.extensions) if error.extensions else None,
    )


class DocumentCache:
    """Query text -> (document, validation errors), LRU, ``maxsize`` texts."""

    def __init__(self, *, rules: Sequence[type[ASTValidationRule]], max_tokens: int, maxsize: int) -> None:
        if maxsize < 1 or max_tokens < 1:
            raise ValueError("maxsize and max_tokens must be positive")
        self.rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, *rules)
        self.max_tokens = max_tokens
        self._maxsize = maxsize
        self._entries: OrderedDict[str, _Prepared] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def document(self, query: str) -> DocumentNode | None:
        """The remembered document of ``query`` (None: not remembered)."""
        prepared = self._entries.get(query)
        if prepared is None:
            return None
        self._entries.move_to_end(query)
        return prepared.document

    def valid_document(self, schema: GraphQLSchema, query: str) -> DocumentNode | None:
        """The document of ``query`` when it parses and validates (parsed and validated
        here on a miss, and remembered as on Strawberry's path); ``None`` when it does not:
        Strawberry's path then answers it, with its own errors (D142)."""
        if not query:
            return None
        prepared = self._entries.get(query)
        if prepared is None:
            try:
                document = parse(query, max_tokens=self.max_tokens)
            except Exception:  # Strawberry's path parses it again and answers the error
                return None
            prepared = self._remember(schema, query, document)
        else:
            self._entries.move_to_end(query)
        return None if prepared.errors else prepared.document

    def errors(self, schema: GraphQLSchema, query: str, document: DocumentNode) -> list[GraphQLError]:
        """The validation errors of ``document`` (parsed from ``query``), remembered."""
        prepared = self._entries.get(query)
        if prepared is None or prepared.document is not document:
            prepared = self._remember(schema, query, document)
        return [_copy(error) for error in prepared.errors]

    def _remember(self, schema: GraphQLSchema, query: str, document: DocumentNode) -> _Prepared:
        prepared = _Prepared(document, tuple(validate_document(schema, document, self.rules)))
        self._entries[query] = prepared
        self._entries.move_to_end(query)
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return prepared


class PreparedDocuments(SchemaExtension):
    """The schema extension in front of :class:`DocumentCache` (pass it as a factory:
    ``lambda: PreparedDocuments(cache)``; the cache is the schema's, shared by requests)."""

    def __init__(self, cache: DocumentCache) -> None:
        super().__init__()
        self._cache = cache

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if context.graphql_document is None and query:
            document = self._cache.document(query)
            if document is None:
                context.parse_options["max_tokens"] = self._cache.max_tokens
            else:
                context.graphql_document = document  # Strawberry then does not parse
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document, query = context.graphql_document, context.query
        if document is not None:
            # set before Strawberry's own validation, which then does not run
            schema = context.schema._schema
            context.pre_execution_errors = (
                self._cache.errors(schema, query, document)
                if query
                else validate_document(schema, document, self._cache.rules)  # a document without its text
            )
        yield
