"""Safe defaults (DESIGN §3) and top-level error codes (DESIGN §2): introspection and field
suggestions only in debug, masked unexpected errors, document limits (depth, aliases, tokens,
node count), argument bounds, and an `extensions.code` on every error."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest
from graphql import Source, parse
from graphql.language import Lexer, TokenKind

import gateway.services.apps
from gateway.schema.limits import count_nodes
from gateway.schema.schema import build_schema
from gateway.settings import Settings
from tests.helpers import error_codes, gid, token_for

ADMIN = "admin@demo.example"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


@pytest.fixture
async def token(settings, demo) -> str:
    return await token_for(settings, ADMIN)


async def ask(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    """POST a request and check what every answer must satisfy: never a 500 or a traceback,
    JSON, and an `extensions.code` on each error."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
    )
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    body = response.json()
    for error in body.get("errors", []):
        assert error.get("extensions", {}).get("code"), error
    return response, body


def refused(body: dict[str, Any], code: str) -> str:
    """The single error's message, after checking it stopped the request before execution."""
    assert error_codes(body) == [code], body
    assert "data" not in body, body  # not executed at all
    return body["errors"][0]["message"]


def field_error(body: dict[str, Any], code: str) -> str:
    """The single error's message, after checking it was raised where the field ran."""
    assert error_codes(body) == [code], body
    assert body["errors"][0]["path"], body
    return body["errors"][0]["message"]


# ---- introspection and suggestions: only with GATEWAY_DEBUG

INTROSPECT_SCHEMA = "{ __schema { queryType { name } } }"
INTROSPECT_TYPE = '{ __type(name: "ConnectedApp") { name } }'


@pytest.mark.parametrize("query", [INTROSPECT_SCHEMA, INTROSPECT_TYPE])
async def test_introspection_is_off_without_debug(client, token, query) -> None:
    _, body = await ask(client, query, token=token)

    assert set(error_codes(body)) == {VALIDATION_FAILED}
    assert "data" not in body
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_typename_is_not_introspection(client, token) -> None:
    _, body = await ask(client, "{ __typename viewer { __typename } }", token=token)

    assert body == {"data": {"__typename": "Query", "viewer": {"__typename": "Viewer"}}}


async def test_introspection_works_in_debug(make_client, token) -> None:
    async with make_client(debug=True) as debug_client:
        _, schema_body = await ask(debug_client, INTROSPECT_SCHEMA, token=token)
        _, type_body = await ask(debug_client, INTROSPECT_TYPE, token=token)

    assert schema_body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert type_body == {"data": {"__type": {"name": "ConnectedApp"}}}


MISSPELT_FIELD = "{ viewer { portal { nam } } }"
MISSPELT_ENUM_VARIABLE = """
query ($statuses: [AppStatus!]) {
  viewer { portal { connectedApps(filter: {statuses: $statuses}) { totalCount } } }
}"""


async def test_field_suggestions_are_removed_without_debug(client, token) -> None:
    _, body = await ask(client, MISSPELT_FIELD, token=token)

    assert refused(body, VALIDATION_FAILED) == "Cannot query field 'nam' on type 'Portal'."


async def test_enum_suggestions_are_removed_without_debug(client, token) -> None:
    _, body = await ask(client, MISSPELT_ENUM_VARIABLE, {"statuses": ["EROR"]}, token=token)

    message = refused(body, BAD_USER_INPUT)
    assert "EROR" in message
    assert "Did you mean" not in message


async def test_suggestions_are_kept_in_debug(make_client, token) -> None:
    async with make_client(debug=True) as debug_client:
        _, field = await ask(debug_client, MISSPELT_FIELD, token=token)
        _, enum = await ask(
            debug_client, MISSPELT_ENUM_VARIABLE, {"statuses": ["EROR"]}, token=token
        )

    assert "Did you mean 'name'?" in refused(field, VALIDATION_FAILED)
    assert "Did you mean" in refused(enum, BAD_USER_INPUT)


# ---- unexpected errors are masked, and the logs carry the request id


