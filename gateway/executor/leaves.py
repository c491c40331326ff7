"""Leaf serializers, looked up once per type.

Strawberry's enum type serializes a member by scanning the enum's values and comparing each
`.value` (several enum property reads per member served, a thousand members on the My Apps
page). A member's name never changes, so it is worked out once, by Strawberry's own
serializer, and looked up by the member afterwards; anything that is not exactly a member of
the enum class (a raw value, a wrong type) still goes through the type's serializer, errors
and all. Other leaf types keep their serializer as it is.

A column of values is served in C-level passes (`serve_all`): graphql-core's String, ID and
Boolean serializers return a str (a bool) as it is, so a column holding only those is its own
response. Strawberry's DateTime serializes with `isoformat`, which costs 2 µs a value here;
orjson writes the same text for the UTC instants the database gives (not for an offset with
seconds, which it drops), so a column of those is written by orjson in one call, a fifth of
the cost (tests/test_executor_plans.py holds the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLLeafType,
    GraphQLString,
    Undefined,
)
from orjson import dumps, loads
from strawberry.schema.types.base_scalars import isoformat as strawberry_isoformat

_coercers: dict[GraphQLLeafType, Callable[[Any], Any]] = {}
# An enum type's class and each member's name, once its coercer is made.
_enum_names: dict[GraphQLLeafType, tuple[type, dict[Any, Any]]] = {}

# Types of values a leaf position cannot serve as they are (null, or no value).
UNSERVED = frozenset({type(None), type(Undefined)})
# Types of values these serializers return unchanged.
_UNCHANGED: dict[GraphQLLeafType, frozenset[type]] = {
    GraphQLString: frozenset({str}),
    GraphQLID: frozenset({str}),
    GraphQLBoolean: frozenset({bool}),
}
_DATETIMES = frozenset({datetime})
_UTC_ONLY = {UTC}
_tzinfo = attrgetter("tzinfo")


def all_served(values: list[Any]) -> bool:
    """No value is null, missing or an error (checked per type of value, not per value)."""
    kinds = set(map(type, values))
    return UNSERVED.isdisjoint(kinds) and not any(issubclass(t, Exception) for t in kinds)


def serve_all(leaf_type: GraphQLLeafType, values: list[Any]) -> list[Any] | None:
    """The response values of a column of `leaf_type` values, or None when any of them is
    null, an error, or fails or serializes to null: the caller then goes value by value,
    locating each error."""
    kinds = set(map(type, values))
    if kinds <= _UNCHANGED.get(leaf_type, frozenset()):
        return values
    if not UNSERVED.isdisjoint(kinds) or any(issubclass(t, Exception) for t in kinds):
        return None
    if (
        kinds == _DATETIMES
        and leaf_type.coerce_output_value is strawberry_isoformat
        and set(map(_tzinfo, values)) == _UTC_ONLY
    ):
        return loads(dumps(values))  # a list of str
    coerce = coercer(leaf_type)  # made first: making it records an enum type's names
    names = _enum_names.get(leaf_type)
    if names is not None and len(kinds) == 1 and names[0] in kinds:
        # Members only: their names by a C-level lookup each (a page serves a thousand).
        return list(map(names[1].__getitem__, values))
    try:
        served = list(map(coerce, values))
    except Exception:
        return None
    return served if UNSERVED.isdisjoint(map(type, served)) else None


def coercer(leaf_type: GraphQLLeafType) -> Callable[[Any], Any]:
    """What turns a resolved value of `leaf_type` into its response value, as
    `leaf_type.coerce_output_value` does."""
    found = _coercers.get(leaf_type)
    if found is None:
        found = _coercers[leaf_type] = _build(leaf_type)
    return found


def _build(leaf_type: GraphQLLeafType) -> Callable[[Any], Any]:
    coerce = leaf_type.coerce_output_value
    enum_class = getattr(leaf_type, "wrapped_cls", None)
    if not (
        isinstance(leaf_type, GraphQLEnumType)
        and isinstance(enum_class, type)
        and issubclass(enum_class, Enum)
    ):
        return coerce
    names = {member: coerce(member) for member in enum_class}
    if all(type(name) is str for name in names.values()):  # each member a response value
        _enum_names[leaf_type] = (enum_class, names)

    def coerce_enum(value: Any) -> Any:
        # `type(...) is`: a str enum's member equals its raw value, which must not match here.
        return names[value] if type(value) is enum_class else coerce(value)

    return coerce_enum
