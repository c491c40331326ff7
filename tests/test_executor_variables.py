"""Variables coerced from remembered values (gateway/executor/variables.py) are exactly what
graphql-core's `get_variable_values` gives, request after request, whatever is sent: the same
sources and coerced values (type for type), the same errors, and lists and dicts of a
request's own, which no other request sees changed."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.executor.variables import MAX_KEPT, Coercions
from gateway.schema.schema import build_schema
from gateway.settings import Settings

SCHEMA = build_schema(Settings(debug=True))._schema
OPERATION = parse(
    """
    query V(
      $first: Int = 50, $after: String, $filter: AppLogFilter, $ids: [ID!]!, $flag: Boolean,
      $n: Int!, $apps: ConnectedAppFilter, $since: DateTime = "2026-01-01T00:00:00Z",
      $at: DateTime, $activities: [AppActivity!] = [DISCONNECTED]
    ) { viewer { user { id } } }
    """
).definitions[0]
assert isinstance(OPERATION, OperationDefinitionNode)
DEFINITIONS = OPERATION.variable_definitions or ()
NAMES = [d.variable.name.value for d in DEFINITIONS]


class Shade(enum.Enum):
    DISCONNECTED = "DISCONNECTED"


class Text(str):
    pass


class Number(enum.IntEnum):
    ONE = 1


instants = st.sampled_from(
    [
        "2026-03-16T09:00:00Z",
        "2026-03-16T09:00:00+02:00",
        "2026-03-16T09:00:00.123456+00:00",
        "2026-03-16",
        "2026-03-16T09:00:00",
        "not a time",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1.0, -0.0, 0.0, True, False, 50, 2**31, "", "x", "DISCONNECTED"]),
    st.text(max_size=4),
    instants,
    st.sampled_from(["DISCONNECTED", "RECONNECTED", "INSTALLED", "nope"]),
    st.sampled_from(
        [Shade.DISCONNECTED, Text("x"), Number.ONE, Decimal("1"), datetime(2026, 1, 1, tzinfo=UTC)]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(
            st.sampled_from(["activities", "userIds", "appIds", "since", "until", "x", "status"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=6,
)
valid_instants = st.sampled_from(
    ["2026-03-16T09:00:00Z", "2026-03-16T09:00:00+02:00", "2026-03-16T09:00:00.5-01:30"]
)
filters = st.fixed_dictionaries(
    {},
    optional={
        "activities": st.none() | st.lists(st.sampled_from(["DISCONNECTED", "RECONNECTED"])),
        "since": st.none() | valid_instants,
        "until": valid_instants,
        "userIds": st.lists(st.sampled_from(["VXNlcjox", "x"]), max_size=2),
    },
)
app_filters = st.fixed_dictionaries(
    {},
    optional={
        "statuses": st.lists(st.sampled_from(["CONNECTED", "DISCONNECTED"]), max_size=2),
        "search": st.none() | st.text(max_size=3),
        "needsAttention": st.booleans(),
    },
)
small = st.integers(min_value=-3, max_value=60)
# Mostly values of the variables' types (each coerces or not on its own), some anything.
sensible = st.fixed_dictionaries(
    {"ids": st.lists(st.sampled_from(["1", "x"]), max_size=2), "n": small},
    optional={
        "first": st.none() | small,
        "after": st.none() | st.sampled_from(["", "abc"]),
        "filter": st.none() | filters,
        "flag": st.none() | st.booleans(),
        "apps": st.none() | app_filters,
        "since": valid_instants,
        "at": st.none() | instants,
        "activities": st.none() | st.lists(st.sampled_from(["DISCONNECTED", "INSTALLED"])),
    },
)
requests = st.builds(
    lambda sent, odd: {**sent, **odd},
    sensible,
    st.dictionaries(st.sampled_from([*NAMES, "extra"]), values, max_size=2) | st.just({}),
)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and getattr(a, "tzinfo", None) == getattr(b, "tzinfo", None)


def _check(ours: VariableValues | list[GraphQLError], sent: dict[str, Any]) -> None:
    reference = get_variable_values(SCHEMA, DEFINITIONS, sent, max_errors=50)
    if isinstance(reference, list):
        assert isinstance(ours, list)
        assert [(e.message, e.locations) for e in ours] == [
            (e.message, e.locations) for e in reference
        ]
        return
    assert isinstance(ours, VariableValues)
    assert _same(ours.coerced, reference.coerced)
    assert list(ours.sources) == list(reference.sources)
    for name, source in reference.sources.items():
        mine = ours.sources[name].signature
        assert (mine.name, str(mine.type), mine.default) == (
            source.signature.name,
            str(source.signature.type),
            source.signature.default,
        )
        assert ours.sources[name].value is source.value  # the request's own value


def _spoil(coerced: Any) -> None:
    """What a careless resolver might do to a request's lists and dicts."""
    for value in coerced.values() if isinstance(coerced, dict) else coerced:
        if isinstance(value, list):
            value.append("spoilt")
        elif isinstance(value, dict):
            value["spoilt"] = True
            _spoil(value)


@examples(max_examples=300, deadline=None)
@given(st.lists(requests, min_size=1, max_size=4), st.lists(st.integers(0, 3), max_size=8))
def test_coerced_values_are_graphql_cores_request_after_request(
    sent: list[dict[str, Any]], order: list[int]
) -> None:
    coercions = Coercions(DEFINITIONS)
    for i in [*range(len(sent)), *order, *range(len(sent))]:
        request = sent[i % len(sent)]
        ours = coercions.coerce(SCHEMA, request, 50)
        _check(ours, request)
        if not isinstance(ours, list):
            _spoil(ours.coerced)


def test_a_known_request_is_answered_without_graphql_core(monkeypatch: Any) -> None:
    coercions = Coercions(DEFINITIONS)
    sent = {
        "ids": ["1"],
        "n": 2,
        "filter": {"activities": ["DISCONNECTED"], "since": "2026-03-16T09:00:00Z"},
    }
    first = coercions.coerce(SCHEMA, sent, 50)
    assert isinstance(first, VariableValues)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("coerced again")

    monkeypatch.setattr("gateway.executor.variables.get_variable_values", refuse)
    again = coercions.coerce(SCHEMA, dict(sent), 50)
    assert isinstance(again, VariableValues)
    assert again.coerced == first.coerced
    assert again.coerced["filter"] is not first.coerced["filter"]
    assert again.coerced["filter"]["activities"] is not first.coerced["filter"]["activities"]


def test_values_kept_are_bounded() -> None:
    coercions = Coercions(DEFINITIONS)
    for n in range(MAX_KEPT * 2):
        assert isinstance(coercions.coerce(SCHEMA, {"ids": [], "n": n}, 50), VariableValues)
        assert len(coercions._kept) <= MAX_KEPT