async def test_unexpected_error_is_masked_and_logged_with_the_request_id(
    client, token, monkeypatch, caplog
) -> None:
    async def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    # The service the field calls: a seam both executors reach.
    monkeypatch.setattr(gateway.services.apps, "summary", boom)

    with caplog.at_level(logging.ERROR, logger="gateway.graphql"):
        response, body = await ask(
            client, "{ viewer { portal { name appSummary { total } } } }", token=token
        )

    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text
    request_id = response.headers["x-request-id"]
    assert body["data"] is None  # appSummary is non-null: the null reaches the root
    [error] = body["errors"]
    assert error["message"] == f"Internal error (request id {request_id})"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["viewer", "portal", "appSummary"]
    [record] = [r for r in caplog.records if r.name == "gateway.graphql"]
    assert record.request_id == request_id
    assert record.exc_info is not None and str(record.exc_info[1]) == "secret detail"
    assert "viewer.portal.appSummary" in record.getMessage()


async def test_masked_error_keeps_the_rest_of_the_data(client, token, monkeypatch, demo) -> None:
    async def boom(*_args: object, **_kwargs: object) -> None:
        raise KeyError("secret detail")

    monkeypatch.setattr(gateway.services.apps, "summary", boom)
    query = """query ($portal: ID!) {
      viewer { user { email } }
      node(id: $portal) { ... on Portal { name appSummary { total } } }
    }"""

    _, body = await ask(client, query, {"portal": gid("Portal", demo.acme_portal_id)}, token=token)

    # `appSummary` is non-null, so its Portal becomes null; `node` is nullable and stops it there.
    assert body["data"] == {"viewer": {"user": {"email": ADMIN}}, "node": None}
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in json.dumps(body)


# ---- depth ≤ 12

# Depth counts the fields above the deepest one: `{ viewer { user { email } } }` is 2 deep.
_APPS = ["viewer", "portal", "connectedApps(first: 1)", "nodes"]
_LOG_HOP = ["log(first: 1)", "nodes", "app"]


def nested(path: list[str], leaf: str) -> str:
    return "{ " + " { ".join([*path, leaf]) + " }" * (len(path) + 1)


DEPTH_12 = nested([*_APPS, *_LOG_HOP * 2, "installedBy", "teams"], "name")
DEPTH_13 = nested([*_APPS, *_LOG_HOP * 3], "id")


def test_depth_queries_are_what_they_say() -> None:
    assert DEPTH_12.count("{") == 13 and DEPTH_13.count("{") == 14


async def test_depth_12_is_accepted(client, token) -> None:
    _, body = await ask(client, DEPTH_12, token=token)

    assert "errors" not in body, body
    assert body["data"]["viewer"]["portal"]["connectedApps"]["nodes"]


async def test_depth_13_is_refused(client, token) -> None:
    _, body = await ask(client, DEPTH_13, token=token)

    assert refused(body, VALIDATION_FAILED) == "The operation is 13 levels deep; the limit is 12."


async def test_depth_counts_through_fragments(client, token) -> None:
    query = """
    query Deep { viewer { portal { connectedApps(first: 1) { nodes { ...Hop } } } } }
    fragment Hop on ConnectedApp { log(first: 1) { nodes { app { ...Hop2 } } } }
    fragment Hop2 on ConnectedApp { log(first: 1) { nodes { app { ... on ConnectedApp { ...Hop3 } } } } }
    fragment Hop3 on ConnectedApp { log(first: 1) { nodes { app { id } } } }
    """

    _, body = await ask(client, query, token=token)

    assert refused(body, VALIDATION_FAILED) == "'Deep' is 13 levels deep; the limit is 12."


# ---- aliases ≤ 15


def aliased(count: int) -> str:
    return "{ viewer { " + " ".join(f"a{i}: user {{ email }}" for i in range(count)) + " } }"


async def test_15_aliases_are_accepted(client, token) -> None:
    _, body = await ask(client, aliased(15), token=token)

    assert "errors" not in body, body
    assert body["data"]["viewer"]["a14"] == {"email": ADMIN}


async def test_16_aliases_are_refused(client, token) -> None:
    _, body = await ask(client, aliased(16), token=token)

    assert refused(body, VALIDATION_FAILED) == "The operation uses 16 aliases; the limit is 15."


def typename_aliased(count: int) -> str:
    return "{ " + " ".join(f"t{i}: __typename" for i in range(count)) + " }"


async def test_15_aliases_of_typename_are_accepted(client, token) -> None:
    _, body = await ask(client, typename_aliased(15), token=token)

    assert body == {"data": {f"t{i}": "Query" for i in range(15)}}


