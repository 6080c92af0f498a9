"""The per-process document cache (D92): a query text is parsed and validated once, and the
answer is the same as without the cache, limits included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql import parse
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionResult

import interfaces.graphql.documents as documents_module
from interfaces.graphql.documents import DocumentCache, PreparedDocuments
from interfaces.graphql.schema import MAX_QUERY_DEPTH, MAX_TOKENS, build_schema


@strawberry.type
class Node:
    depth: int

    @strawberry.field
    def child(self) -> Node:
        return Node(depth=self.depth + 1)


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, text: str) -> str:
        return text

    @strawberry.field
    def root(self) -> Node:
        return Node(depth=0)


RULES = (
    *QueryDepthLimiter(max_depth=4).validation_rules,
    *MaxAliasesLimiter(max_alias_count=3).validation_rules,
)


def _schema(cache: DocumentCache | None) -> strawberry.Schema:
    if cache is None:  # the same limits, without the cache
        return strawberry.Schema(
            query=Query,
            extensions=[lambda: QueryDepthLimiter(max_depth=4), lambda: MaxAliasesLimiter(max_alias_count=3)],
        )
    return strawberry.Schema(query=Query, extensions=[lambda: PreparedDocuments(cache)])


def _cache(*, maxsize: int = 16, max_tokens: int = 200, rules: tuple[Any, ...] = RULES) -> DocumentCache:
    return DocumentCache(rules=rules, max_tokens=max_tokens, maxsize=maxsize)


def _nested(depth: int) -> str:
    return "{ root { " + "child { " * depth + "depth" + " }" * depth + " } }"


class Calls:
    """Counts graphql-core's parse and validate as Strawberry and the cache call them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parses = 0
        self.validations = 0
        parse, validate = vars(strawberry_schema)["parse"], vars(documents_module)["validate_document"]

        def counted_parse(*args: Any, **kwargs: Any) -> Any:
            self.parses += 1
            return parse(*args, **kwargs)

        def counted_validate(*args: Any, **kwargs: Any) -> Any:
            self.validations += 1
            return validate(*args, **kwargs)

        monkeypatch.setattr(strawberry_schema, "parse", counted_parse)
        monkeypatch.setattr(documents_module, "validate_document", counted_validate)


def _messages(result: ExecutionResult) -> list[str]:
    return [error.message for error in result.errors or []]


def test_a_repeated_text_is_parsed_and_validated_once_and_variables_still_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls(monkeypatch)
    cache = _cache()
    schema = _schema(cache)
    query = "query Echo($text: String!) { echo(text: $text) }"
    answers = [schema.execute_sync(query, variable_values={"text": word}) for word in ("a", "b", "c")]
    assert [answer.data for answer in answers] == [{"echo": "a"}, {"echo": "b"}, {"echo": "c"}]
    assert all(answer.errors is None for answer in answers)
    assert (calls.parses, calls.validations, len(cache)) == (1, 1, 1)


async def test_the_async_path_uses_the_same_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    cache = _cache()
    schema = _schema(cache)
    for _ in range(3):
        answer = await schema.execute(_nested(2))
        assert answer.errors is None and answer.data == {"root": {"child": {"child": {"depth": 2}}}}
    assert (calls.parses, calls.validations) == (1, 1)


@pytest.mark.parametrize(
    "query",
    [
        _nested(1),
        _nested(8),  # over the depth limit
        "{ a: root { depth } b: root { depth } c: root { depth } d: root { depth } }",  # aliases
        "{ nope }",  # not in the schema
        "{ echo }",  # missing argument
        '{ echo(text: "x") }',
        "query { root { depth } } query { root { depth } }",  # anonymous twice
    ],
    ids=["valid", "depth", "aliases", "unknown-field", "missing-arg", "echo", "two-anonymous"],
)
def test_answers_are_those_of_the_uncached_schema_the_first_time_and_every_time(query: str) -> None:
    expected = _schema(None).execute_sync(query)
    cached = _schema(_cache())
    for _ in range(3):
        answer = cached.execute_sync(query)
        assert answer.data == expected.data
        assert _messages(answer) == _messages(expected)


