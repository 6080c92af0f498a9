"""D141: the executor completes plain fields itself, and the answer is graphql-core's.

Every query runs twice, on the same schema built with Strawberry's execution context and with
``SupportOsExecutor``: data and errors (message, path, locations, extensions and the error's
original exception type) must be equal, for the common case and for each way a plain field
can fail or hold something other than a plain value (``None``, an exception, a value its type
does not coerce, an awaitable, ``Undefined``, an attribute that changes when read again).
"""

from __future__ import annotations

import asyncio
import enum
import gc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, GraphQLNonNull, GraphQLObjectType, Undefined
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType

from interfaces.graphql.execution import SupportOsExecutor, direct_resolvers, plain_fields
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
    blob: JSON | None = None
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
    extra = None
    blob = None

    @property
    def name(self) -> str:
        raise ValueError("the attribute failed")


READS: list[str] = []


class Changing(Broken):
    """A source whose ``name`` is computed on access: ``None``, then a string if read again."""

    def __init__(self) -> None:
        self._names = iter([None, "second read"])

    @property
    def name(self) -> str | None:  # type: ignore[override]  # a wrong value, on purpose
        READS.append("name")
        return next(self._names)


class Label(str):
    """A ``str`` subclass: not one of the exact types a leaf answers in the loop (D158)."""

    __slots__ = ()


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


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


SETTLED: list[str] = []


async def _fails_noted() -> Any:
    SETTLED.append("started")
    await asyncio.sleep(0)
    raise ValueError("the awaited value failed")


async def _fails() -> Any:
    await asyncio.sleep(0)
    raise ValueError("the awaited value failed")


def _future(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, value)
    return future


# Each case makes its source when the query runs (an awaitable is awaited once).
SOURCES: dict[str, Callable[[], Any]] = {
    "plain": _item,
    "with_extra": lambda: _item(extra=Amount(minor=7, currency="EUR"), blob={"a": [1, 2]}),
    "null_in_non_null": lambda: _item(name=None),
    "int_too_large": lambda: _item(count=2**40),
    "not_an_enum": lambda: _item(colour="purple"),
    "exception_value": lambda: _item(name=ValueError("returned, not raised")),
    "raises": Broken,
    "changes_when_read_again": Changing,
    "object_null_in_non_null": lambda: _item(amount=None),
    "object_field_fails_in_non_null": lambda: _item(amount=Amount(minor=2**40, currency="MXN")),
    "async_field_fails_in_non_null": lambda: _item(amount=Amount(minor=1, currency="BAD")),
    "object_field_fails_in_nullable": lambda: _item(extra=Amount(minor=2**40, currency="EUR")),
    "async_field_fails_in_nullable": lambda: _item(extra=Amount(minor=1, currency="BAD")),
    "not_an_object": lambda: _item(extra="a string where an object belongs"),
    "undefined": lambda: _item(maybe=Undefined, extra=Undefined, blob=Undefined),
    "undefined_in_non_null": lambda: _item(name=Undefined),
    "str_subclass": lambda: _item(name=Label("labelled")),
    "bool_for_int": lambda: _item(count=True, maybe=False),
    "float_for_int": lambda: _item(count=2.5, maybe=3.0),
    "int_for_string": lambda: _item(name=42),
    "member_value_for_enum": lambda: _item(colour="blue"),
}


# Awaitables on plain fields: each attribute read once (an awaitable is awaited once).
AWAITABLE_SOURCES: dict[str, Callable[[], Any]] = {
    "awaitables": lambda: _item(
        name=_later("later"),
        count=_future(4),
        amount=_later(Amount(minor=5, currency="MXN")),
        extra=_future(Amount(minor=6, currency="EUR")),
        blob=_later({"b": True}),
    ),
    "a_future": lambda: _item(count=_future(4)),
    "awaitables_that_fail": lambda: _item(count=_fails(), extra=_fails(), blob=_fails()),
}
# Asked for only with ``count`` before ``name``: the awaitable is read (and started) first.
ORDERED_SOURCES: dict[str, Callable[[], Any]] = {
    "failing_after_awaitable": lambda: _item(count=_fails_noted(), name=None),
}
AWAITABLE_FIELDS = "name count amount { minor currency } extra { minor currency } blob"