async def test_16_aliases_of_typename_are_refused(client, token) -> None:
    """`__typename` is cheap, but each alias is one more key to build: they count too."""
    _, body = await ask(client, typename_aliased(16), token=token)

    assert refused(body, VALIDATION_FAILED) == "The operation uses 16 aliases; the limit is 15."


async def test_aliases_of_typename_add_up_with_other_aliases(client, token) -> None:
    query = (
        "{ viewer { " + " ".join(f"u{i}: user {{ t{i}: __typename }}" for i in range(8)) + " } }"
    )

    _, body = await ask(client, query, token=token)

    assert refused(body, VALIDATION_FAILED) == "The operation uses 16 aliases; the limit is 15."


INTROSPECTION_13_DEEP = (
    "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType "
    "{ ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } }"
)


async def test_aliases_inside_introspection_count_but_its_depth_does_not(
    make_client, token
) -> None:
    """Introspection (debug only) is as deep as the type system, so depth skips it; aliases
    multiply work wherever they are."""
    aliased_introspection = (
        "{ " + " ".join(f"s{i}: __schema {{ q{i}: queryType {{ name }} }}" for i in range(8)) + " }"
    )

    async with make_client(debug=True) as debug_client:
        _, deep = await ask(debug_client, INTROSPECTION_13_DEEP, token=token)
        _, aliases = await ask(debug_client, aliased_introspection, token=token)

    assert "errors" not in deep, deep
    assert refused(aliases, VALIDATION_FAILED) == "The operation uses 16 aliases; the limit is 15."


async def test_aliases_in_a_fragment_count_once_per_spread(client, token) -> None:
    fragment = (
        "fragment Eight on Viewer { " + " ".join(f"a{i}: user {{ email }}" for i in range(8)) + " }"
    )

    _, once = await ask(client, "{ viewer { ...Eight } } " + fragment, token=token)
    _, twice = await ask(
        client, "{ viewer { ...Eight } again: viewer { ...Eight } } " + fragment, token=token
    )

    assert "errors" not in once, once
    assert "17 aliases" in refused(twice, VALIDATION_FAILED)


def _fan_out(levels: int, width: int, leaf: str) -> str:
    """Fragments spreading the next one `width` times: tiny text, width**levels expansions."""
    parts = ["{ viewer { ...F0 } }"]
    for i in range(levels):
        body = " ".join([f"...F{i + 1}"] * width) if i < levels - 1 else leaf
        parts.append(f"fragment F{i} on Viewer {{ {body} }}")
    return "\n".join(parts)


async def test_fragment_fan_out_is_checked_in_linear_time(client, token) -> None:
    """3**29 expansions: a limiter that re-walks each spread would never answer."""
    started = time.monotonic()
    _, plain = await ask(client, _fan_out(30, 3, "user { email }"), token=token)
    _, with_alias = await ask(client, _fan_out(30, 3, "me: user { email }"), token=token)

    assert time.monotonic() - started < 5
    assert plain == {"data": {"viewer": {"user": {"email": ADMIN}}}}
    assert f"uses {3**29:,}".replace(",", "") in refused(with_alias, VALIDATION_FAILED)


# ---- tokens ≤ 2,000


def with_tokens(count: int) -> str:
    """A query of exactly `count` tokens: a long list literal, which validation checks in linear
    time (many repeated fields would hit graphql-core's own field-comparison budget first)."""
    activities = " ".join(["INSTALLED"] * (count - 25))
    query = (
        "{ viewer { portal { appLog(first: 1, filter: {activities: [%s]}) { totalCount } } } }"
        % activities
    )
    assert _tokens(query) == count
    return query


def _tokens(query: str) -> int:
    lexer, counted = Lexer(Source(query)), 0
    while lexer.advance().kind != TokenKind.EOF:
        counted += 1
    return counted


async def test_2000_tokens_are_accepted(client, token) -> None:
    _, body = await ask(client, with_tokens(2000), token=token)

    assert "errors" not in body, body
    assert body["data"]["viewer"]["portal"]["appLog"]["totalCount"] > 0


async def test_over_2000_tokens_is_a_validation_failure_not_a_parse_failure(client, token) -> None:
    _, body = await ask(client, with_tokens(2001), token=token)

    assert "more than 2000 tokens" in refused(body, VALIDATION_FAILED)