def test_over_the_token_cap_is_a_syntax_error_and_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    cache = _cache(max_tokens=50)
    schema = _schema(cache)
    bomb = "{ " + "root { depth } " * 20 + "}"
    for _ in range(2):
        answer = schema.execute_sync(bomb)
        assert answer.data is None
        [message] = _messages(answer)
        assert message.startswith("Syntax Error") and "token" in message
    assert (calls.parses, calls.validations, len(cache)) == (2, 0, 0)
    # under the cap the same shape parses
    assert schema.execute_sync("{ " + "root { depth } " * 2 + "}").errors is None


def test_remembered_errors_are_handed_out_as_copies() -> None:
    schema = _schema(_cache())
    first = schema.execute_sync(_nested(8))
    assert first.errors
    first.errors[0].extensions = {"requestId": "req-first"}  # what the observability extension does
    second = schema.execute_sync(_nested(8))
    assert second.errors and second.errors[0] is not first.errors[0]
    assert "requestId" not in (second.errors[0].extensions or {})
    assert second.errors[0].message == first.errors[0].message
    assert second.errors[0].locations == first.errors[0].locations


def test_the_cache_holds_at_most_maxsize_texts_and_forgets_the_least_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls(monkeypatch)
    cache = _cache(maxsize=2)
    schema = _schema(cache)
    one, two, three = (f'{{ echo(text: "{n}") }}' for n in (1, 2, 3))
    for query in (one, two, one, three):  # `two` is now the least recently used
        assert schema.execute_sync(query).errors is None
    assert len(cache) == 2 and calls.parses == 3
    schema.execute_sync(one)
    assert calls.parses == 3  # still remembered
    schema.execute_sync(two)
    assert calls.parses == 4  # forgotten, parsed again


class PersistedDocument(SchemaExtension):
    """Stands for an extension that hands Strawberry a document instead of a text."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None
        context.graphql_document, context.query = parse(context.query), None
        yield


def test_a_document_handed_over_without_its_text_is_validated_with_the_same_rules() -> None:
    cache = _cache()
    schema = strawberry.Schema(query=Query, extensions=[PersistedDocument, lambda: PreparedDocuments(cache)])
    deep = schema.execute_sync(_nested(8))
    assert deep.data is None and any("depth" in message for message in _messages(deep))
    assert schema.execute_sync(_nested(1)).errors is None
    assert len(cache) == 0  # nothing to key it by


def test_bad_sizes_are_refused() -> None:
    for maxsize, max_tokens in ((0, 10), (10, 0)):
        with pytest.raises(ValueError, match="positive"):
            DocumentCache(rules=(), max_tokens=max_tokens, maxsize=maxsize)


@pytest.mark.parametrize("production", [False, True])
def test_the_service_schema_keeps_its_limits_on_a_repeated_text(production: bool) -> None:
    schema = build_schema(production=production)

    def ask(query: str) -> ExecutionResult:
        return schema.execute_sync(query)

    deep = "{ " + "a { " * (MAX_QUERY_DEPTH + 4) + "b" + " }" * (MAX_QUERY_DEPTH + 4) + " }"
    tokens = "{ " + "version " * (MAX_TOKENS + 10) + "}"
    introspect = "{ __schema { queryType { name } } }"
    for _ in range(2):
        assert any("depth" in message for message in _messages(ask(deep)))
        assert any("token" in message for message in _messages(ask(tokens)))
        answer = ask(introspect)
        if not production:
            assert answer.errors is None and answer.data == {"__schema": {"queryType": {"name": "Query"}}}
        else:
            assert answer.data is None and "introspection" in _messages(answer)[0].lower()
