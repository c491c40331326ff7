"""The executor's plans (gateway/executor/plan.py): cached per document, operation and
@skip/@include values, bounded, and the decision to hand a document to graphql-core made when
the plan is made, logged once per plan and counted."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta, timezone
from functools import cache

from graphql import GraphQLScalarType, parse
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.executor.batch import VIEWER_FACTS
from gateway.executor.plan import MAX_CACHED_TEXT, PlanCache
from gateway.schema.schema import build_schema
from gateway.settings import Settings
from tests.helpers import gql, token_for

PAGE = """
query Page($withLog: Boolean!, $first: Int) {
  viewer { portal { connectedApps(first: $first) { nodes { name log(first: 1) @include(if: $withLog) { totalCount } } } } }
}
"""
TWO = "query A { viewer { user { name } } } query B { viewer { portal { name } } }"


def _plan(cache: PlanCache, document, variables, operation_name=None):
    from graphql.execution.executor import Executor

    schema = build_schema(Settings(debug=True))._schema
    built = Executor.build(schema, document, None, None, variables, operation_name)
    assert not isinstance(built, list), built
    return cache.get(schema, document, built.operation, built.fragments, built.variable_values)


def test_a_plan_is_reused_for_other_values_of_variables_that_do_not_steer_directives() -> None:
    cache = PlanCache()
    document = parse(PAGE)
    first = _plan(cache, document, {"withLog": True, "first": 5})
    assert _plan(cache, document, {"withLog": True, "first": 50}) is first


def test_each_value_of_a_directive_variable_has_its_own_plan() -> None:
    cache = PlanCache()
    document = parse(PAGE)
    with_log = _plan(cache, document, {"withLog": True})
    without = _plan(cache, document, {"withLog": False})
    assert with_log is not without
    assert _plan(cache, document, {"withLog": True}) is with_log


def test_each_operation_of_a_document_has_its_own_plan() -> None:
    cache = PlanCache()
    document = parse(TWO)
    a, b = _plan(cache, document, {}, "A"), _plan(cache, document, {}, "B")
    assert a is not b
    assert [f.name for f in a.root_fields] == ["viewer"]


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    cache = PlanCache(maxsize=2)
    documents = [parse("{ viewer { user { name } } }") for _ in range(3)]
    first = _plan(cache, documents[0], {})
    _plan(cache, documents[1], {})
    assert _plan(cache, documents[0], {}) is first  # now the most recently used
    _plan(cache, documents[2], {})  # evicts documents[1]
    assert _plan(cache, documents[0], {}) is first
    assert len(cache._plans) == 2


def test_documents_of_long_texts_are_planned_each_time_and_never_kept() -> None:
    # A document holds its whole text: padded texts must not fill the cache with megabytes.
    cache = PlanCache()
    long = parse("{ viewer { user { name } } }" + " " * MAX_CACHED_TEXT)
    short = parse("{ viewer { user { name } } }")

    plans = [_plan(cache, long, {}) for _ in range(2)]

    assert plans[0] is not plans[1]
    assert [f.name for f in plans[1].root_fields] == ["viewer"]
    assert _plan(cache, short, {}) is _plan(cache, short, {})
    assert [entry[0] for entry in cache._plans.values()] == [short]


def test_introspection_is_left_to_graphql_core_decided_once_logged_once(caplog) -> None:
    caplog.set_level(logging.INFO, logger="gateway.executor")
    cache = PlanCache()
    document = parse("{ __schema { queryType { name } } }")
    plan = _plan(cache, document, {})
    assert plan.fallback == "introspection"
    assert _plan(cache, document, {}) is plan
    assert cache.fallbacks == 1
    assert [r.getMessage() for r in caplog.records] == ["executed by graphql-core: introspection"]


def test_an_ordinary_query_runs_on_our_executor() -> None:
    cache = PlanCache()
    plan = _plan(cache, parse(PAGE), {"withLog": False})
    assert plan.fallback is None
    assert cache.fallbacks == 0


async def test_introspection_still_answers_through_the_fallback(
    make_client, demo, settings
) -> None:
    token = await token_for(settings, "admin@demo.example")
    async with make_client(introspection=True) as client:
        body = await gql(client, "{ __schema { queryType { name } } }", token=token)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_fields_that_read_the_viewer_say_which_facts() -> None:
    schema = build_schema(Settings(debug=True))._schema
    declared = {}
    for type_name, graphql_type in schema.type_map.items():
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            strawberry_field = (field.extensions or {}).get("strawberry-definition")
            facts = (getattr(strawberry_field, "metadata", None) or {}).get(VIEWER_FACTS)
            if facts:
                declared[f"{type_name}.{field_name}"] = tuple(facts)
    assert declared == {
        "AppAlert.viewerCanAcknowledge": ("can_approve", "can_uninstall"),
        "ConnectedApp.viewerCanManage": ("can_uninstall", "can_approve"),
        "ConnectedApp.viewerCanReauthorize": ("can_approve",),
        "ConnectedApp.viewerCanUninstall": ("can_uninstall",),
        "InstallRequest.viewerCanCancel": ("id",),
        "InstallRequest.viewerCanDecide": ("can_install",),
        "MarketplaceListing.viewerCanInstall": ("id", "can_install"),
        "MarketplaceListing.viewerCanRequest": ("id", "can_install"),
        "MarketplaceListing.viewerPendingRequest": ("id",),
        "Notification.installRequests": ("id", "can_install"),
        "NotificationRule.lastDelivery": ("can_manage_notifications",),
        "NotificationRule.slackWebhookUrl": ("can_manage_notifications",),
        "NotificationRule.viewerCanEdit": ("can_manage_notifications",),
        "NotificationRule.webhookUrl": ("can_manage_notifications",),
        "Portal.deliveries": ("can_manage_notifications",),
        "Portal.installRequests": ("id", "can_install"),
        "Query.node": ("id", "can_manage_notifications", "can_install"),
        "Query.nodes": ("id", "can_manage_notifications", "can_install"),
        "Subscription.installRequestChanged": ("id", "can_install"),
        "Subscription.notificationReceived": ("id",),
        "User.viewerCanSetPermissions": ("id", "is_super_admin"),
        "Viewer.notifications": ("id",),
        "Viewer.user": ("id",),
    }


def test_leaf_serializers_give_what_each_type_s_own_serializer_gives() -> None:
    """Every leaf type of the schema, with each enum's members, their raw values (a str enum's
    member equals its value, which Strawberry's serializer treats on its own) and a value of
    the wrong kind: the looked-up serializer answers or fails exactly as the type's own."""
    from enum import Enum

    from graphql import is_leaf_type

    from gateway.executor.leaves import coercer

    schema = build_schema(Settings(debug=True))._schema
    leaf_types = [t for t in schema.type_map.values() if is_leaf_type(t)]
    enums = [t for t in leaf_types if isinstance(getattr(t, "wrapped_cls", None), type)]
    assert len(enums) >= 5  # the schema's enums are all looked at
    for leaf_type in leaf_types:
        enum_class = getattr(leaf_type, "wrapped_cls", None)
        members: list[Enum] = []
        if isinstance(enum_class, type) and issubclass(enum_class, Enum):
            members = list(enum_class)
        samples: list[object] = [*members, *(m.value for m in members)]
        samples += ["NO_SUCH_VALUE", 3, 2.5, True, object()]
        fast = coercer(leaf_type)
        for value in samples:
            try:
                expected: object = leaf_type.coerce_output_value(value)
            except Exception as exc:
                expected = (type(exc), str(exc))
            try:
                got: object = fast(value)
            except Exception as exc:
                got = (type(exc), str(exc))
            assert got == expected, (leaf_type, value)