async def test_a_document_nested_past_the_parser_limit_is_a_validation_failure(
    client, token
) -> None:
    query = "{ " + "viewer { " * 250 + "id" + " }" * 251

    _, body = await ask(client, query, token=token)

    assert "nested too deeply" in refused(body, VALIDATION_FAILED)


# ---- node count ≤ 50,000 (product of nested page sizes, GitHub-style)

OVER_NODES = """
query {
  viewer { portal { connectedApps(first: 100) { nodes {
    log(first: 100) { nodes { app { connections(first: 10) { nodes { id } } } } }
  } } } }
}"""  # 100 + 100·100 + 100·100·10 = 110,100

OVER_NODES_BY_VARIABLE = """
query ($apps: Int!, $entries: Int = 100) {
  viewer { portal { connectedApps(first: $apps) { nodes {
    log(first: $entries) { nodes { app { connections(first: 10) { nodes { id } } } } }
  } } } }
}"""

UNDER_NODES = """
query ($apps: Int!) {
  viewer { portal { connectedApps(first: $apps) { nodes {
    name log(first: 100) { nodes { activity } }
  } } } }
}"""  # 100 + 100·100 = 10,100


async def test_over_the_node_limit_is_refused(client, token) -> None:
    _, body = await ask(client, OVER_NODES, token=token)

    message = refused(body, VALIDATION_FAILED)
    assert "110,100 nodes" in message and "50,000" in message


async def test_node_limit_fills_in_variables_and_their_defaults(client, token) -> None:
    _, over = await ask(client, OVER_NODES_BY_VARIABLE, {"apps": 100}, token=token)
    _, under = await ask(client, OVER_NODES_BY_VARIABLE, {"apps": 4}, token=token)

    assert "110,100 nodes" in refused(over, VALIDATION_FAILED)
    assert "errors" not in under, under  # 4 + 400 + 4,000


async def test_under_the_node_limit_runs(client, token) -> None:
    _, body = await ask(client, UNDER_NODES, {"apps": 100}, token=token)

    assert "errors" not in body, body
    apps = body["data"]["viewer"]["portal"]["connectedApps"]["nodes"]
    assert apps and all(app["log"]["nodes"] for app in apps)


async def test_node_limit_boundary_and_default_page_size(make_client, token) -> None:
    async with make_client(max_nodes=110) as small:
        _, at_limit = await ask(
            small,
            "{ viewer { portal { connectedApps(first: 10) { nodes { log(first: 10) { totalCount } } } } } }",
            token=token,
        )
        _, over = await ask(
            small,
            "{ viewer { portal { connectedApps(first: 10) { nodes { log(first: 11) { totalCount } } } } } }",
            token=token,
        )
        # `first` omitted: the default page of 20 counts.
        _, defaults = await ask(
            small,
            "{ viewer { portal { connectedApps { nodes { log { totalCount } } } } } }",
            token=token,
        )

    assert "errors" not in at_limit, at_limit  # 10 + 10·10 = 110
    assert "120 nodes" in refused(over, VALIDATION_FAILED)  # 10 + 10·11
    assert "420 nodes" in refused(defaults, VALIDATION_FAILED)  # 20 + 20·20


@pytest.fixture(scope="module")
def graphql_schema():
    return build_schema(Settings(jwt_secret="x" * 40, events_secret="y" * 40))._schema


def nodes_of(
    schema: Any, query: str, variables: dict[str, Any] | None = None, name: str | None = None
) -> int:
    return count_nodes(schema, parse(query), variables, name)


def test_count_nodes_example(graphql_schema) -> None:
    assert nodes_of(graphql_schema, OVER_NODES) == 100 + 100 * 100 + 100 * 100 * 10
    assert nodes_of(graphql_schema, OVER_NODES_BY_VARIABLE, {"apps": 3}) == 3 + 300 + 3000
    assert nodes_of(graphql_schema, OVER_NODES_BY_VARIABLE, {"apps": 3, "entries": 2}) == 3 + 6 + 60


def test_count_nodes_defaults_to_20_per_page(graphql_schema) -> None:
    query = "{ viewer { portal { connectedApps { edges { node { log { nodes { id } } } } } } } }"
    assert nodes_of(graphql_schema, query) == 20 + 20 * 20
    # An explicit null, or a value that cannot be a size, is the default too.
    assert (
        nodes_of(graphql_schema, "{ viewer { portal { users(first: null) { nodes { id } } } } }")
        == 20
    )
    assert (
        nodes_of(graphql_schema, "{ viewer { portal { users(first: -1) { nodes { id } } } } }")
        == 20
    )


