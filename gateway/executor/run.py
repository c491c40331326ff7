"""Executing a plan breadth-first: each field step runs once over all its parent objects.

A field of a selection set is resolved for every parent object at once (one call of its batch
resolver, or its per-object resolver called for each parent and awaited together), then its
values are completed together: leaves serialized, lists flattened, objects grouped by runtime
type and their own fields executed the same way. A page awaits once per field path, not once
per object.

Completion follows graphql-core's rules and messages exactly (the reference it is tested
against): a resolver error, a null in a non-null position or a value that cannot be
serialized is an error located at its path, and the position becomes null, or, when it is
non-null, the nearest nullable position above it.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, TypeGuard

from graphql import (
    GraphQLAbstractType,
    GraphQLError,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    OperationType,
    Undefined,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.executor import default_type_resolver
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path, inspect, is_iterable
from graphql.type.definition import GraphQLResolveInfoHelpers
from tortoise.models import Model

from gateway.executor import eager
from gateway.executor.arguments import arguments_converter
from gateway.executor.leaves import all_served, coercer, serve_all
from gateway.executor.plan import TYPENAME, FieldPlan, Plan


class _Error:
    """The position is null because of an error (already recorded). At a non-null position
    this propagates to the nearest nullable one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ERROR"


ERROR: Any = _Error()

# The response path of each position of a step, by index, made only when one is asked for (an
# error, or the info of a per-object resolver): a page has thousands of positions and hardly
# ever an error, so building a `Path` for each would be most of the bookkeeping.
PathsAt = Callable[[int], Path]
ParentPathsAt = Callable[[int], Path | None]


async def _gather_one(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception as exc:
        return exc


def _no_tracking(_values: Sequence[Any]) -> None:
    """Resolvers here get their awaitables awaited by the engine; nothing is left behind."""


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*values))


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_no_tracking)


def _read(parent: Any, attribute: str) -> Any:
    try:
        return getattr(parent, attribute)
    except Exception as exc:
        return exc


def _is_awaitable_type(kind: type) -> bool:
    return not issubclass(kind, Model) and hasattr(kind, "__await__")


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    # Tortoise rows are awaitable, to themselves: graphql-core awaits each one (a task per row
    # in a list); taking them as they are gives the same value at once.
    return not isinstance(value, Model) and hasattr(value, "__await__")