_OFFSETS = st.one_of(
    st.just(UTC),
    st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    ),
)


@cache
def _date_time_type() -> GraphQLScalarType:
    # Built once: a schema takes some 60 ms to build, and the test below runs 300 examples.
    date_time = build_schema(Settings(debug=True))._schema.type_map["DateTime"]
    assert isinstance(date_time, GraphQLScalarType)
    return date_time


@examples(max_examples=300, derandomize=True, deadline=None)
@given(values=st.lists(st.datetimes(timezones=_OFFSETS), min_size=1, max_size=8))
def test_a_column_of_datetimes_is_served_as_the_datetime_type_serializes_each(values) -> None:
    """DateTime columns of UTC instants are written by orjson (gateway/executor/leaves.py):
    the same text as the type's serializer gives for each, whatever the instant; columns with
    another offset (orjson drops an offset's seconds) are served by the serializer."""
    from gateway.executor.leaves import serve_all

    date_time = _date_time_type()
    assert serve_all(date_time, values) == [date_time.coerce_output_value(v) for v in values]


def test_response_objects_are_built_with_their_keys_in_order() -> None:
    """The generated builder of response objects (gateway/executor/run.py) gives what
    dict(zip(keys, values)) gives, for one key or several, whatever the keys are named
    (aliases may be Python keywords, or the builder's own names)."""
    from gateway.executor.run import _objects_of

    for keys in [("id",), ("for", "class", "k0", "v1", "columns", "zip"), ("a", "_")]:
        columns = [[f"{key}-{i}" for i in range(3)] for key in keys]
        built = _objects_of(keys)(columns)
        expected = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
        assert built == expected
        assert [list(o) for o in built] == [list(keys)] * 3


def test_a_subscriptions_shape_comes_from_its_plan_through_fragments() -> None:
    # the hub groups subscribers by the facts a subscription reads and labels its metrics by
    # the root field, however the document reaches it
    from gateway.executor import subscription_shape

    schema = build_schema(Settings(debug=True))._schema
    document = parse(
        "subscription Inbox { ...Root } "
        "fragment Root on Subscription { ... on Subscription { notificationReceived { id } } }"
    )
    assert subscription_shape(schema, document, None, "Inbox") == (
        frozenset({"id"}),
        "notificationReceived",
    )
    # a document that cannot run has neither
    assert subscription_shape(schema, document, None, "Missing") == (frozenset(), "unknown")
