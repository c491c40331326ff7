"""Leaf serializers, looked up once per type.

Strawberry's enum type serializes a member by scanning the enum's values and comparing each
`.value` (several enum property reads per member served, a thousand members on the My Apps
page). A member's name never changes, so it is worked out once, by Strawberry's own
serializer, and looked up by the member afterwards; anything that is not exactly a member of
the enum class (a raw value, a wrong type) still goes through the type's serializer, errors
and all. Other leaf types keep their serializer as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from graphql import GraphQLEnumType, GraphQLLeafType

_coercers: dict[GraphQLLeafType, Callable[[Any], Any]] = {}


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

    def coerce_enum(value: Any) -> Any:
        # `type(...) is`: a str enum's member equals its raw value, which must not match here.
        return names[value] if type(value) is enum_class else coerce(value)

    return coerce_enum
