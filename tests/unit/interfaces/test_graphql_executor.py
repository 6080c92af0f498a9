"""D141: the executor answers plain scalar fields itself, and the answer is graphql-core's.

Every query runs twice, on the same schema built with Strawberry's execution context and with
``SupportOsExecutor``: data and errors (message, path, locations) must be equal, for the
common case and for each way a plain field can fail.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from interfaces.graphql.execution import SupportOsExecutor, plain_fields
from interfaces.graphql.schema import schema as supportos_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Deny(BasePermission):
    message = "Denied."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Amount:
    minor: int
    currency: str

    @strawberry.field
    async def rate(self) -> int:
        if self.currency == "BAD":
            raise ValueError("no rate for BAD")
        return 2


@strawberry.type
class Item:
    name: str
    count: int
    maybe: int | None
    colour: Colour
    at: datetime
    amount: Amount
    extra: Amount | None = None
    secret: str = strawberry.field(default="s", permission_classes=[Deny])

    @strawberry.field
    def computed(self, times: int = 1) -> int:
        return self.count * times


class Broken:
    """A source whose ``name`` raises, as an attribute that fails would."""

    count = 1
    maybe = None
    colour = Colour.RED
    at = datetime(2026, 1, 1, tzinfo=UTC)
    amount = Amount(minor=1, currency="EUR")

    @property
    def name(self) -> str:
        raise ValueError("the attribute failed")


def _item(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "name": "gift",
        "count": 3,
        "maybe": None,
        "colour": Colour.BLUE,
        "at": datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        "amount": Amount(minor=12_345, currency="MXN"),
    }
    values.update(changes)
    return Item(**values)


SOURCES: dict[str, Any] = {
    "plain": _item(),
    "null_in_non_null": _item(name=None),
    "int_too_large": _item(count=2**40),
    "not_an_enum": _item(colour="purple"),
    "exception_value": _item(name=ValueError("returned, not raised")),
    "raises": Broken(),
    "object_null_in_non_null": _item(amount=None),
    "object_field_fails_in_non_null": _item(amount=Amount(minor=2**40, currency="MXN")),
    "object_field_fails_in_nullable": _item(extra=Amount(minor=2**40, currency="EUR")),
    "async_field_fails_in_nullable": _item(extra=Amount(minor=1, currency="BAD")),
    "with_extra": _item(extra=Amount(minor=7, currency="EUR")),
    "not_an_object": _item(extra="a string where an object belongs"),
}


@strawberry.type
class Query:
    @strawberry.field
    def item(self, case: str) -> Item | None:
        source: Item | None = SOURCES[case]
        return source

    @strawberry.field
    def items(self) -> list[Item]:
        return [_item(name=f"gift {n}", count=n, maybe=n if n % 2 else None) for n in range(5)]


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    fast = strawberry.Schema(
        query=Query, extensions=extensions or [], execution_context_class=SupportOsExecutor
    )
    return plain, fast


def _answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[dict[str, Any]]]:
    result = asyncio.run(schema.execute(query))
    errors = [
        {"message": e.message, "path": e.path, "locations": e.formatted.get("locations")}
        for e in (result.errors or [])
    ]
    return result.data, errors


FIELDS = (
    "name count maybe colour at amount { minor currency } computed(times: 2) "
    "extra { minor currency } later: extra { minor rate }"
)


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_every_plain_field_answers_as_graphql_core_does(case: str) -> None:
    plain, fast = _schemas()
    query = f'{{ item(case: "{case}") {{ {FIELDS} }} }}'

    assert _answer(fast, query) == _answer(plain, query)


def test_the_cases_fail_as_they_should() -> None:
    _, fast = _schemas()

    def errors(case: str) -> list[str]:
        return [e["message"] for e in _answer(fast, f'{{ item(case: "{case}") {{ {FIELDS} }} }}')[1]]

    assert _answer(fast, f'{{ item(case: "plain") {{ {FIELDS} }} }}') == (
        {
            "item": {
                "name": "gift",
                "count": 3,
                "maybe": None,
                "colour": "BLUE",
                "at": "2026-12-07T08:00:00+00:00",
                "amount": {"minor": 12_345, "currency": "MXN"},
                "computed": 6,
                "extra": None,
                "later": None,
            }
        },
        [],
    )
    assert errors("null_in_non_null") == ["Cannot return null for non-nullable field Item.name."]
    assert errors("int_too_large") == ["Int cannot represent non 32-bit signed integer value: 1099511627776"]
    assert errors("not_an_enum") == ["Enum 'Colour' cannot represent value: 'purple'"]
    assert errors("exception_value") == ["returned, not raised"]
    assert errors("raises") == ["the attribute failed"]
    assert errors("object_null_in_non_null") == ["Cannot return null for non-nullable field Item.amount."]
    assert errors("object_field_fails_in_non_null") == [
        "Int cannot represent non 32-bit signed integer value: 1099511627776"
    ]
    assert (
        errors("object_field_fails_in_nullable")
        == ["Int cannot represent non 32-bit signed integer value: 1099511627776"] * 2
    )
    assert errors("async_field_fails_in_nullable") == ["no rate for BAD"]
    assert errors("with_extra") == []
    with_extra = _answer(fast, f'{{ item(case: "with_extra") {{ {FIELDS} }} }}')[0]["item"]
    assert with_extra["extra"] == {"minor": 7, "currency": "EUR"}
    assert with_extra["later"] == {"minor": 7, "rate": 2}
    assert errors("not_an_object") == ["'str' object has no attribute 'minor'"] * 2


def test_lists_aliases_and_permissioned_fields_answer_the_same() -> None:
    plain, fast = _schemas()
    query = "{ items { n: name count maybe again: count colour secret } first: items { name } }"

    fast_answer = _answer(fast, query)
    assert fast_answer == _answer(plain, query)
    assert fast_answer[1][0]["message"] == "Denied."  # the permission class still ran


class _CountingBaseCalls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fields: list[str] = []
        original = StrawberryGraphQLCoreExecutionContext.execute_field

        def counted(executor: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
            self.fields.append(f"{parent_type.name}.{details[0].node.name.value}")
            return original(executor, parent_type, source, details, *rest)

        monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counted)


def test_plain_fields_skip_graphql_cores_field_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _CountingBaseCalls(monkeypatch)
    _, fast = _schemas()

    data, errors = _answer(fast, f'{{ item(case: "with_extra") {{ {FIELDS} }} }}')

    assert errors == []
    assert data["item"]["amount"] == {"minor": 12_345, "currency": "MXN"}
    assert data["item"]["later"] == {"minor": 7, "rate": 2}
    # only the fields with resolvers went through graphql-core's walk
    assert calls.fields == ["Query.item", "Item.computed", "Amount.rate"]


def test_a_failing_plain_field_goes_through_graphql_core(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _CountingBaseCalls(monkeypatch)
    _, fast = _schemas()

    _answer(fast, '{ item(case: "null_in_non_null") { name count } }')

    assert calls.fields == ["Query.item", "Item.name"]


class Shout(SchemaExtension):
    """A ``resolve`` hook: graphql-core runs it as middleware around every field."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def test_resolve_hooks_turn_the_direct_path_off(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, fast = _schemas([Shout])
    query = '{ item(case: "plain") { name count amount { currency } } }'

    assert _answer(fast, query) == _answer(plain, query)
    assert _answer(fast, query)[0] == {"item": {"name": "GIFT", "count": 3, "amount": {"currency": "MXN"}}}
    calls = _CountingBaseCalls(monkeypatch)
    _answer(fast, query)
    assert len(calls.fields) == 5  # every field, as graphql-core walks them


def test_the_service_schema_uses_it_for_its_plain_fields() -> None:
    graphql_schema = supportos_schema._schema
    plans = plain_fields(graphql_schema)

    assert supportos_schema.execution_context_class is SupportOsExecutor
    assert {"minor", "currency"} <= set(plans["Money"])
    assert "status" in plans["DisputeState"]
    # a field with a resolver (the dispute's order, loaded) is never read directly
    assert "order" not in plans.get("Dispute", {})
    assert plans["OrderSnapshot"]["totalCharged"].object_type is graphql_schema.type_map["Money"]
    assert all(not name.startswith("__") for name in plans)
    assert plain_fields(graphql_schema) is plans  # built once per schema


def test_graphql_errors_keep_their_type() -> None:
    _, fast = _schemas()
    result = asyncio.run(fast.execute('{ item(case: "int_too_large") { count } }'))

    assert result.errors is not None
    assert isinstance(result.errors[0], GraphQLError)
    assert result.errors[0].path == ["item", "count"]
    assert result.data == {"item": None}
