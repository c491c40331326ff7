"""A batch resolver's arguments as the Python values Strawberry gives a resolver.

Strawberry's `convert_arguments` works the argument types out again on every call: it resolves
lazy types and annotations and asks each type whether it is a scalar, per argument and per
field of an input, on every request (about a twentieth of the App log page's CPU time, for its
one `filter`). The types of a field's arguments never change, so here that work is done once per
field, when its plan first runs it, and the result is a function of the values alone.

Each conversion does what Strawberry's `convert_argument` does for the types it supports (leaf
types, lists, optional types, lazy types and input types without a custom `from_input`); an
argument whose type holds anything else (`Maybe`, `GlobalID`, a custom `from_input`) is
converted by Strawberry's own function. tests/test_executor_arguments.py compares the two for
every argument of the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from functools import partial
from typing import Any

from strawberry.relay.types import GlobalID
from strawberry.types.arguments import (
    _is_leaf_type,
    _is_optional_leaf_type,
    convert_argument,
)
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
Arguments = Callable[[dict[str, Any]], dict[str, Any]]


def arguments_converter(arguments: list[Any], scalar_registry: Any, config: Any) -> Arguments:
    """What `convert_arguments(values, arguments, scalar_registry, config)` returns, as a function
    of `values` (the field's arguments as graphql-core coerced them)."""
    names = config.name_converter
    steps: list[tuple[str, str, Convert]] = []
    for argument in arguments:
        name = names.from_argument(argument)
        convert = _compiled(argument.type, scalar_registry, config)
        if convert is None:
            convert = partial(
                _strawberry, type_=argument.type, registry=scalar_registry, config=config, name=name
            )
        steps.append((name, argument.python_name, convert))

    def convert_all(values: dict[str, Any]) -> dict[str, Any]:
        return {python: convert(values[name]) for name, python, convert in steps if name in values}

    return convert_all


def _strawberry(value: Any, *, type_: Any, registry: Any, config: Any, name: str) -> Any:
    return convert_argument(value, type_, registry, config, None, path=(name,))


def _compiled(type_: Any, registry: Any, config: Any) -> Convert | None:
    """`convert_argument` for values of `type_`, or None where Strawberry's own is needed."""
    if isinstance(type_, StrawberryMaybe):
        return None
    if isinstance(type_, StrawberryOptional):
        # Strawberry passes an optional type's values on to the type it wraps.
        return _compiled(type_.of_type, registry, config)
    if isinstance(type_, StrawberryList):
        of_type = type_.of_type
        skip = (GlobalID,)
        if _is_leaf_type(of_type, registry, skip) or _is_optional_leaf_type(
            of_type, registry, skip
        ):
            # Copied, as Strawberry copies it: graphql-core gives every request that omits the
            # value the same default list.
            return _unless_absent(list)
        item = _compiled(of_type, registry, config)
        return None if item is None else _unless_absent(partial(_each, item))
    if type_ is GlobalID:
        return None
    if _is_leaf_type(type_, registry):
        return _unless_absent(_same)
    if isinstance(type_, LazyType):
        return _compiled(type_.resolve_type(), registry, config)
    if has_enum_definition(type_):
        return _compiled(type_.__strawberry_definition__, registry, config)
    if has_object_definition(type_):
        return _input(type_, registry, config)
    return None


def _input(type_: Any, registry: Any, config: Any) -> Convert | None:
    definition = type_.__strawberry_definition__
    if definition.from_input is not None:
        return None
    # Fields without a default are None unless given (graphql-core has checked that required
    # ones are), as Strawberry sets them.
    defaults: dict[str, Any] = {}
    if definition.is_input:
        defaults = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
    fields: list[tuple[str, str, Convert]] = []
    for field in definition.fields:
        convert = _compiled(field.resolve_type(type_definition=definition), registry, config)
        if convert is None:
            return None
        fields.append((config.name_converter.from_field(field), field.python_name, convert))

    def build(value: Mapping[str, Any]) -> Any:
        kwargs = dict(defaults)
        for name, python, convert in fields:
            if name in value:
                kwargs[python] = convert(value[name])
        return type_(**kwargs)

    return _unless_absent(build)


def _unless_absent(convert: Convert) -> Convert:
    """`convert`, except that null stays None and an unset value UNSET, as in Strawberry."""

    def converted(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        return convert(value)

    return converted


def _same(value: Any) -> Any:
    return value


def _each(convert: Convert, values: Any) -> list[Any]:
    return [convert(value) for value in values]