async def _load_amounts(keys: list[int]) -> list[Amount]:
    return [Amount(minor=key, currency="MXN") for key in keys]


@strawberry.type
class Query:
    @strawberry.field
    def item(self, case: str) -> Item | None:
        source: Item | None = (SOURCES.get(case) or AWAITABLE_SOURCES.get(case) or ORDERED_SOURCES[case])()
        return source

    @strawberry.field
    def items(self) -> list[Item]:
        return [_item(name=f"gift {n}", count=n, maybe=n if n % 2 else None) for n in range(5)]

    @strawberry.field
    def loaded(self) -> list[Item]:
        """Plain fields holding a dataloader's futures, loaded in one batch."""
        loader = DataLoader(load_fn=_load_amounts)
        return [_item(amount=loader.load(n)) for n in (1, 2, 3)]


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    fast = strawberry.Schema(
        query=Query, extensions=extensions or [], execution_context_class=SupportOsExecutor
    )
    return plain, fast


def _answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[dict[str, Any]]]:
    result = asyncio.run(schema.execute(query))
    errors = [
        {
            **e.formatted,
            "original": type(e.original_error).__name__ if e.original_error is not None else None,
        }
        for e in (result.errors or [])
    ]
    return result.data, errors


FIELDS = (
    "name count maybe colour at amount { minor currency } computed(times: 2) "
    "extra { minor currency } later: extra { minor rate } rated: amount { rate } blob"
)


def _case(case: str) -> str:
    return f'{{ item(case: "{case}") {{ {FIELDS} }} }}'


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_every_plain_field_answers_as_graphql_core_does(case: str) -> None:
    plain, fast = _schemas()

    assert _answer(fast, _case(case)) == _answer(plain, _case(case))


@pytest.mark.parametrize("case", sorted(AWAITABLE_SOURCES))
def test_plain_fields_holding_awaitables_answer_as_graphql_core_does(case: str) -> None:
    plain, fast = _schemas()
    query = f'{{ item(case: "{case}") {{ {AWAITABLE_FIELDS} }} }}'

    assert _answer(fast, query) == _answer(plain, query)


def test_the_cases_answer_what_they_should() -> None:
    _, fast = _schemas()

    def errors(case: str) -> list[tuple[str, list[str | int]]]:
        return [(e["message"], e["path"]) for e in _answer(fast, _case(case))[1]]

    assert _answer(fast, _case("plain")) == (
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
                "rated": {"rate": 2},
                "blob": None,
            }
        },
        [],
    )
    with_extra = _answer(fast, _case("with_extra"))[0]["item"]
    assert (with_extra["extra"], with_extra["later"], with_extra["blob"]) == (
        {"minor": 7, "currency": "EUR"},
        {"minor": 7, "rate": 2},
        {"a": [1, 2]},
    )
    too_large = "Int cannot represent non 32-bit signed integer value: 1099511627776"
    assert errors("null_in_non_null") == [
        ("Cannot return null for non-nullable field Item.name.", ["item", "name"])
    ]
    assert errors("int_too_large") == [(too_large, ["item", "count"])]
    assert errors("not_an_enum") == [("Enum 'Colour' cannot represent value: 'purple'", ["item", "colour"])]
    assert errors("exception_value") == [("returned, not raised", ["item", "name"])]
    assert errors("raises") == [("the attribute failed", ["item", "name"])]
    assert errors("object_null_in_non_null") == [
        ("Cannot return null for non-nullable field Item.amount.", ["item", "amount"])
    ]
    # an error under a non-null object takes its parent (the nullable item) with it
    assert errors("object_field_fails_in_non_null") == [(too_large, ["item", "amount", "minor"])]
    assert _answer(fast, _case("async_field_fails_in_non_null"))[0] == {"item": None}
    assert errors("async_field_fails_in_non_null") == [("no rate for BAD", ["item", "rated", "rate"])]
    assert errors("object_field_fails_in_nullable") == [
        (too_large, ["item", "extra", "minor"]),
        (too_large, ["item", "later", "minor"]),
    ]
    assert errors("async_field_fails_in_nullable") == [("no rate for BAD", ["item", "later", "rate"])]
    assert len(errors("not_an_object")) == 2
    awaited = _answer(fast, f'{{ item(case: "awaitables") {{ {AWAITABLE_FIELDS} }} }}')
    assert awaited == (
        {
            "item": {
                "name": "later",
                "count": 4,
                "amount": {"minor": 5, "currency": "MXN"},
                "extra": {"minor": 6, "currency": "EUR"},
                "blob": {"b": True},
            }
        },
        [],
    )
    # a failing awaitable in a non-null field (count) takes the item with it
    failed = _answer(fast, f'{{ item(case: "awaitables_that_fail") {{ {AWAITABLE_FIELDS} }} }}')
    assert failed[0] == {"item": None}
    assert ("the awaited value failed", ["item", "count"]) in [(e["message"], e["path"]) for e in failed[1]]
    assert _answer(fast, _case("undefined")) == _answer(fast, _case("plain"))
    assert errors("undefined_in_non_null") == [
        ("Cannot return null for non-nullable field Item.name.", ["item", "name"])
    ]