class Run:
    """One execution of a plan: its variables, context and collected errors."""

    def __init__(
        self,
        plan: Plan,
        root_value: Any,
        context: Any,
        variable_values: VariableValues,
        fragment_definitions: dict[str, Any],
        converter: Any,
    ) -> None:
        self.plan = plan
        # Strawberry's scalar registry and config, to give batch resolvers the Python values
        # of their arguments as Strawberry gives them to per-object resolvers.
        self.converter = converter
        self.root_value = root_value
        self.context = context
        self.variable_values = variable_values
        self.fragment_definitions = fragment_definitions
        self.errors: list[GraphQLError] = []

    async def execute(self) -> dict[str, Any] | None:
        root_type = self.plan.root_type
        assert root_type is not None
        fields = self.plan.root_fields
        if self.plan.operation.operation is OperationType.MUTATION:
            # One after another: each payload shows the state after its own mutation.
            data: dict[str, Any] = {}
            for field in fields:
                (value,) = await self._field(root_type, field, [self.root_value], _at_root)
                if value is ERROR:
                    return None
                data[field.key] = value
            return data
        (result,) = await self._object(root_type, fields, [self.root_value], _at_root)
        return None if result is ERROR else result

    # -- fields ---------------------------------------------------------------------------

    async def _object(
        self,
        object_type: GraphQLObjectType,
        fields: list[FieldPlan],
        parents: list[Any],
        paths: ParentPathsAt,
    ) -> list[Any]:
        """The response objects of `parents`, or ERROR for each nulled by a non-null field."""
        columns: list[Any] = [None] * len(fields)
        pending: list[int] = []
        for index, field in enumerate(fields):
            column = self._plain_field(object_type, field, parents, paths)
            if column is None:
                pending.append(index)
            else:
                columns[index] = column
        if len(pending) == 1:
            columns[pending[0]] = await self._field(object_type, fields[pending[0]], parents, paths)
        elif pending:
            awaited = await eager.gather(
                [self._field(object_type, fields[i], parents, paths) for i in pending]
            )
            for index, column in zip(pending, awaited, strict=True):
                columns[index] = column
        if not fields:  # every selection skipped
            return [{} for _ in parents]
        keys = tuple(f.key for f in fields)
        # Completed values are dicts, lists and scalars: `in` finds ERROR by identity.
        if not any(ERROR in column for column in columns):
            return _objects_of(keys)(columns)
        results: list[Any] = []
        for i in range(len(parents)):
            row = {}
            for key, column in zip(keys, columns, strict=True):
                value = column[i]
                if value is ERROR:
                    row = ERROR
                    break
                row[key] = value
            results.append(row)
        return results

    def _plain_field(
        self,
        parent_type: GraphQLObjectType,
        field: FieldPlan,
        parents: list[Any],
        paths: ParentPathsAt,
    ) -> list[Any] | None:
        """`__typename`, and attributes of a leaf type, completed without awaiting anything;
        None for every other field."""
        if field.definition is None:
            return [parent_type.name] * len(parents)
        attribute, leaf_type = field.leaf_attribute, field.leaf_type
        if attribute is None or leaf_type is None:
            return None
        # C-level passes over the values (a page has thousands): read them all, serve them
        # all; any null, error or odd value takes the slow way.
        try:
            values = list(map(attrgetter(attribute), parents))
        except Exception:
            values = [_read(parent, attribute) for parent in parents]
        else:
            served = serve_all(leaf_type, values)
            if served is not None:
                return served
        # Some value is null or fails: complete the slow way, which locates each error.
        return self._complete_sync_leaves(field, values, _field_paths(paths, field, parent_type))

    def _complete_sync_leaves(
        self, field: FieldPlan, values: list[Any], paths: PathsAt
    ) -> list[Any]:
        out, todo = self._start(field, values, paths)
        assert field.leaf_type is not None
        self._complete_leaves(field.leaf_type, field, values, paths, todo, out)
        return self._positioned(field.return_type, field, out, paths)

    async def _field(
        self,
        parent_type: GraphQLObjectType,
        field: FieldPlan,
        parents: list[Any],
        paths: ParentPathsAt,
    ) -> list[Any]:
        if field.definition is None:  # __typename
            return [parent_type.name] * len(parents)
        field_paths = _field_paths(paths, field, parent_type)
        values = await self._resolve(field, parents, field_paths)
        return await self._complete(field.return_type, field, values, field_paths)

    async def _resolve(self, field: FieldPlan, parents: list[Any], paths: PathsAt) -> list[Any]:
        """Each parent's raw value, or the exception its resolver raised."""
        definition = field.definition
        assert definition is not None
        node = field.nodes[0]
        try:
            args = (
                get_argument_values(
                    definition,
                    node,
                    self.variable_values,
                    field.details[0].fragment_variable_values,
                )
                if definition.args or node.arguments
                else {}
            )
        except Exception as exc:
            return [exc] * len(parents)
        if field.batch is not None:
            try:
                if args:
                    convert = field.convert_arguments
                    if convert is None:  # once per field of a plan
                        convert = field.convert_arguments = arguments_converter(
                            field.strawberry_field.arguments,
                            self.converter.scalar_registry,
                            self.converter.config,
                        )
                    args = convert(args)
                batch = field.batch(self.context, parents, **args)
                values = list(await batch if _is_awaitable(batch) else batch)
            except Exception as exc:
                # A failed batch fails each of its objects, as a loader's failure does.
                return [exc] * len(parents)
            if len(values) != len(parents):
                error = TypeError(
                    f"The batch resolver of {field.parent_type.name}.{field.name} returned "
                    f"{len(values)} values for {len(parents)} objects."
                )
                return [error] * len(parents)
            return values
        attribute = field.attribute
        if attribute is not None:
            return [_read(parent, attribute) for parent in parents]
        resolve = definition.resolve
        assert resolve is not None  # Strawberry gives every field a resolver
        values = []
        pending: list[int] = []
        for i, parent in enumerate(parents):
            try:
                value = resolve(parent, self._info(field, paths(i)), **args)
            except Exception as exc:
                value = exc
            else:
                if _is_awaitable(value):
                    pending.append(i)
            values.append(value)
        if len(pending) == 1:  # a root field, say: no task to run it beside others
            values[pending[0]] = await _gather_one(values[pending[0]])
        elif pending:
            awaited = await eager.gather([_gather_one(values[i]) for i in pending])
            for i, value in zip(pending, awaited, strict=True):
                values[i] = value
        return values

    def _info(self, field: FieldPlan, path: Path) -> GraphQLResolveInfo:
        return GraphQLResolveInfo(
            field.name,
            field.nodes,
            field.return_type,
            field.parent_type,
            path,
            self.plan.schema,
            self.fragment_definitions,
            self.root_value,
            self.plan.operation,
            self.variable_values,
            self.context,
            _is_awaitable,
            None,
            _HELPERS,
        )

    # -- completion -----------------------------------------------------------------------

    def _fail(self, error: Exception, field: FieldPlan, path: Path) -> Any:
        self.errors.append(located_error(error, field.nodes, path.as_list()))
        return ERROR

    async def _complete(
        self,
        return_type: GraphQLOutputType,
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
    ) -> list[Any]:
        """Completed values at positions of type `return_type`; ERROR only where the position
        is non-null (a nullable one absorbs its error as null)."""
        inner_type = return_type.of_type if is_non_null_type(return_type) else return_type
        completed = await self._complete_nullable(inner_type, field, values, paths)
        return self._positioned(return_type, field, completed, paths)

    def _positioned(
        self,
        return_type: GraphQLOutputType,
        field: FieldPlan,
        completed: list[Any],
        paths: PathsAt,
    ) -> list[Any]:
        """Completed values put in positions of `return_type`: a null in a non-null position is
        an error that propagates (ERROR); a nullable position absorbs an error as null."""
        # `in` first: a C-level pass over the values, which hardly ever finds one.
        if not is_non_null_type(return_type):
            if ERROR not in completed:
                return completed
            return [None if value is ERROR else value for value in completed]
        if None not in completed:
            return completed
        for i, value in enumerate(completed):
            if value is None:
                message = (
                    "Cannot return null for non-nullable field"
                    f" {field.parent_type.name}.{field.name}."
                )
                completed[i] = self._fail(TypeError(message), field, paths(i))
        return completed

    def _start(
        self, field: FieldPlan, values: list[Any], paths: PathsAt
    ) -> tuple[list[Any], list[int]]:
        """Positions whose resolver failed (their errors recorded) or gave null, and the
        indices of the values left to complete."""
        out: list[Any] = [None] * len(values)
        if all_served(values):  # the usual case, checked once per type of value
            return out, list(range(len(values)))
        todo: list[int] = []
        for i, value in enumerate(values):
            if isinstance(value, Exception):
                out[i] = self._fail(value, field, paths(i))
            elif value is not None and value is not Undefined:
                todo.append(i)
        return out, todo

    async def _complete_nullable(
        self,
        return_type: GraphQLOutputType,
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
    ) -> list[Any]:
        """Values, None, or ERROR where an error happened at that position."""
        out, todo = self._start(field, values, paths)
        if not todo:
            return out
        if is_list_type(return_type):
            await self._complete_lists(return_type, field, values, paths, todo, out)
        elif is_leaf_type(return_type):
            served = serve_all(return_type, values) if len(todo) == len(values) else None
            if served is not None:
                return served
            self._complete_leaves(return_type, field, values, paths, todo, out)
        elif is_abstract_type(return_type):
            await self._complete_abstract(return_type, field, values, paths, todo, out)
        elif is_object_type(return_type):
            await self._complete_objects(return_type, field, values, paths, todo, out)
        return out

    async def _complete_lists(
        self,
        return_type: GraphQLList[Any],
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
        todo: list[int],
        out: list[Any],
    ) -> None:
        items: list[Any] = []
        spans: list[tuple[int, int, int]] = []
        for i in todo:
            value = values[i]
            # graphql-core's check, after a cheaper one that lists pass (the usual value).
            if type(value) is not list and not is_iterable(value):
                message = (
                    "Expected Iterable, but did not find one for field"
                    f" '{field.parent_type.name}.{field.name}'."
                )
                out[i] = self._fail(GraphQLError(message), field, paths(i))
                continue
            start = len(items)
            items.extend(value)
            spans.append((i, start, len(items)))
        if any(_is_awaitable_type(kind) for kind in set(map(type, items))):
            pending = [j for j, item in enumerate(items) if _is_awaitable(item)]
            awaited = await eager.gather([_gather_one(items[j]) for j in pending])
            for j, item in zip(pending, awaited, strict=True):
                items[j] = item
        completed = await self._complete(
            return_type.of_type, field, items, _item_paths(paths, spans)
        )
        # Only non-null items can fail (a nullable one absorbs its error as null): a failed
        # item nulls its whole list.
        failed = ERROR in completed  # a C-level pass; completed values never equal ERROR
        for i, start, end in spans:
            chunk = completed[start:end]
            out[i] = ERROR if failed and ERROR in chunk else chunk

    def _complete_leaves(
        self,
        return_type: GraphQLLeafType,
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
        todo: Iterable[int],
        out: list[Any],
    ) -> None:
        coerce = coercer(return_type)
        for i in todo:
            value = values[i]
            try:
                coerced = coerce(value)
                if coerced is Undefined or coerced is None:
                    message = (
                        f"Expected `{inspect(return_type)}.coerce_output_value("
                        f"{inspect(value)})` to return non-nullable value, returned:"
                        f" {inspect(coerced)}"
                    )
                    raise TypeError(message)
            except Exception as exc:
                out[i] = self._fail(exc, field, paths(i))
            else:
                out[i] = coerced

    async def _complete_abstract(
        self,
        return_type: GraphQLAbstractType,
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
        todo: list[int],
        out: list[Any],
    ) -> None:
        resolve_type = return_type.resolve_type
        groups: dict[str, list[int]] = {}
        types: dict[str, GraphQLObjectType] = {}
        for i in todo:
            value = values[i]
            try:
                info = self._info(field, paths(i))
                if resolve_type is None:
                    name = default_type_resolver(value, info, return_type)
                else:
                    name = resolve_type(value, info, return_type)
                if _is_awaitable(name):
                    name = await name
                runtime_type = self._runtime_type(name, return_type, field, value)
            except Exception as exc:
                out[i] = self._fail(exc, field, paths(i))
                continue
            types[runtime_type.name] = runtime_type
            groups.setdefault(runtime_type.name, []).append(i)
        for type_name, indices in groups.items():
            await self._complete_objects(types[type_name], field, values, paths, indices, out)

    def _runtime_type(
        self, name: Any, return_type: GraphQLAbstractType, field: FieldPlan, value: Any
    ) -> GraphQLObjectType:
        nodes = field.nodes
        where = f"field '{field.parent_type.name}.{field.name}'"
        if name is None:
            raise GraphQLError(
                f"Abstract type '{return_type}' must resolve to an Object type at runtime"
                f" for {where}. Either the '{return_type}' type should provide"
                " a 'resolve_type' function or each possible type should provide"
                " an 'is_type_of' function.",
                nodes,
            )
        if not isinstance(name, str):
            raise GraphQLError(
                f"Abstract type '{return_type}' must resolve to an Object type at runtime"
                f" for {where} with value {inspect(value)}, received '{inspect(name)}',"
                " which is not a valid Object type name.",
                nodes,
            )
        runtime_type = self.plan.schema.get_type(name)
        if runtime_type is None:
            raise GraphQLError(
                f"Abstract type '{return_type}' was resolved to a type"
                f" '{name}' that does not exist inside the schema.",
                nodes,
            )
        if not is_object_type(runtime_type):
            raise GraphQLError(
                f"Abstract type '{return_type}' was resolved to a non-object type '{name}'.",
                nodes,
            )
        if not self.plan.schema.is_sub_type(return_type, runtime_type):
            raise GraphQLError(
                f"Runtime Object type '{runtime_type}' is not a possible type for '{return_type}'.",
                nodes,
            )
        return runtime_type

    async def _complete_objects(
        self,
        object_type: GraphQLObjectType,
        field: FieldPlan,
        values: list[Any],
        paths: PathsAt,
        todo: list[int],
        out: list[Any],
    ) -> None:
        is_type_of = object_type.is_type_of
        # A type whose values are instances of one class says which (schema/base.py): one
        # isinstance per object instead of a call of its `is_type_of`.
        instances_of = getattr(is_type_of, "instances_of", None)
        if len(todo) == len(values) and (
            is_type_of is None
            if instances_of is None
            else set(map(type, values)) == {instances_of}  # C-level passes: the usual case
        ):
            fields = self.plan.children(field, object_type)
            out[:] = await self._object(object_type, fields, values, paths)
            return
        objects: list[Any] = []
        kept: list[int] = []
        for i in todo:
            value = values[i]
            if instances_of is not None:
                if not isinstance(value, instances_of):
                    out[i] = self._fail(
                        self._not_of_type(object_type, field, value), field, paths(i)
                    )
                    continue
            elif is_type_of is not None:
                try:
                    matches = is_type_of(value, self._info(field, paths(i)))
                    if _is_awaitable(matches):
                        matches = await matches
                    if not matches:
                        raise self._not_of_type(object_type, field, value)
                except Exception as exc:
                    out[i] = self._fail(exc, field, paths(i))
                    continue
            objects.append(value)
            kept.append(i)
        if not objects:
            return
        fields = self.plan.children(field, object_type)
        completed = await self._object(object_type, fields, objects, lambda k: paths(kept[k]))
        for i, value in zip(kept, completed, strict=True):
            out[i] = value

    @staticmethod
    def _not_of_type(object_type: GraphQLObjectType, field: FieldPlan, value: Any) -> GraphQLError:
        return GraphQLError(
            f"Expected value of type '{object_type}' but got: {inspect(value)}.", field.nodes
        )