def test_count_nodes_sums_sibling_connections(graphql_schema) -> None:
    query = """{ viewer {
      notifications(first: 5) { nodes { id } }
      portal { users(first: 7) { nodes { teams { members(first: 3) { nodes { id } } } } }
               teams(first: 2) { nodes { members { totalCount } } }
               learningResources(first: 4) { id } }
    } }"""
    # teams of a user is a plain list: it doesn't multiply.
    assert nodes_of(graphql_schema, query) == 5 + (7 + 7 * 3) + (2 + 2 * 20) + 4


def test_count_nodes_sees_through_fragments_and_inline_fragments(graphql_schema) -> None:
    inline = """{ viewer { portal { connectedApps(first: 50) { nodes {
        log(first: 30) { nodes { app { connections(first: 5) { nodes { id } } } } } } } } } }"""
    with_fragments = """
    query Page { viewer { portal { ...Apps } } }
    fragment Apps on Portal { connectedApps(first: 50) { nodes { ... on ConnectedApp { ...Log } } } }
    fragment Log on ConnectedApp { log(first: 30) { nodes { ... { app { ...Connections } } } } }
    fragment Connections on ConnectedApp { connections(first: 5) { nodes { id } } }
    """
    expected = 50 + 50 * 30 + 50 * 30 * 5
    assert nodes_of(graphql_schema, inline) == expected
    assert nodes_of(graphql_schema, with_fragments, name="Page") == expected


def test_count_nodes_merges_what_execution_merges(graphql_schema) -> None:
    """Two fragments selecting the same connection (as Relay clients write them) count once;
    aliases execute separately and count separately."""
    merged = """
    { viewer { portal { ...A ...B connectedApps(first: 10) { nodes { id } } } } }
    fragment A on Portal { connectedApps(first: 10) { nodes { name } } }
    fragment B on Portal { connectedApps(first: 10) { nodes { log(first: 5) { nodes { id } } } } }
    """
    aliased_ = """
    { viewer { portal { a: connectedApps(first: 10) { nodes { id } } b: connectedApps(first: 10) { nodes { id } } } } }
    """
    assert nodes_of(graphql_schema, merged) == 10 + 10 * 5
    assert nodes_of(graphql_schema, aliased_) == 20


def test_count_nodes_under_an_interface_takes_the_largest_type(graphql_schema) -> None:
    query = """query ($ids: [ID!]!) { nodes(ids: $ids) {
        id
        ... on ConnectedApp { log(first: 10) { nodes { id } } }
        ... on Team { members(first: 30) { nodes { id } } }
    } }"""
    assert nodes_of(graphql_schema, query, {"ids": ["a", "b", "c"]}) == 3 + 3 * 30
    assert (
        nodes_of(
            graphql_schema,
            'query { node(id: "x") { ... on ConnectedApp { log(first: 7) { totalCount } } } }',
        )
        == 7
    )


def test_count_nodes_honours_skip_and_include(graphql_schema) -> None:
    query = """query ($full: Boolean!) { viewer { portal {
        connectedApps(first: 10) { nodes { log(first: 10) @include(if: $full) { totalCount } } }
        users(first: 10) @skip(if: $full) { totalCount }
    } } }"""
    assert nodes_of(graphql_schema, query, {"full": True}) == 10 + 100
    assert nodes_of(graphql_schema, query, {"full": False}) == 10 + 10


def test_count_nodes_leaves_invalid_variables_to_execution(graphql_schema) -> None:
    assert nodes_of(graphql_schema, OVER_NODES_BY_VARIABLE, {"apps": "many"}) == 0
    assert nodes_of(graphql_schema, OVER_NODES_BY_VARIABLE, {}) == 0


def test_count_nodes_is_linear_in_fragment_fan_out(graphql_schema) -> None:
    parts = ["{ viewer { portal { connectedApps(first: 2) { nodes { ...A0 } } } } }"]
    for i in range(40):
        inner = f"...A{i + 1}" if i < 39 else "id"
        hop = "log(first: 2) { nodes { app { %s } } }" % inner
        parts.append(f"fragment A{i} on ConnectedApp {{ x: {hop} y: {hop} }}")
    started = time.monotonic()

    total = nodes_of(graphql_schema, "\n".join(parts))

    assert time.monotonic() - started < 1
    assert total > 4**40