def test_an_attribute_is_read_once_as_graphql_core_reads_it() -> None:
    plain, fast = _schemas()
    answers = []
    for schema in (plain, fast):
        READS.clear()
        answers.append(_answer(schema, '{ item(case: "changes_when_read_again") { name } }'))
        assert READS == ["name"]

    assert (
        answers[1]
        == answers[0]
        == (
            {"item": None},
            [
                {
                    "message": "Cannot return null for non-nullable field Item.name.",
                    "locations": [{"line": 1, "column": 43}],
                    "path": ["item", "name"],
                    "original": "TypeError",
                }
            ],
        )
    )


def test_plain_fields_holding_a_dataloaders_futures_are_awaited() -> None:
    plain, fast = _schemas()
    query = "{ loaded { amount { minor currency } } }"

    assert _answer(fast, query) == _answer(plain, query)
    assert _answer(fast, query)[0] == {
        "loaded": [{"amount": {"minor": n, "currency": "MXN"}} for n in (1, 2, 3)]
    }


def test_lists_aliases_fragments_and_permissioned_fields_answer_the_same() -> None:
    plain, fast = _schemas()
    query = (
        "{ items { n: name count maybe again: count colour ...more } first: items { name } } "
        "fragment more on Item { amount { minor } amount { currency __typename } "
        "extra @skip(if: true) { minor } }"
    )

    fast_answer = _answer(fast, query)
    assert fast_answer == _answer(plain, query)
    assert fast_answer[1] == []
    assert fast_answer[0]["items"][1]["amount"] == {
        "minor": 12_345,
        "currency": "MXN",
        "__typename": "Amount",
    }
    denied = '{ item(case: "plain") { secret } }'
    assert _answer(fast, denied) == _answer(plain, denied)
    assert _answer(fast, denied)[1][0]["message"] == "Denied."  # the permission class still ran


