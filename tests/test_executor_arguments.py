"""The executor's argument conversion (gateway/executor/arguments.py) against Strawberry's own
`convert_arguments`, for every argument of every field of the schema, with values built from
each argument's GraphQL type: every field of an input given, each optional one left out, each
nullable one null."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from strawberry.types.arguments import convert_arguments

from gateway.executor.arguments import arguments_converter
from gateway.schema.schema import build_schema
from gateway.settings import Settings

_SCALARS: dict[str, Any] = {
    "Int": 7,
    "Float": 1.5,
    "String": "text",
    "Boolean": True,
    "ID": "QXBwOjE=",
    "DateTime": datetime(2026, 3, 16, 9, 0, tzinfo=UTC),
}


def _values(type_: GraphQLInputType) -> Iterator[Any]:
    """Values of `type_` as graphql-core hands them to resolvers (coerced)."""
    if isinstance(type_, GraphQLNonNull):
        yield from _values(type_.of_type)
        return
    yield None
    if isinstance(type_, GraphQLList):
        for item in _values(type_.of_type):
            yield [item, item]
        yield []
    elif isinstance(type_, GraphQLEnumType):
        yield from (value.value for value in type_.values.values())
    elif isinstance(type_, GraphQLScalarType):
        yield _SCALARS[type_.name]
    elif isinstance(type_, GraphQLInputObjectType):
        full = {name: _first(field.type) for name, field in type_.fields.items()}
        yield full
        for name, field in type_.fields.items():
            if not isinstance(field.type, GraphQLNonNull):
                yield {k: v for k, v in full.items() if k != name}
                yield {**full, name: None}
            for other in _values(field.type):
                yield {**full, name: other}


def _first(type_: GraphQLInputType) -> Any:
    return next(v for v in _values(type_) if v is not None)


def _argument_sets(field_args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    full = {name: _first(arg.type) for name, arg in field_args.items()}
    yield full
    yield {}
    for name, arg in field_args.items():
        for value in _values(arg.type):
            yield {**full, name: value}


def _fields_with_arguments(schema: Any) -> Iterator[tuple[str, Any, Any]]:
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            if field.args and definition is not None:
                yield f"{type_.name}.{name}", field, definition


def test_every_argument_of_the_schema_converts_as_strawberry_converts_it() -> None:
    schema = build_schema(Settings(debug=True))
    registry = schema.schema_converter.scalar_registry
    config = schema.config
    compared = 0
    for where, field, definition in _fields_with_arguments(schema):
        convert = arguments_converter(definition.arguments, registry, config)
        for values in _argument_sets(field.args):
            expected = convert_arguments(values, definition.arguments, registry, config)
            got = convert(values)
            assert got == expected, (where, values)
            assert {k: type(v) for k, v in got.items()} == {
                k: type(v) for k, v in expected.items()
            }, (where, values)
            for name, value in values.items():
                if isinstance(value, list):  # a copy, as Strawberry makes: defaults are shared
                    python = next(
                        a.python_name
                        for a in definition.arguments
                        if config.name_converter.from_argument(a) == name
                    )
                    assert got[python] is not value
            compared += 1
    # The schema's filters and pages: many fields, each with several sets of values.
    assert compared > 200