@lru_cache(maxsize=1024)
def _objects_of(keys: tuple[str, ...]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """A function from columns of values (one per key, a value per parent) to the response
    objects, generated with a dict display per object: a page builds a thousand, and
    dict(zip(keys, values)) costs twice as much. The keys reach the source as names bound in
    its namespace, never as text."""
    names: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    values = ", ".join(f"v{i}" for i in range(len(keys)))
    display = ", ".join(f"k{i}: v{i}" for i in range(len(keys)))
    source = (
        "def objects(columns):\n"
        f"    return [{{{display}}} for {values}, in zip(*columns, strict=True)]\n"
    )
    exec(source, names)
    return names["objects"]  # made by the exec above


def _at_root(_index: int) -> None:
    return None


def _field_paths(
    parents: ParentPathsAt, field: FieldPlan, parent_type: GraphQLObjectType
) -> PathsAt:
    key, type_name = field.key, parent_type.name
    return lambda i: Path(parents(i), key, type_name)


def _item_paths(lists: PathsAt, spans: list[tuple[int, int, int]]) -> PathsAt:
    """Paths of the items of lists laid end to end: (list index, first item, end) per list."""
    starts = [start for _i, start, _end in spans]

    def at(j: int) -> Path:
        owner, start, _end = spans[bisect_right(starts, j) - 1]
        return lists(owner).add_key(j - start, None)

    return at


__all__ = ["ERROR", "TYPENAME", "Run"]