class _CountingBaseCalls:
    """Which fields went through graphql-core's own ``execute_field`` and ``complete_value``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fields: list[str] = []
        self.completed: list[str] = []
        execute = StrawberryGraphQLCoreExecutionContext.execute_field
        complete = StrawberryGraphQLCoreExecutionContext.complete_value

        def counted(executor: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
            self.fields.append(f"{parent_type.name}.{details[0].node.name.value}")
            return execute(executor, parent_type, source, details, *rest)

        def completing(executor: Any, return_type: Any, details: Any, info: Any, *rest: Any) -> Any:
            self.completed.append(f"{info.parent_type.name}.{info.field_name}")
            return complete(executor, return_type, details, info, *rest)

        monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counted)
        monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "complete_value", completing)


def test_plain_fields_skip_graphql_cores_field_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _CountingBaseCalls(monkeypatch)
    _, fast = _schemas()

    data, errors = _answer(fast, _case("with_extra"))

    assert errors == []
    assert data["item"]["later"] == {"minor": 7, "rate": 2}
    # only the fields with resolvers went through graphql-core's walk
    assert calls.fields == ["Query.item", "Item.computed", "Amount.rate", "Amount.rate"]
    assert set(calls.completed) == {"Query.item", "Item.computed", "Amount.rate"}


def test_a_plain_field_that_is_not_plain_is_completed_by_graphql_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _CountingBaseCalls(monkeypatch)
    _, fast = _schemas()

    _answer(fast, '{ item(case: "null_in_non_null") { name count } }')
    _answer(fast, '{ item(case: "a_future") { count } }')

    assert calls.fields == ["Query.item", "Query.item"]  # the resolver is never called twice
    # (complete_value calls itself for a non-null type's inner type)
    assert list(dict.fromkeys(calls.completed)) == ["Query.item", "Item.name", "Item.count"]
    assert calls.completed.count("Query.item") == 2


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
    assert plans["OrderSnapshot"]["totalCharged"].object_type is graphql_schema.type_map["Money"]
    # a field with a resolver (the dispute's order, loaded) is never read directly
    assert "order" not in plans.get("Dispute", {})
    assert all(not name.startswith("__") for name in plans)
    assert plain_fields(graphql_schema) is plans  # built once per schema


def test_graphql_errors_keep_their_type() -> None:
    _, fast = _schemas()
    result = asyncio.run(fast.execute('{ item(case: "int_too_large") { count } }'))

    assert result.errors is not None
    assert isinstance(result.errors[0], GraphQLError)
    assert result.errors[0].path == ["item", "count"]
    assert result.data == {"item": None}


# D152: a basic field read as Strawberry's resolver reads it; an enum's name from a table.


@strawberry.enum
class Size(enum.Enum):
    SMALL = 1
    LARGE = 2


@strawberry.type
class Box:
    size: Size
    colour: Colour | None


@strawberry.type
class BoxQuery:
    @strawberry.field
    def boxes(self) -> list[Box]:
        return [Box(size=Size.SMALL, colour=Colour.BLUE), Box(size=Size.LARGE, colour=None)]

    @strawberry.field
    def odd(self) -> Box:
        return Box(size="SMALL", colour="red")  # type: ignore[arg-type]  # values, not members


def test_enum_members_answer_the_names_strawberry_gives() -> None:
    plain = strawberry.Schema(query=BoxQuery)
    fast = strawberry.Schema(query=BoxQuery, execution_context_class=SupportOsExecutor)
    query = "{ boxes { size colour } odd { size colour } }"

    assert _answer(fast, query) == _answer(plain, query)
    assert _answer(fast, "{ boxes { size colour } }")[0] == {
        "boxes": [{"size": "SMALL", "colour": "BLUE"}, {"size": "LARGE", "colour": None}]
    }


def test_every_enum_of_the_service_schema_maps_each_member_as_strawberry_does() -> None:
    graphql_schema = supportos_schema._schema
    planned: list[tuple[Callable[[Any], Any], CustomGraphQLEnumType]] = []
    for fields in plain_fields(graphql_schema).values():
        for plan in fields.values():
            named = plan.output.of_type if isinstance(plan.output, GraphQLNonNull) else plan.output
            if isinstance(named, CustomGraphQLEnumType):
                assert plan.coerce is not None
                planned.append((plan.coerce, named))

    assert planned, "the service schema has enum fields answered directly"
    for coerce, enum_type in planned:
        members: list[enum.Enum] = list(enum_type.wrapped_cls)
        for member in members:
            assert coerce(member) == enum_type.coerce_output_value(member)
        with pytest.raises(GraphQLError):  # not a member and not a value: Strawberry's error
            coerce("no such value")


def _by_key(source: Any, name: str) -> object:
    return source[name]


@strawberry.type
class Keyed:
    name: str
    colour: Colour


@strawberry.type
class KeyedQuery:
    @strawberry.field
    def keyed(self) -> list[Keyed | None]:
        return [{"name": "first", "colour": Colour.RED}, {"name": "second"}]  # type: ignore[list-item]


def test_a_configured_default_resolver_is_the_one_used() -> None:
    config = StrawberryConfig(default_resolver=_by_key)
    plain = strawberry.Schema(query=KeyedQuery, config=config)
    fast = strawberry.Schema(query=KeyedQuery, config=config, execution_context_class=SupportOsExecutor)
    query = "{ keyed { name colour } }"

    data, errors = _answer(fast, query)
    assert (data, errors) == _answer(plain, query)
    assert data == {"keyed": [{"name": "first", "colour": "RED"}, None]}
    assert [(e["path"], e["original"]) for e in errors] == [(["keyed", 1, "colour"], "KeyError")]


# D158: a selection's plain leaves answered in execute_fields' loop.


def test_a_lists_item_selection_is_planned_once_per_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    steps = SupportOsExecutor._steps

    def counted(executor: SupportOsExecutor, grouped_field_set: Any, by_field: Any) -> Any:
        answer = steps(executor, grouped_field_set, by_field)
        built.append(len(executor._memo))
        return answer

    monkeypatch.setattr(SupportOsExecutor, "_steps", counted)
    plain, fast = _schemas()
    query = "{ items { name count maybe amount { minor currency } } }"

    data, errors = _answer(fast, query)

    assert (data, errors) == _answer(plain, query)
    assert [item["count"] for item in data["items"]] == [0, 1, 2, 3, 4]
    # five items and their five amounts: two selections, each planned once
    assert len(built) == 10
    assert built[-1] == 2


def test_an_error_through_an_object_settles_the_awaitables_before_it() -> None:
    """A non-null field that fails after a field holding an awaitable: graphql-core nulls the
    object and settles the awaitable in the background (started, never left unawaited). The
    same on both executors."""
    plain, fast = _schemas()
    query = '{ item(case: "failing_after_awaitable") { count name } }'
    answers = []
    for schema in (plain, fast):
        SETTLED.clear()
        answers.append(_answer(schema, query))
        assert SETTLED == ["started"]  # not left unawaited

    assert answers[1] == answers[0]
    data, errors = answers[1]
    assert data == {"item": None}
    assert [(e["path"], e["original"]) for e in errors] == [(["item", "name"], "TypeError")]


def test_leaves_of_the_service_schema_answer_their_exact_types_in_the_loop() -> None:
    plans = plain_fields(supportos_schema._schema)
    money = plans["Money"]

    assert int in money["minor"].direct
    assert money["minor"].coerce is not None
    assert plans["OrderSnapshot"]["totalCharged"].direct == frozenset()  # an object: its sub-fields
    status = plans["DisputeState"]["status"]
    named = status.output.of_type if isinstance(status.output, GraphQLNonNull) else status.output
    assert isinstance(named, CustomGraphQLEnumType)
    assert named.wrapped_cls in status.direct


# D161: an execution leaves no reference cycle through its executor.


def _cyclic_garbage_of(run: Callable[[], object]) -> list[object]:
    """What ``run`` left that only the cyclic collector frees (collected before, saved)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        run()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    return found


