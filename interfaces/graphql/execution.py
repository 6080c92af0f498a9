"""The executor: graphql-core's, with plain fields read without its per-field machinery (D141).

A page of the console's ``disputes`` list is ~750 resolved fields, and most of them are a
Strawberry field without a resolver (``status: DisputeStatus``, ``minor: int``,
``amount: Money``): Strawberry answers them with ``getattr(source, python_name)``, but
graphql-core still builds a ``GraphQLResolveInfo``, goes through the middleware check, asks
twice whether the result is awaitable and walks ``complete_value`` through its non-null,
list, leaf, abstract and object checks for each one.

:class:`SupportOsExecutor` answers exactly those fields itself, with the steps Strawberry and
graphql-core take for them: the field's default resolver (``StrawberryField.get_result`` of a
field without a resolver), then

- for a scalar or an enum (nullable or not), the leaf type's ``coerce_output_value``;
- for an object type without ``is_type_of`` (nullable or not), its sub-fields
  (``collect_and_execute_subfields``), an error among them handled as the field's own
  (``handle_field_error``: null here, or raised on through a non-null field), awaited or not,
  as ``execute_field`` does once ``complete_value`` has come down to the same call.

A field qualifies when graphql-core would call Strawberry's basic resolver for it
(``_is_default``: no resolver, no field extensions, no permission classes, no exception
handlers), has no arguments, and no schema extension wraps the resolvers (``resolve`` hooks
run as graphql-core middleware: with one, every field takes graphql-core's path).

Every other outcome goes through graphql-core unchanged: a ``None`` for a non-null field, an
exception (raised or returned), a value the leaf type does not coerce, and every other field
(lists, interfaces, unions, resolvers, ``__typename``) are executed by ``execute_field``
itself, which reads the attribute again and answers with its own error, path and locations.
The answer is the same document, errors included; only the cost of the common case changes
(``tests/unit/interfaces/test_graphql_executor.py`` runs each case on both executors).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path, Undefined, UndefinedType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Plain(NamedTuple):
    """How Strawberry and graphql-core answer one plain field."""

    read: Callable[[Any, str], Any]  # the field's default resolver (``getattr``)
    python_name: str
    output: GraphQLOutputType  # the field's type, non-null included
    non_null: bool
    coerce: Callable[[Any], Any] | None  # a scalar's or enum's ``coerce_output_value``
    object_type: GraphQLObjectType | None  # an object type without ``is_type_of``


_Plans = dict[str, dict[str, _Plain]]
_NO_PLANS: Final[_Plans] = {}
_plans_by_schema: weakref.WeakKeyDictionary[GraphQLSchema, _Plans] = weakref.WeakKeyDictionary()


def _plain(field: GraphQLField) -> _Plain | None:
    """The plan of one graphql-core field, when it is a plain field; else None."""
    if not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    output = field.type
    non_null = isinstance(output, GraphQLNonNull)
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    read, name = definition.default_resolver, definition.python_name
    if is_leaf_type(named):
        return _Plain(read, name, output, non_null, named.coerce_output_value, None)
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return _Plain(read, name, output, non_null, None, named)
    return None  # lists, interfaces, unions and checked object types: graphql-core's walk


def plain_fields(schema: GraphQLSchema) -> _Plans:
    """Type name -> field name -> plan, for every plain field of ``schema`` (built once)."""
    plans = _plans_by_schema.get(schema)
    if plans is None:
        plans = {}
        for name, named in schema.type_map.items():
            if isinstance(named, GraphQLObjectType) and not name.startswith("__"):
                fields = {key: plain for key, field in named.fields.items() if (plain := _plain(field))}
                if fields:
                    plans[name] = fields
        _plans_by_schema[schema] = plans
    return plans


_FAILED: Final = object()


class SupportOsExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context; plain fields answered directly (see the module)."""

    _plans: _Plans

    def _plain_fields(self) -> _Plans:
        middleware = self.middleware_manager
        wrapped = middleware is not None and bool(middleware.middlewares)
        self._plans = _NO_PLANS if wrapped else plain_fields(self.schema)
        return self._plans

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any] | UndefinedType:
        try:
            plans = self._plans
        except AttributeError:
            plans = self._plain_fields()
        by_field = plans.get(parent_type.name)
        if by_field is not None:
            node = field_details_list[0].node
            plain = by_field.get(node.name.value)
            if plain is not None and not node.arguments:
                try:
                    value = plain.read(source, plain.python_name)
                except Exception:  # graphql-core reads it again below and answers with its error
                    value = _FAILED
                if value is None:
                    if not plain.non_null:
                        return None
                elif value is _FAILED or isinstance(value, Exception):
                    pass
                elif plain.coerce is not None:
                    try:
                        coerced = plain.coerce(value)
                    except Exception:  # as above: graphql-core coerces it again and answers
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
                elif plain.object_type is not None:
                    return self._complete_object(
                        plain,
                        plain.object_type,
                        value,
                        field_details_list,
                        path,
                        position_context=position_context,
                    )
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _complete_object(
        self,
        plain: _Plain,
        object_type: GraphQLObjectType,
        value: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        *,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's ``execute_field`` after a resolver returned ``value`` for an object
        type without ``is_type_of``: ``complete_value`` comes down to its sub-fields, and an
        error in them is handled as the field's (null, or raised on through a non-null)."""
        try:
            completed = self.collect_and_execute_subfields(
                object_type, field_details_list, path, value, position_context
            )
        except Exception as raw_error:  # as graphql-core handles a field's error
            self.handle_field_error(raw_error, plain.output, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._awaited(completed, plain.output, field_details_list, path)
        return completed

    async def _awaited(
        self,
        completed: Awaitable[Any],
        output: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, output, field_details_list, path)
            return None