async def test_node_ids_multiply_what_is_below(make_client, token, demo) -> None:
    ids = [gid("ConnectedApp", pk) for pk in list(demo.app_ids.values())[:3]]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on ConnectedApp { log(first: 10) { totalCount } } } }"

    async with make_client(max_nodes=33) as small:
        _, ok = await ask(small, query, {"ids": ids}, token=token)
        _, over = await ask(small, query, {"ids": ids + ids[:1]}, token=token)

    assert "errors" not in ok, ok  # 3 + 3·10
    assert "44 nodes" in refused(over, VALIDATION_FAILED)


# ---- argument bounds, checked where the field runs (values may come from variables)

PAGED_FIELDS = [
    ("connectedApps", "{ viewer { portal { connectedApps(first: %s) { totalCount } } } }"),
    ("appLog", "{ viewer { portal { appLog(first: %s) { totalCount } } } }"),
    ("marketplace", "{ viewer { portal { marketplace(first: %s) { totalCount } } } }"),
    ("users", "{ viewer { portal { users(first: %s) { totalCount } } } }"),
    ("teams", "{ viewer { portal { teams(first: %s) { totalCount } } } }"),
    ("notificationRules", "{ viewer { portal { notificationRules(first: %s) { totalCount } } } }"),
    ("deliveries", "{ viewer { portal { deliveries(first: %s) { totalCount } } } }"),
    ("learningResources", "{ viewer { portal { learningResources(first: %s) { id } } } }"),
    ("notifications", "{ viewer { notifications(first: %s) { totalCount } } }"),
    (
        "app log",
        "{ viewer { portal { connectedApps(first: 1) { nodes { log(first: %s) { totalCount } } } } } }",
    ),
    (
        "connections",
        "{ viewer { portal { connectedApps(first: 1) { nodes { connections(first: %s) { totalCount } } } } } }",
    ),
    (
        "members",
        "{ viewer { portal { teams(first: 1) { nodes { members(first: %s) { totalCount } } } } } }",
    ),
]


@pytest.mark.parametrize(("value", "shown"), [("1000", "1000"), ("101", "101"), ("-1", "-1")])
@pytest.mark.parametrize("template", [t for _, t in PAGED_FIELDS], ids=[n for n, _ in PAGED_FIELDS])
async def test_first_out_of_range_is_bad_user_input(client, token, template, value, shown) -> None:
    _, body = await ask(client, template % value, token=token)

    assert field_error(body, BAD_USER_INPUT) == f"`first` must be between 0 and 100, got {shown}"
    assert body["errors"][0]["extensions"]["argument"] == "first"


@pytest.mark.parametrize("template", [t for _, t in PAGED_FIELDS], ids=[n for n, _ in PAGED_FIELDS])
async def test_first_in_range_is_accepted(client, token, template) -> None:
    for value in ("0", "100"):
        _, body = await ask(client, template % value, token=token)
        assert "errors" not in body, (value, body)


@pytest.mark.parametrize("value", [1000, -1])
async def test_first_out_of_range_from_a_variable(client, token, value) -> None:
    query = "query ($n: Int) { viewer { portal { appLog(first: $n) { totalCount } } } }"

    _, body = await ask(client, query, {"n": value}, token=token)

    assert field_error(body, BAD_USER_INPUT) == f"`first` must be between 0 and 100, got {value}"


async def test_first_zero_is_an_empty_page(client, token) -> None:
    _, body = await ask(
        client,
        "{ viewer { portal { connectedApps(first: 0) { nodes { id } pageInfo { hasNextPage } } } } }",
        token=token,
    )

    assert body["data"]["viewer"]["portal"]["connectedApps"] == {
        "nodes": [],
        "pageInfo": {"hasNextPage": True},
    }


NODES_BY_IDS = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"


async def test_nodes_takes_at_most_100_ids(client, token) -> None:
    _, ok = await ask(client, NODES_BY_IDS, {"ids": ["garbage"] * 100}, token=token)
    _, over = await ask(client, NODES_BY_IDS, {"ids": ["garbage"] * 101}, token=token)

    assert ok == {"data": {"nodes": [None] * 100}}
    assert field_error(over, BAD_USER_INPUT) == "`ids` takes at most 100 ids, got 101"