def test_an_execution_is_freed_when_it_answers_not_left_to_the_collector() -> None:
    plain, fast = _schemas()
    query = "{ items { name count amount { minor currency } } loaded { amount { minor } } }"

    left_by_graphql_core = _cyclic_garbage_of(lambda: _answer(plain, query))
    left = _cyclic_garbage_of(lambda: _answer(fast, query))

    # graphql-core's executor holds its helpers, bound methods of itself: a cycle that keeps
    # the executor, the context and every value it reached until the collector runs
    assert any(isinstance(o, StrawberryGraphQLCoreExecutionContext) for o in left_by_graphql_core)
    assert not any(isinstance(o, StrawberryGraphQLCoreExecutionContext) for o in left)
    assert not any(isinstance(o, Item | Amount) for o in left)
    assert _answer(fast, query) == _answer(plain, query)


def test_a_finished_executor_refuses_further_resolving() -> None:
    captured: list[SupportOsExecutor] = []

    class Capturing(SupportOsExecutor):
        def build_response(self, data: dict[str, Any] | None) -> Any:
            captured.append(self)
            return super().build_response(data)

    schema = strawberry.Schema(query=Query, execution_context_class=Capturing)
    assert asyncio.run(schema.execute("{ items { name } }")).errors is None

    [executor] = captured
    with pytest.raises(RuntimeError, match="has answered"):
        executor.async_helpers.track([])


# D162: resolvers without arguments or extensions called at once.

CALLS: list[str] = []


def _with_root(root: Shelf, info: strawberry.Info) -> int:
    CALLS.append(f"root {type(info.context).__name__}")
    return len(root.names)


