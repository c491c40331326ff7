"""A request's variables, coerced as graphql-core's `get_variable_values` coerces them, each
variable's coerced value remembered per operation by the value sent.

Coercing is a tenth of a small page's CPU: graphql-core walks the value twice and parses each
DateTime with dateutil, in Python. A console sends the same values again and again (the App
log page's filter is the same on every "load more"; only `after` changes), and what a value
coerces to depends on the variable's type and the value alone. So each value that coerced
without error is kept under its JSON text, and a request whose every variable is known is
answered from them; any other goes graphql-core's way, which also reports the errors.

A value is kept only when its JSON text says exactly what it is (str, int, float, bool, None,
lists and objects of them: orjson's text read back equals it), and only when what it coerces
to is made of immutable values, lists and dicts; each request gets its own lists and dicts.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from graphql import GraphQLError, GraphQLSchema, Undefined, VariableDefinitionNode
from graphql.execution.get_variable_signature import GraphQLVariableSignature
from graphql.execution.values import VariableValues, VariableValueSource, get_variable_values

# Values kept per operation; past it, the memo starts again.
MAX_KEPT = 256

# orjson writes these as other JSON types (a datetime as a string, a str subclass as a str):
# with them passed through, it refuses them instead.
_EXACT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
_EXACT |= orjson.OPT_PASSTHROUGH_DATACLASS
_ABSENT = b""  # the key of a variable the request does not send
_OMITTED: Any = object()  # an absent nullable variable without a default: not in `coerced`
_IMMUTABLE = (str, int, float, bool, type(None), datetime, date, time, Decimal, UUID, Enum)

# What a variable's value coerced to: its signature, and the value (maybe _OMITTED) and
# whether it holds lists or dicts, which each request gets copies of.
_Kept = tuple[GraphQLVariableSignature, Any, bool]


class Coercions:
    """The coerced values of one operation's variables, by the JSON text of what was sent."""

    def __init__(self, definitions: Collection[VariableDefinitionNode]) -> None:
        self.definitions = definitions
        self.names = [d.variable.name.value for d in definitions]
        self._kept: dict[tuple[str, bytes], _Kept] = {}

    def coerce(
        self, schema: GraphQLSchema, inputs: dict[str, Any], max_errors: int
    ) -> VariableValues | list[GraphQLError]:
        keys = self._keys(inputs)
        if keys is not None:
            known = self._known(keys, inputs)
            if known is not None:
                return known
        values = get_variable_values(schema, self.definitions, inputs, max_errors=max_errors)
        if keys is not None and not isinstance(values, list):
            self._keep(keys, values)
        return values

    def _keys(self, inputs: dict[str, Any]) -> list[tuple[str, bytes]] | None:
        """Each variable's key, or None when a value's JSON text would not say what it is."""
        keys = []
        for name in self.names:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                keys.append((name, _ABSENT))
                continue
            try:
                text = orjson.dumps(value, option=_EXACT)
            except TypeError:  # not JSON (a datetime, an int subclass, a 65-bit int...)
                return None
            # Read back unequal: a NaN (written null), a tuple (written as a list), an Enum...
            if orjson.loads(text) != value:
                return None
            keys.append((name, text))
        return keys

    def _known(
        self, keys: list[tuple[str, bytes]], inputs: dict[str, Any]
    ) -> VariableValues | None:
        kept = self._kept
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for key in keys:
            found = kept.get(key)
            if found is None:
                return None
            signature, value, nested = found
            name, text = key
            # The source holds the value this request sent, as graphql-core's does.
            sources[name] = VariableValueSource(signature, inputs[name] if text else Undefined)
            if value is not _OMITTED:
                coerced[name] = _fresh(value) if nested else value
        return VariableValues(sources, coerced)

    def _keep(self, keys: list[tuple[str, bytes]], values: VariableValues) -> None:
        if len(self._kept) + len(keys) > MAX_KEPT:
            self._kept.clear()
        for key in keys:
            name = key[0]
            value = values.coerced.get(name, _OMITTED)
            shareable = _shareable(value)
            if shareable is not None:
                # A copy: this request's own lists and dicts are its to change.
                kept = _fresh(value) if shareable else value
                self._kept[key] = (values.sources[name].signature, kept, shareable)


def _shareable(value: Any) -> bool | None:
    """Whether `value` holds lists or dicts (False: it can be shared as it is), or None when it
    holds something mutable that `_fresh` would not copy."""
    if value is _OMITTED or isinstance(value, _IMMUTABLE):
        return False
    items: Collection[Any]
    if type(value) is list:
        items = value
    elif type(value) is dict:
        items = value.values()
    else:
        return None
    return None if any(_shareable(item) is None for item in items) else True


def _fresh(value: Any) -> Any:
    """A copy of a coerced value's lists and dicts, its immutable values shared."""
    if type(value) is list:
        return [_fresh(item) for item in value]
    if type(value) is dict:
        return {key: _fresh(item) for key, item in value.items()}
    return value