@pytest.mark.parametrize("cursor", ["garbage", "", "e30=", "WzEsMl0=", "!!!", "W251bGwsbnVsbF0="])
async def test_invalid_cursor_is_bad_user_input(client, token, cursor) -> None:
    for field in ("connectedApps", "appLog", "users"):
        query = "query ($c: String) { viewer { portal { %s(after: $c) { totalCount } } } }" % field
        _, body = await ask(client, query, {"c": cursor}, token=token)
        assert field_error(body, BAD_USER_INPUT) == "`after` is not a cursor of this list", (
            field,
            body,
        )


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ('{appIds: ["garbage"]}', "`filter.appIds[0]` is not a ConnectedApp id"),
        ('{userIds: ["VXNlcjox", "garbage"]}', "`filter.userIds[1]` is not a User id"),
        ('{appIds: ["VXNlcjox"]}', "`filter.appIds[0]` is not a ConnectedApp id"),  # a User id
    ],
)
async def test_undecodable_ids_in_a_filter_are_bad_user_input(client, token, flt, message) -> None:
    _, body = await ask(
        client, "{ viewer { portal { appLog(filter: %s) { totalCount } } } }" % flt, token=token
    )

    assert field_error(body, BAD_USER_INPUT) == message


async def test_undecodable_ids_in_a_filter_variable_are_bad_user_input(client, token) -> None:
    query = "query ($f: AppLogFilter) { viewer { portal { appLog(filter: $f) { totalCount } } } }"

    _, body = await ask(client, query, {"f": {"appIds": ["garbage"]}}, token=token)

    assert field_error(body, BAD_USER_INPUT) == "`filter.appIds[0]` is not a ConnectedApp id"


async def test_unknown_enum_value_literal_is_a_validation_failure(client, token) -> None:
    _, body = await ask(
        client,
        "{ viewer { portal { connectedApps(filter: {statuses: [BROKEN]}) { totalCount } } } }",
        token=token,
    )

    assert "BROKEN" in refused(body, VALIDATION_FAILED)


async def test_unknown_enum_value_in_a_variable_is_bad_user_input(client, token) -> None:
    _, body = await ask(client, MISSPELT_ENUM_VARIABLE, {"statuses": ["BROKEN"]}, token=token)

    assert "BROKEN" in refused(body, BAD_USER_INPUT)


async def test_unknown_filter_field_is_a_validation_failure(client, token) -> None:
    _, body = await ask(
        client, "{ viewer { portal { appLog(filter: {appId: []}) { totalCount } } } }", token=token
    )

    assert "appId" in refused(body, VALIDATION_FAILED)


async def test_unknown_filter_field_in_a_variable_is_bad_user_input(client, token) -> None:
    query = "query ($f: AppLogFilter) { viewer { portal { appLog(filter: $f) { totalCount } } } }"

    _, body = await ask(client, query, {"f": {"appId": []}}, token=token)

    assert "appId" in refused(body, BAD_USER_INPUT)


async def test_a_document_that_does_not_parse(client, token) -> None:
    _, body = await ask(client, "{ viewer { portal { name }", token=token)

    assert refused(body, "GRAPHQL_PARSE_FAILED").startswith("Syntax Error")


# ---- a sweep: whatever goes wrong, a code, never a 500 or a traceback

