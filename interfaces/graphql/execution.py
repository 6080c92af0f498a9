"""The executor: graphql-core's, with plain fields completed without its per-field machinery (D141, D158).

A page of the console's ``disputes`` list is ~750 resolved fields, and most of them are a
Strawberry field without a resolver (``status: DisputeStatus``, ``minor: int``,
``amount: Money``): Strawberry answers them with ``getattr(source, python_name)``, but
graphql-core still builds a ``GraphQLResolveInfo``, goes through the middleware check, asks
twice whether the result is awaitable and walks ``complete_value`` through its non-null,
list, leaf, abstract and object checks for each one.

:class:`SupportOsExecutor` calls such a field's resolver itself, once, as graphql-core would
(Strawberry's ``_get_basic_result``, which never looks at ``info``), and completes the common
values directly. It does what that resolver does without its two calls: reads
``getattr(source, python_name)`` when the schema's default resolver is ``getattr`` (D152);
an enum member's name comes from a table built once (Strawberry's own ``coerce_output_value``
compares the member with each of the type's values in turn):

- ``None`` for a nullable field: null;
- a value of a scalar or enum type (nullable or not) that is neither an exception, nor
  ``Undefined``, nor awaitable: the type's ``coerce_output_value``, when it gives a value;
- such a value of an object type without ``is_type_of`` (nullable or not): its sub-fields
  (``collect_and_execute_subfields``, which is what ``complete_value`` comes down to for it),
  an error among them handled as the field's (``handle_field_error``: null here, or raised on
  through a non-null field), awaited or not, as ``execute_field`` does.

Every other value the resolver returned - ``None`` or ``Undefined`` for a non-null field, an
exception, an awaitable (a coroutine, a dataloader's future), a value the type does not
coerce (coerced again there: coercion is a pure function) - is completed by graphql-core's
own ``complete_awaitable_value`` or ``complete_value`` with the resolve info, inside
``execute_field``'s error handling (:meth:`SupportOsExecutor._complete`), so its answer and
error (message, path, locations) are graphql-core's. The resolver is never called twice.

Within an object, :meth:`SupportOsExecutor.execute_fields` answers a plain leaf's common values
in its loop (D158): the selection's plans looked up once per execution, and a value of a type
its coercion answers at once coerced with no ``Path`` and no call of ``execute_field``.

A field qualifies when Strawberry gave it ``_get_basic_result``: its resolver is marked
``_is_default`` (no Python resolver) and the field ``is_basic_field`` (no field extensions or
permission classes; exception handlers only apply to union types, which are not plain here);
when it has no arguments; and when no schema extension wraps resolvers (``resolve`` hooks run
as graphql-core middleware: with one, every field takes graphql-core's path). Lists,
interfaces, unions, object types with ``is_type_of``, ``__typename`` and fields with
resolvers always do. ``tests/unit/interfaces/test_graphql_executor.py`` runs each case on
both executors and compares the answers.

What it relies on: graphql-core's ``execute_field``, ``complete_value``,
``complete_awaitable_value``, ``collect_and_execute_subfields``, ``handle_field_error`` and
``build_resolve_info`` (signatures and behaviour) and ``MiddlewareManager.middlewares``;
Strawberry's ``_is_default`` marker, ``is_basic_field`` and its field back-reference
(``DEFINITION_BACKREF``). Both are pinned to minor ranges (``pyproject.toml``); an override
of graphql-core's ``complete_*`` methods in a subclass would not see plain fields.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, NamedTuple
from uuid import UUID

from graphql import (
    ExecutionResult,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import AwaitableOrValue, Path, Undefined, UndefinedType, gather_with_cancel
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Plain(NamedTuple):
    """How graphql-core answers one plain field, and what its type needs."""

    field: GraphQLField  # its ``resolve`` is Strawberry's basic resolver, which ignores ``info``
    read: Callable[[Any], Any]  # what that resolver does for a source (D152)
    output: GraphQLOutputType  # the field's type, non-null included
    non_null: bool
    coerce: Callable[[Any], Any] | None  # a scalar's or enum's ``coerce_output_value``
    object_type: GraphQLObjectType | None  # an object type without ``is_type_of``
    direct: frozenset[type]  # a leaf's value types coerced at once (D158); empty for objects


_Plans = dict[str, dict[str, _Plain]]
_Step = tuple[str, FieldDetailsList, _Plain | None]  # response name, its fields, its plan

# Types of the values a scalar's coercion answers at once when it gives a value (D158): none
# of them is None, Undefined, an exception or awaitable, the checks ``_after_read`` makes.
# An enum's plan adds its class. Exact types: a subclass takes ``_after_read``'s path.
_SCALAR_VALUES: Final = frozenset({str, int, float, bool, datetime, date, Decimal, UUID})
_NO_PLANS: Final[_Plans] = {}
_plans_by_schema: weakref.WeakKeyDictionary[GraphQLSchema, _Plans] = weakref.WeakKeyDictionary()


def _plain(field: GraphQLField) -> _Plain | None:
    """The plan of one graphql-core field, when it is a plain field; else None.

    Strawberry marks its resolvers of fields without a Python resolver ``_is_default``; of
    those, a field that is also ``is_basic_field`` (no field extensions, no permission
    classes) and whose type is not a union (the only types exception handlers apply to)
    gets ``_get_basic_result``, which reads the attribute and never looks at ``info``."""
    if not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    output = field.type
    non_null = isinstance(output, GraphQLNonNull)
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    read = _reader(field, definition)
    if isinstance(named, CustomGraphQLEnumType):
        members = frozenset({named.wrapped_cls})
        return _Plain(field, read, output, non_null, _enum_output(named), None, _SCALAR_VALUES | members)
    if is_leaf_type(named):
        return _Plain(field, read, output, non_null, named.coerce_output_value, None, _SCALAR_VALUES)
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return _Plain(field, read, output, non_null, None, named, frozenset())
    return None  # lists, interfaces, unions and checked object types: graphql-core's walk


def _reader(field: GraphQLField, definition: StrawberryField) -> Callable[[Any], Any]:
    """What the field's basic resolver does for a source, without its two calls (D152):
    ``getattr(source, python_name)`` when the field's default resolver is ``getattr`` (the
    schema's configuration), else the resolver itself."""
    if definition.default_resolver is getattr:  # a basic field has no Python resolver
        return attrgetter(definition.python_name)
    resolve = field.resolve

    def basic(source: Any) -> Any:
        return resolve(source, None)  # type: ignore[misc]  # a plain field's is never None

    return basic


