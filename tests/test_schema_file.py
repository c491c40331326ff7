"""The checked-in schema.graphql is the code's schema, and every part of it is described."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, build_schema

from gateway.schema.schema import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_checked_in_schema_matches_the_code():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == export_sdl(), (
        "schema.graphql is stale: run `make schema` and commit it"
    )


def test_every_type_and_field_has_a_description():
    schema = build_schema(export_sdl())
    missing = []
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not type_.description:
            missing.append(name)
        if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            missing += [f"{name}.{f}" for f, field in type_.fields.items() if not field.description]
    assert missing == []


def test_console_queries_are_valid_against_the_schema():
    from graphql import parse, validate

    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    from tests.helpers import QUERIES

    for path in sorted(QUERIES.glob("*.graphql")):
        assert validate(schema, parse(path.read_text(encoding="utf-8"))) == [], path.name