BAD_REQUESTS: list[tuple[str, dict[str, Any] | None, str]] = [
    ("{ viewer { portal { name }", None, "GRAPHQL_PARSE_FAILED"),
    ("query { ...Missing }", None, VALIDATION_FAILED),
    ("{ viewer { nope } }", None, VALIDATION_FAILED),
    (
        '{ viewer { portal { connectedApps(first: "ten") { totalCount } } } }',
        None,
        VALIDATION_FAILED,
    ),
    (
        "{ viewer { portal { connectedApps(first: 99999999999) { totalCount } } } }",
        None,
        VALIDATION_FAILED,
    ),
    (
        '{ viewer { portal { appLog(filter: {since: "yesterday"}) { totalCount } } } }',
        None,
        VALIDATION_FAILED,
    ),
    (
        "{ viewer { portal { appLog(filter: {since: $s}) { totalCount } } } }",
        None,
        VALIDATION_FAILED,
    ),
    (
        "query ($n: Int) { viewer { portal { users(first: $n) { totalCount } } } }",
        {"n": "ten"},
        BAD_USER_INPUT,
    ),
    (
        "query ($n: Int) { viewer { portal { users(first: $n) { totalCount } } } }",
        {"n": 2**40},
        BAD_USER_INPUT,
    ),
    (
        "query ($n: Int!) { viewer { portal { users(first: $n) { totalCount } } } }",
        {},
        BAD_USER_INPUT,
    ),
    (
        "query ($f: AppLogFilter) { viewer { portal { appLog(filter: $f) { totalCount } } } }",
        {"f": {"since": "yesterday"}},
        BAD_USER_INPUT,
    ),
    (
        "query ($f: AppLogFilter) { viewer { portal { appLog(filter: $f) { totalCount } } } }",
        {"f": {"since": "2026-01-01T00:00:00"}},  # no timezone
        BAD_USER_INPUT,
    ),
    ("query ($id: ID!) { node(id: $id) { id } }", {"id": {"nested": "object"}}, BAD_USER_INPUT),
    (
        '{ viewer { portal { connectedApps(after: "\\u0000") { totalCount } } } }',
        None,
        BAD_USER_INPUT,
    ),
]


@pytest.mark.parametrize(("query", "variables", "code"), BAD_REQUESTS)
async def test_every_error_has_a_code(client, token, query, variables, code) -> None:
    _, body = await ask(client, query, variables, token=token)

    assert set(error_codes(body)) == {code}, body


@pytest.mark.parametrize(
    ("changes", "query"),
    [
        ({"max_depth": 2}, "{ viewer { portal { connectedApps { totalCount } } } }"),
        ({"max_aliases": 1}, "{ a: viewer { user { id } } b: viewer { user { id } } }"),
        ({"max_tokens": 10}, "{ viewer { user { id name email } } }"),
        ({"max_nodes": 19}, "{ viewer { portal { users { totalCount } } } }"),
    ],
)
async def test_limits_are_settings(make_client, token, changes, query) -> None:
    async with make_client(**changes) as limited:
        _, body = await ask(limited, query, token=token)

    refused(body, VALIDATION_FAILED)


async def test_page_size_and_node_ids_limits_are_settings(make_client, token) -> None:
    async with make_client(max_page_size=5, max_node_ids=2) as limited:
        _, page = await ask(
            limited, "{ viewer { portal { users(first: 6) { totalCount } } } }", token=token
        )
        _, ids = await ask(limited, NODES_BY_IDS, {"ids": ["a", "b", "c"]}, token=token)

    assert field_error(page, BAD_USER_INPUT) == "`first` must be between 0 and 5, got 6"
    assert field_error(ids, BAD_USER_INPUT) == "`ids` takes at most 2 ids, got 3"


def test_long_plain_lists_multiply_what_is_below_them():
    # A digest's entries (up to 100 each) under 4 notifications, each with a page of 100
    # connections of its app: 4·100 entries, then 4·100·100 connections, not 4 + 400.
    from graphql import parse

    from gateway.schema.limits import count_nodes
    from gateway.schema.schema import build_schema
    from gateway.settings import Settings

    schema = build_schema(Settings(debug=True))._schema
    document = parse(
        "{ viewer { notifications(first: 4) { nodes { entries { app { connections(first: 100) "
        "{ nodes { id } } } } } } } }"
    )
    assert count_nodes(schema, document, None, None) == 4 + 4 * 100 + 4 * 100 * 100


# ---- directive conditions: a null where @skip/@include need a Boolean


@pytest.mark.parametrize(
    "query",
    [
        "query ($no: Boolean = false) { viewer @include(if: $no) { user { name } } }",
        "query ($no: Boolean = false) { viewer { user { name @include(if: $no) email } } }",
        "query ($no: Boolean = false) { viewer { user @skip(if: $no) { name } } }",
    ],
    ids=["root", "leaf", "object"],
)
async def test_a_null_directive_condition_refuses_the_request(client, token, query) -> None:
    # given a nullable variable with a default where @include/@skip need a Boolean!,
    # when it is sent as an explicit null, then nothing runs, wherever the directive stands
    _, body = await ask(client, query, {"no": None}, token=token)
    assert refused(body, BAD_USER_INPUT) == (
        "Argument 'if' has invalid value: Expected variable '$no' provided to non-null type"
        " 'Boolean!' not to be None."
    )
