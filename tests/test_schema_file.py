"""The checked-in schema.graphql is the code's schema, and every part of it is described."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
    parse,
    validate,
)

from gateway.schema.schema import export_sdl
from tests.helpers import QUERIES

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
LOCAL_QUERIES = Path(__file__).resolve().parent / "queries"


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


def console_queries(folders: Sequence[Path]) -> list[Path]:
    """Each console query once, by file name: from the first folder that has it."""
    found: dict[str, Path] = {}
    for folder in reversed(folders):
        found.update((path.name, path) for path in folder.glob("*.graphql"))
    return [found[name] for name in sorted(found)]


def validate_console_queries(folders: Sequence[Path]) -> list[str]:
    """Validate every console query against the checked-in schema; the names validated.
    Finding none is a failure: a missing or mis-globbed folder must not pass silently."""
    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    paths = console_queries(folders)
    assert paths, f"no console queries found in {', '.join(map(str, folders))}"
    for path in paths:
        assert validate(schema, parse(path.read_text(encoding="utf-8"))) == [], path.name
    return [path.name for path in paths]


def test_console_queries_are_valid_against_the_schema():
    # The shared originals first, then the copies kept beside the tests (as `load_query` reads).
    names = validate_console_queries([QUERIES, LOCAL_QUERIES])
    assert "my-apps-page.graphql" in names


def test_finding_no_console_queries_to_validate_fails(tmp_path):
    with pytest.raises(AssertionError, match="no console queries found"):
        validate_console_queries([tmp_path / "absent", tmp_path])
