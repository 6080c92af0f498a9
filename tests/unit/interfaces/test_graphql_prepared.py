"""The prepared path (D142): a document that parses and validates runs through graphql-core
directly, with what the schema's three extensions do; its answers, logs and metrics are
those of Strawberry's ``Schema.execute``, and anything else is left to ``Schema.execute``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from prometheus_client import REGISTRY
from strawberry.extensions import SchemaExtension
from strawberry.http import process_result
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from interfaces.graphql.documents import PreparedDocuments
from interfaces.graphql.errors import ERROR_TYPES, NotFoundError
from interfaces.graphql.execution import SupportOsExecutor
from interfaces.graphql.observability import OperationObservability
from interfaces.graphql.schema import (
    MaskUnexpectedErrors,
    SupportOsSchema,
    _documents,
    _extensions,
    build_schema,
)
from interfaces.http.graphql_post import ALLOWED_OVER_POST

SECRET = "password=hunter2 at db-7"
BUMPS: list[int] = []


@strawberry.type
class Query:
    @strawberry.field
    def fine(self) -> str:
        return "ok"

    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError(SECRET)

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return "later"

    @strawberry.field
    async def broken_later(self) -> str:
        await asyncio.sleep(0)
        raise ValueError(SECRET)

    @strawberry.field
    def twice(self, n: int) -> int:
        return 2 * n

    @strawberry.field
    def refused(self) -> NotFoundError:
        return NotFoundError(code="NOT_FOUND", message="No such thing.", kind="Thing", id="t-1")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self) -> int:
        BUMPS.append(1)
        return len(BUMPS)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1


def small_schema() -> SupportOsSchema:
    """Built as ``build_schema`` builds the service's, on a small test schema."""
    documents = _documents(introspection=True)
    built = SupportOsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=ERROR_TYPES,
        extensions=_extensions(documents),
        execution_context_class=SupportOsExecutor,
    )
    built.documents = documents
    return built


@dataclass
class Caller:
    """What the extensions read of the GraphQL context."""

    request_id: str
    authenticated: bool = True


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    wanted = ("supportos_graphql_operations_total", "supportos_graphql_errors_total")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name in wanted
    }


def _delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0)}


@dataclass
class Run:
    answer: str
    logs: list[tuple[str, int, str]]
    metrics: dict[Any, float]


async def _run(
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, object] | None,
    name: str | None,
    *,
    prepared: bool,
) -> Run:
    schema = small_schema()
    caller = Caller(request_id="req_same")
    BUMPS.clear()
    caplog.clear()
    before = _samples()
    with caplog.at_level(logging.INFO, logger="supportos.graphql"):
        result: ExecutionResult | None
        if prepared:
            result = await schema.execute_prepared(
                query,
                variable_values=variables,
                context_value=caller,
                operation_name=name,
                allowed_operation_types=ALLOWED_OVER_POST,
            )
            assert result is not None, "the prepared path did not take a valid document"
        else:
            result = await schema.execute(
                query,
                variable_values=variables,
                context_value=caller,
                operation_name=name,
                allowed_operation_types=ALLOWED_OVER_POST,
            )
        logs = [(record.name, record.levelno, record.getMessage()) for record in caplog.records]
    return Run(json.dumps(process_result(result), sort_keys=True), logs, _delta(before, _samples()))


SAME_ANSWER = [
    pytest.param("{ fine later }", None, None, id="sync-and-async-fields"),
    pytest.param("{ fine broken }", None, None, id="a-resolver-raises"),
    pytest.param("{ fine brokenLater }", None, None, id="an-async-resolver-raises-in-a-non-null-field"),
    pytest.param("query Q($n: Int!) { twice(n: $n) }", {"n": 21}, "Q", id="variables"),
    pytest.param("query Q($n: Int!) { twice(n: $n) }", {"n": "x"}, None, id="a-bad-variable"),
    pytest.param("query Q($n: Int!) { twice(n: $n) }", None, None, id="a-missing-variable"),
    pytest.param("query A { fine } query B { later }", None, "B", id="the-named-operation-of-two"),
    pytest.param("{ refused { __typename code message kind id } }", None, None, id="a-typed-error"),
    pytest.param("mutation M { bump }", None, None, id="a-mutation"),
    pytest.param("{ __typename }", None, None, id="typename"),
]


@pytest.mark.parametrize(("query", "variables", "name"), SAME_ANSWER)
async def test_the_prepared_path_answers_logs_and_counts_as_strawberry_does(
    caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, object] | None, name: str | None
) -> None:
    full = await _run(caplog, query, variables, name, prepared=False)
    prepared = await _run(caplog, query, variables, name, prepared=True)
    assert prepared.answer == full.answer
    assert prepared.logs == full.logs
    assert prepared.metrics == full.metrics
    assert full.metrics, "every operation is counted"