def _with_parent(parent: strawberry.Parent[Shelf]) -> str:
    return ",".join(parent.names)


def _no_parameters() -> str:
    return "constant"


def _later_count(root: Shelf) -> Awaitable[int]:
    return _later(len(root.names))


def _raising(root: Shelf) -> int:
    raise ValueError(f"no count for {root.names[0]}")


def _nullable_raising(root: Shelf) -> int | None:
    raise ValueError("nullable failure")


def _renamed_info(root: Shelf, information: strawberry.Info) -> str:
    return information.field_name + ":" + information.python_name


@strawberry.type
class Shelf:
    names: list[str]
    counted: int = strawberry.field(resolver=_with_root)
    joined: str = strawberry.field(resolver=_with_parent)
    constant: str = strawberry.field(resolver=_no_parameters)
    later: int = strawberry.field(resolver=_later_count)
    failing: int | None = strawberry.field(resolver=_nullable_raising)
    renamed: str = strawberry.field(resolver=_renamed_info)
    guarded: int = strawberry.field(resolver=_with_root, permission_classes=[Deny])

    @strawberry.field
    def method(self) -> str:
        return self.names[-1]

    @strawberry.field
    def times(self, n: int = 2) -> int:
        return len(self.names) * n

    @strawberry.field
    async def slow(self) -> int:
        return len(self.names)


@strawberry.type
class BrokenShelf(Shelf):
    broken: int = strawberry.field(resolver=_raising)


@strawberry.type
class ShelfQuery:
    @strawberry.field
    def shelves(self) -> list[Shelf]:
        return [Shelf(names=["a", "b"]), Shelf(names=["c"])]

    @strawberry.field
    def broken(self) -> BrokenShelf | None:
        return BrokenShelf(names=["x"])


def _shelf_schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=ShelfQuery, execution_context_class=SupportOsExecutor)
    direct = strawberry.Schema(query=ShelfQuery, execution_context_class=SupportOsExecutor)
    direct_resolvers(direct)
    return plain, direct


def _directed(schema: strawberry.Schema) -> set[str]:
    return {
        f"{type_name}.{field_name}"
        for type_name, named in schema._schema.type_map.items()
        if isinstance(named, GraphQLObjectType)
        for field_name, field in named.fields.items()
        if getattr(field.resolve, "__qualname__", "").startswith("_direct")
    }


def test_direct_resolvers_answer_as_strawberrys() -> None:
    plain, direct = _shelf_schemas()
    query = (
        "{ shelves { counted joined constant later failing renamed method times slow } "
        "broken { counted broken } }"
    )
    CALLS.clear()
    answer = _answer(direct, query)
    calls = list(CALLS)
    CALLS.clear()

    assert answer == _answer(plain, query)
    assert calls == CALLS  # the same resolvers called, with an Info of the same context
    data, errors = answer
    assert data["shelves"][0] == {
        "counted": 2,
        "joined": "a,b",
        "constant": "constant",
        "later": 2,
        "failing": None,
        "renamed": "renamed:renamed",
        "method": "b",
        "times": 4,
        "slow": 2,
    }
    assert data["broken"] is None  # a non-null field raised: the nullable object is null
    assert sorted(e["message"] for e in errors) == [
        "no count for x",
        "nullable failure",
        "nullable failure",
    ]
    denied = "{ shelves { guarded } }"
    assert _answer(direct, denied) == _answer(plain, denied)


def test_only_fields_without_arguments_extensions_or_async_resolvers_are_direct() -> None:
    _, direct = _shelf_schemas()

    assert _directed(direct) == {
        f"{shelf}.{field}"
        for shelf in ("Shelf", "BrokenShelf")
        for field in ("counted", "joined", "constant", "later", "failing", "renamed", "method")
    } | {"BrokenShelf.broken", "ShelfQuery.shelves", "ShelfQuery.broken"}
    # not: guarded (a permission class: a field extension), times (an argument), slow (async)


def test_the_service_schema_calls_its_relations_directly() -> None:
    directed = _directed(supportos_schema)

    assert {"Dispute.order", "Dispute.ledgerTransactions", "Dispute.amountRefunded", "Case.order"} <= directed
    assert not any(name.startswith(("Query.", "Mutation.", "Subscription.")) for name in directed)
