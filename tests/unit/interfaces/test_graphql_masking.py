"""Unexpected errors (raised while executing a field) are masked and logged, in a single
answer and in every frame of a stream; the caller's own mistakes are answered as they are
(``MaskUnexpectedErrors``, D93)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from interfaces.graphql.observability import is_unexpected
from interfaces.graphql.schema import MaskUnexpectedErrors

SECRET = "password=hunter2 at db-7"


@strawberry.type
class Query:
    @strawberry.field
    def fine(self) -> str:
        return "ok"

    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError(SECRET)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int | None, None]:
        yield 1
        raise RuntimeError(SECRET)


schema = strawberry.Schema(query=Query, subscription=Subscription, extensions=[MaskUnexpectedErrors])


def _messages(result: ExecutionResult) -> list[str]:
    return [error.message for error in result.errors or []]


async def test_a_resolver_failure_is_masked_and_logged_and_the_rest_of_the_answer_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        result = await schema.execute("{ fine broken }")
    assert result.data == {"fine": "ok", "broken": None}
    assert _messages(result) == ["Unexpected error."]
    assert result.errors is not None and result.errors[0].path == ["broken"]
    assert result.errors[0].original_error is None
    assert any("unexpected error in broken" in record.getMessage() for record in caplog.records)
    assert SECRET not in str(result.errors)


def test_the_sync_path_masks_too() -> None:
    result = schema.execute_sync("{ broken }")
    assert _messages(result) == ["Unexpected error."]


@pytest.mark.parametrize(
    ("query", "variables", "operation", "expected"),
    [
        ("{ nope }", None, None, "Cannot query field 'nope' on type 'Query'."),
        ("{ fine(", None, None, "Syntax Error"),
        (
            "query V($b: Boolean!) { fine @skip(if: $b) }",
            {"b": "seven"},
            None,
            "Variable '$b' has invalid value",
        ),
    ],
    ids=["validation", "syntax", "variable-coercion"],
)
async def test_the_callers_own_mistakes_are_answered_unmasked(
    query: str, variables: dict[str, object] | None, operation: str | None, expected: str
) -> None:
    result = await schema.execute(query, variable_values=variables, operation_name=operation)
    [message] = _messages(result)
    assert message.startswith(expected)
    assert result.errors is not None and not is_unexpected(result.errors[0])


@pytest.mark.parametrize(
    ("error", "ours"),
    [
        (GraphQLError("boom", path=["broken"], original_error=RuntimeError("boom")), True),
        (GraphQLError("boom", original_error=RuntimeError("boom")), True),  # outside any field
        (GraphQLError("Syntax Error: x"), False),
        (GraphQLError("no operation", original_error=MissingQueryError()), False),
        (
            GraphQLError(
                "queries are not allowed", original_error=InvalidOperationTypeError(OperationType.QUERY)
            ),
            False,
        ),
        (GraphQLError("no such operation", original_error=CannotGetOperationTypeError("B")), False),
        (GraphQLError("nested", original_error=GraphQLError("inner")), False),
    ],
    ids=["field", "no-field", "syntax", "missing-query", "operation-type", "operation-name", "graphql-error"],
)
def test_which_errors_are_ours(error: GraphQLError, ours: bool) -> None:
    assert is_unexpected(error) is ours


async def test_every_frame_of_a_stream_is_masked_even_an_error_outside_any_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The source generator failing mid-stream is wrapped by Strawberry with no path: still
    ours, so masked and logged (it used to reach the client as it was, D93)."""
    stream = await schema.subscribe("subscription { ticks }")
    assert not isinstance(stream, ExecutionResult)
    frames = [frame async for frame in stream]
    assert frames[0].data == {"ticks": 1} and not frames[0].errors
    assert [_messages(frame) for frame in frames[1:]] == [["Unexpected error."]]
    assert all(SECRET not in str(frame.errors) for frame in frames)
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)