async def test_unexpected_errors_are_masked_logged_and_tagged_on_the_prepared_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await _run(caplog, "{ fine broken }", None, None, prepared=True)
    answer = json.loads(run.answer)
    assert answer["data"] == {"fine": "ok", "broken": None}
    assert answer["errors"] == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 1, "column": 8}],
            "path": ["broken"],
            "extensions": {"requestId": "req_same"},
        }
    ]
    assert SECRET not in run.answer
    assert ("supportos.graphql", logging.ERROR, "unexpected error in broken (request -)") in run.logs
    errors = {
        dict(labels)["type"]: value
        for (metric, labels), value in run.metrics.items()
        if metric == "supportos_graphql_errors_total"
    }
    assert errors == {"RuntimeError": 1.0}


async def test_the_caller_s_variable_error_is_answered_unmasked(caplog: pytest.LogCaptureFixture) -> None:
    run = await _run(caplog, "query Q($n: Int!) { twice(n: $n) }", {"n": "x"}, "Q", prepared=True)
    answer = json.loads(run.answer)
    assert answer["data"] is None
    assert "Int cannot represent non-integer value" in answer["errors"][0]["message"]
    assert answer["errors"][0]["extensions"] == {"requestId": "req_same"}
    assert [level for _, level, _ in run.logs] == [logging.INFO]


NOT_PREPARED = [
    pytest.param("{ nope }", None, id="does-not-validate"),
    pytest.param("{ fine", None, id="does-not-parse"),
    pytest.param("", None, id="empty"),
    pytest.param("query A { fine } query B { fine }", None, id="two-operations-and-no-name"),
    pytest.param("query A { fine }", "C", id="no-operation-of-that-name"),
    pytest.param("subscription S { ticks }", None, id="a-subscription-over-post"),
    pytest.param("{ " + "fine " * 2_100 + "}", None, id="over-the-token-cap"),
]


@pytest.mark.parametrize(("query", "name"), NOT_PREPARED)
async def test_anything_else_is_left_to_strawberry_and_nothing_runs(query: str, name: str | None) -> None:
    schema = small_schema()
    before = _samples()
    result = await schema.execute_prepared(
        query,
        variable_values=None,
        context_value=Caller(request_id="req_x"),
        operation_name=name,
        allowed_operation_types=ALLOWED_OVER_POST,
    )
    assert result is None
    assert _samples() == before  # nothing counted: Strawberry's path counts what it answers


async def test_a_mutation_runs_once_and_only_where_allowed() -> None:
    schema = small_schema()
    BUMPS.clear()
    queries_only = await schema.execute_prepared(
        "mutation M { bump }",
        variable_values=None,
        context_value=Caller(request_id="req_x"),
        operation_name=None,
        allowed_operation_types=frozenset({OperationType.QUERY}),
    )
    assert queries_only is None and BUMPS == []
    done = await schema.execute_prepared(
        "mutation M { bump }",
        variable_values=None,
        context_value=Caller(request_id="req_x"),
        operation_name=None,
        allowed_operation_types=ALLOWED_OVER_POST,
    )
    assert done is not None and done.data == {"bump": 1} and BUMPS == [1]


async def test_a_document_is_validated_once_and_shared_with_strawberry_s_path() -> None:
    schema = small_schema()
    documents = schema.documents
    assert documents is not None
    first = documents.valid_document(schema._schema, "{ fine }")
    assert first is not None and documents.valid_document(schema._schema, "{ fine }") is first
    assert documents.valid_document(schema._schema, "{ nope }") is None
    # remembered with its errors: Strawberry's path answers them from the same entry
    assert documents.document("{ nope }") is not None and len(documents) == 2
    result = await schema.execute("{ nope }", context_value=Caller(request_id="req_x"))
    assert result.errors and "Cannot query field 'nope'" in result.errors[0].message


def test_the_service_schema_has_exactly_the_extensions_the_prepared_path_does() -> None:
    # execute_prepared does what these three do; another extension would be skipped by it
    schema = build_schema()
    made: list[type[SchemaExtension]] = []
    for extension in schema.extensions:
        made.append(extension if isinstance(extension, type) else type(extension()))
    assert made == [OperationObservability, PreparedDocuments, MaskUnexpectedErrors]
    assert schema.documents is not None
    assert schema.execution_context_class is SupportOsExecutor