def _enum_output(enum_type: CustomGraphQLEnumType) -> Callable[[Any], Any]:
    """The enum type's ``coerce_output_value`` with its members' names looked up in a table
    (D152). Strawberry's compares the member's value with each of the type's values in turn,
    and answers the first name whose value equals it: the table holds that name for each
    member. Anything else (a value that is not a member) goes to Strawberry's, as before."""
    wrapped: type[Any] = enum_type.wrapped_cls
    names: dict[Any, str] = {}
    for member in wrapped:
        for name, value in enum_type.values.items():
            if member.value == value.value:
                names[member] = name
                break
    fallback = enum_type.coerce_output_value

    def coerce(value: Any) -> Any:
        if type(value) is wrapped:
            name = names.get(value)
            if name is not None:
                return name
        return fallback(value)

    return coerce


def plain_fields(schema: GraphQLSchema) -> _Plans:
    """Type name -> field name -> plan, for every plain field of ``schema``: built once per
    schema, kept while the schema lives (a module-level map with weak keys)."""
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


def _finished(*_: object) -> Any:
    raise RuntimeError("this execution has answered: nothing resolves on its executor any more (D161)")


_FINISHED: Final = GraphQLResolveInfoHelpers(gather=_finished, track=_finished)


class SupportOsExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context; plain fields answered directly (see the module)."""

    _plans: _Plans
    _memo: dict[int, tuple[GroupedFieldSet, list[_Step]]]

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's answer; then, when it is the whole answer (no deferred or streamed
        part still to run on this executor), the executor's resolver helpers are replaced
        (D161). graphql-core builds them from the executor's own bound methods: a reference
        cycle through which every request left its whole graph - the context, its loaders and
        transaction, the rows and domain objects, the collected fields - for the cyclic
        collector instead of being freed when the answer is sent. The infos of resolvers still
        running keep the original helpers, so what they do is unchanged; nothing resolves on
        this executor after its answer, and :data:`_FINISHED` says so if anything tried."""
        response = super().build_response(data)
        if isinstance(response, ExecutionResult):
            self.async_helpers = _FINISHED
        return response

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
                return self._execute_plain(
                    plain, parent_type, source, field_details_list, path, position_context
                )
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's ``execute_fields`` with a plain leaf field's common answers given in
        the loop (D158): its attribute read, a null for a nullable field, a scalar or enum
        coerced, without the field's ``Path``, its call of :meth:`execute_field` and the
        plan's lookups, which are made once per selection (:meth:`_steps`). Every other field
        and value takes :meth:`execute_field`'s path (or :meth:`_after_read`'s, for a value
        already read), with its ``Path``. As graphql-core's: results in the selection's
        order, awaited together when any is awaitable, and an error raised through the object
        (a non-null field's) settles the awaitables already started before it goes on."""
        try:
            plans = self._plans
        except AttributeError:
            plans = self._plain_fields()
        by_field = plans.get(parent_type.name)
        if by_field is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        type_name = parent_type.name
        try:
            for response_name, field_details_list, plain in self._steps(grouped_field_set, by_field):
                if plain is None:  # graphql-core's own (a plain field with arguments too)
                    result = super().execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, type_name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                else:
                    result = self._read_plain(
                        plain,
                        parent_type,
                        source_value,
                        field_details_list,
                        path,
                        response_name,
                        position_context,
                    )
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # as graphql-core's: they may fail too
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gathered(results, awaitable_fields)

    def _read_plain(  # noqa: PLR0917 - execute_fields' arguments, the plan and the field's name
        self,
        plain: _Plain,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path | None,
        response_name: str,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """:meth:`_execute_plain` with the field's ``Path`` made only when it is needed: for
        an error, or for a value :meth:`_after_read` completes. A leaf's value of a type
        in ``plain.direct`` is coerced here; a null for a nullable field answered here."""
        try:
            value = plain.read(source)
        except Exception as raw_error:  # as execute_field handles a resolver's error
            field_path = Path(path, response_name, parent_type.name)
            self.handle_field_error(raw_error, plain.output, field_details_list, field_path)
            return None
        if type(value) in plain.direct:
            try:
                coerced = plain.coerce(value)  # type: ignore[misc]  # a leaf's plan has one
            except Exception:  # graphql-core coerces it again in _complete and answers the error
                coerced = None
            if coerced is not None and coerced is not Undefined:
                return coerced
        elif value is None and not plain.non_null:
            return None
        field_path = Path(path, response_name, parent_type.name)
        return self._after_read(plain, parent_type, value, field_details_list, field_path, position_context)

    @staticmethod
    async def _gathered(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        """``results`` with its awaitable values awaited together, as graphql-core's
        ``execute_fields`` awaits them (one awaited alone)."""
        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results

    def _steps(self, grouped_field_set: GroupedFieldSet, by_field: dict[str, _Plain]) -> list[_Step]:
        """Each field of a selection with its plan (None: not plain, or given arguments),
        made once per selection for this execution: graphql-core collects a list's item
        selection once (``collect_subfields`` memoizes it), so its items share one. Kept by the
        selection's identity, with the selection itself, so the identity is not reused."""
        try:
            memo = self._memo
        except AttributeError:
            memo = self._memo = {}
        held = memo.get(id(grouped_field_set))
        if held is not None:
            return held[1]
        steps: list[_Step] = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            plain = None if node.arguments else by_field.get(node.name.value)
            steps.append((response_name, field_details_list, plain))
        memo[id(grouped_field_set)] = (grouped_field_set, steps)
        return steps

    def _execute_plain(  # noqa: PLR0917 - execute_field's arguments and the plan
        self,
        plain: _Plain,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """``execute_field`` for a plain field: its resolver called once, the common values
        completed here, every other value completed by graphql-core (:meth:`_complete`)."""
        try:
            value = plain.read(source)
        except Exception as raw_error:  # as execute_field handles a resolver's error
            self.handle_field_error(raw_error, plain.output, field_details_list, path)
            return None
        return self._after_read(plain, parent_type, value, field_details_list, path, position_context)

    def _after_read(  # noqa: PLR0917 - as above, the value read instead of the source
        self,
        plain: _Plain,
        parent_type: GraphQLObjectType,
        value: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """What :meth:`_execute_plain` does with the value the field's resolver returned."""
        if value is None:
            if not plain.non_null:
                return None
        elif value is not Undefined and not isinstance(value, Exception) and not self.is_awaitable(value):
            if plain.coerce is not None:
                try:
                    coerced = plain.coerce(value)
                except Exception:  # graphql-core coerces it again in _complete and answers the error
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
            elif plain.object_type is not None:
                return self._complete(
                    plain, parent_type, value, field_details_list, path, position_context, direct=True
                )
        return self._complete(
            plain, parent_type, value, field_details_list, path, position_context, direct=False
        )

    def _complete(  # noqa: PLR0917 - as above
        self,
        plain: _Plain,
        parent_type: GraphQLObjectType,
        value: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
        *,
        direct: bool,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's ``execute_field`` once the resolver returned ``value``.

        ``direct``: a plain object of a type without ``is_type_of``, for which ``complete_value``
        comes down to executing its sub-fields, done here. Otherwise graphql-core's
        ``complete_awaitable_value`` or ``complete_value``, with the resolve info. Either way an
        error is handled as the field's (null here, or raised on through a non-null field),
        awaited or not, as ``execute_field`` handles it."""
        object_type = plain.object_type if direct else None
        try:
            if object_type is not None:
                completed = self.collect_and_execute_subfields(
                    object_type, field_details_list, path, value, position_context
                )
            else:
                info = self.build_resolve_info(plain.field, to_nodes(field_details_list), parent_type, path)
                if self.is_awaitable(value):
                    return self.complete_awaitable_value(
                        plain.output, field_details_list, info, path, value, position_context
                    )
                completed = self.complete_value(
                    plain.output, field_details_list, info, path, value, position_context
                )
        except Exception as raw_error:  # as execute_field handles a completion's error
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
        except Exception as raw_error:  # as execute_field's await_completed
            self.handle_field_error(raw_error, output, field_details_list, path)
            return None


# ----------------------------------------------------------------------------- direct resolvers (D162)


def direct_resolvers(schema: Schema) -> int:
    """Give each eligible field of ``schema`` a direct resolver (D162); how many got one.

    Strawberry's resolver for a field with a Python resolver goes through six calls before
    the resolver's: the ``Info``, the extension chain (built per call even when empty: a
    closure and a ``reduce``), the arguments' conversion, ``_get_result`` and the field's
    ``get_result``. For a field with no arguments, no field extensions (permission classes are
    one), no exception handler that could apply to it and a synchronous resolver, all of that
    comes down to ``field.get_result(source, info, args, kwargs)`` with the source in
    ``args`` (a ``self`` parameter) or ``kwargs`` (``root``/``parent``) and the ``Info`` in
    ``kwargs`` - which the direct resolver calls at once. Anything else keeps Strawberry's."""
    converter = schema.schema_converter
    info_class = schema.config.info_class
    count = 0
    for name, named in schema._schema.type_map.items():
        if not isinstance(named, GraphQLObjectType) or name.startswith("__"):
            continue
        for field in named.fields.values():
            direct = _direct(field, converter, info_class)
            if direct is not None:
                field.resolve = direct
                count += 1
    return count


def _direct(field: GraphQLField, converter: GraphQLCoreConverter, info_class: type[Any]) -> Any:
    """The direct resolver of one graphql-core field, when it may have one; else None."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or field.args:
        return None
    resolver = definition.base_resolver
    if (
        resolver is None
        or definition.extensions
        or definition.arguments
        or definition.is_async
        or definition.is_subscription
        or converter._get_field_exception_handlers(definition)
    ):
        return None
    as_self = resolver.self_parameter is not None
    as_source = tuple(p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None)
    info_name = None if resolver.info_parameter is None else resolver.info_parameter.name
    get_result = definition.get_result

    def resolve(source: Any, info: Any) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=definition)
        kwargs = dict.fromkeys(as_source, source)
        if info_name is not None:
            kwargs[info_name] = strawberry_info
        return get_result(source, info=strawberry_info, args=[source] if as_self else [], kwargs=kwargs)

    return resolve
