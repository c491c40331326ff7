"""GraphQL over HTTP (DESIGN §2, §3 "Safe defaults"): what a client sees at /graphql.

The spec is graphql.github.io/graphql-over-http; `.ci/audit.sh` runs the graphql-http server
audit against a served gateway, and these tests pin the same answers (and ours: auth, body
limit, batching, content types) in-process, status code, media type and body exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.auth import UNAUTHENTICATED_MESSAGE
from gateway.schema.schema import build_schema
from tests.helpers import error_codes, gid, token_for

ADMIN = "admin@demo.example"
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MIB = 1024 * 1024

VIEWER = "{ viewer { user { email } } }"
VIEWER_DATA = {"viewer": {"user": {"email": ADMIN}}}
NODE_BY_ID = "query Node($id: ID!) { node(id: $id) { __typename id } }"
TWO_OPERATIONS = "query Mine { viewer { user { email } } } query Other { __typename }"
PARSE_ERROR = "{ viewer { user { email }"
VALIDATION_ERROR = "{ viewer { noSuchField } }"
MUTATION = "mutation { __typename }"
SUBSCRIPTION = "subscription { __typename }"

UNAUTHENTICATED_BODY = {
    "errors": [{"message": UNAUTHENTICATED_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]
}


@pytest.fixture
async def token(demo: object, settings: Any) -> str:
    return await token_for(settings, ADMIN)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


async def post_json(
    client: httpx.AsyncClient, body: Any, headers: dict[str, str], accept: str | None = None
) -> httpx.Response:
    headers = {**headers, "Content-Type": JSON}
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", content=json.dumps(body), headers=headers)


# ---- what works


async def test_a_json_post_runs_the_query(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # given the demo super admin's token
    # when a query is POSTed as JSON with the default Accept (*/*)
    response = await post_json(client, {"query": VIEWER}, auth)
    # then it runs and answers 200 in application/json, data only
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json() == {"data": VIEWER_DATA}


async def test_null_optional_parameters_and_extensions_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a request with operationName, variables and extensions all null, and one with an
    # extensions object the gateway doesn't use
    bodies = [
        {"query": VIEWER, "operationName": None, "variables": None, "extensions": None},
        {"query": VIEWER, "extensions": {"clientLibrary": {"name": "urql", "version": "5"}}},
    ]
    for body in bodies:
        # when each is POSTed
        response = await post_json(client, body, auth)
        # then each runs
        assert (response.status_code, response.json()) == (200, {"data": VIEWER_DATA}), body


async def test_a_get_runs_a_query_with_variables_as_a_json_string(
    client: httpx.AsyncClient, auth: dict[str, str], demo: Any
) -> None:
    # given the admin's own global id
    admin_id = gid("User", demo.user_ids[ADMIN])
    # when a query is sent as GET, its variables a JSON-encoded string in the URL
    response = await client.get(
        "/graphql",
        params={
            "query": NODE_BY_ID,
            "variables": json.dumps({"id": admin_id}),
            "operationName": "Node",
        },
        headers={**auth, "Accept": JSON},
    )
    # then it runs like the same POST would
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json() == {"data": {"node": {"__typename": "User", "id": admin_id}}}


async def test_the_spec_media_type_is_answered_in_kind(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a client that asks for application/graphql-response+json (alone, or preferred)
    for accept in (GRAPHQL_RESPONSE, f"{JSON};q=0.9, {GRAPHQL_RESPONSE}"):
        # when it POSTs a valid query
        response = await post_json(client, {"query": VIEWER}, auth, accept=accept)
        # then the answer is 200 in that media type
        assert response.status_code == 200, accept
        assert media_type(response) == GRAPHQL_RESPONSE, accept
        assert response.json() == {"data": VIEWER_DATA}
        assert "Accept" in response.headers["vary"]


@pytest.mark.parametrize("accept", [JSON, "*/*", "application/*", None])
async def test_json_and_wildcards_get_application_json(
    client: httpx.AsyncClient, auth: dict[str, str], accept: str | None
) -> None:
    # given an Accept of application/json, a wildcard, or none at all
    headers = {**auth, "Content-Type": JSON}
    if accept is not None:
        headers["Accept"] = accept
    # when a valid query is POSTed
    response = await client.post("/graphql", content=json.dumps({"query": VIEWER}), headers=headers)
    # then the answer is application/json (the spec's default)
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json() == {"data": VIEWER_DATA}


# ---- GraphQL request errors: the status code depends on the media type


@pytest.mark.parametrize(
    ("query", "code"),
    [(PARSE_ERROR, "GRAPHQL_PARSE_FAILED"), (VALIDATION_ERROR, "GRAPHQL_VALIDATION_FAILED")],
    ids=["parse", "validation"],
)
@pytest.mark.parametrize(
    ("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)], ids=["spec-media-type", "json"]
)
async def test_document_errors_have_no_data_and_the_media_types_status(
    client: httpx.AsyncClient, auth: dict[str, str], query: str, code: str, accept: str, status: int
) -> None:
    # given a client that accepts application/graphql-response+json, or application/json only
    # when it POSTs a document that doesn't parse / doesn't validate
    response = await post_json(client, {"query": query}, auth, accept=accept)
    # then 400 under the spec's media type, 200 under application/json (the request itself was
    # well-formed); either way errors with their code and no `data` entry at all
    assert response.status_code == status
    assert media_type(response) == accept
    body = response.json()
    assert set(body) == {"errors"}
    assert error_codes(body) == [code]


async def test_suggestions_are_not_leaked_without_debug(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a field name one letter away from a real one
    # when it is queried on a gateway without GATEWAY_DEBUG
    response = await post_json(client, {"query": "{ viewer { usr { email } } }"}, auth, accept=JSON)
    # then the validation error doesn't suggest the real field
    body = response.json()
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in body["errors"][0]["message"]


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_variables_that_cannot_be_coerced_are_bad_user_input(
    client: httpx.AsyncClient, auth: dict[str, str], accept: str, status: int
) -> None:
    # given a document whose required variable is sent as null
    body = {"query": NODE_BY_ID, "variables": {"id": None}}
    # when it is POSTed
    response = await post_json(client, body, auth, accept=accept)
    # then nothing runs: 400 under the spec's media type, 200 under JSON, BAD_USER_INPUT
    assert response.status_code == status
    assert media_type(response) == accept
    assert set(response.json()) == {"errors"}
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_an_unknown_operation_name_is_a_request_error(
    client: httpx.AsyncClient, auth: dict[str, str], accept: str, status: int
) -> None:
    # given a document with operations Mine and Other
    # when the request names an operation that isn't in it
    body = {"query": TWO_OPERATIONS, "operationName": "Missing"}
    response = await post_json(client, body, auth, accept=accept)
    # then nothing runs: 400 under the spec's media type, 200 under JSON, code BAD_REQUEST
    assert response.status_code == status
    assert media_type(response) == accept
    assert response.json() == {
        "errors": [
            {"message": 'Unknown operation named "Missing".', "extensions": {"code": "BAD_REQUEST"}}
        ]
    }


MULTIPLE_OPERATIONS_MESSAGE = "Must provide operation name if query contains multiple operations."


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_several_operations_without_an_operation_name_is_a_request_error(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    method: str,
    accept: str,
    status: int,
) -> None:
    # given a document with operations Mine and Other
    # when the request names none of them
    headers = {**auth, "Accept": accept}
    if method == "GET":
        response = await client.get("/graphql", params={"query": TWO_OPERATIONS}, headers=headers)
    else:
        response = await post_json(client, {"query": TWO_OPERATIONS}, auth, accept=accept)
    # then nothing runs, not even the first one (no `data` at all): 400 under the spec's
    # media type, 200 under JSON, code BAD_REQUEST with graphql-core's message
    assert response.status_code == status
    assert media_type(response) == accept
    assert response.json() == {
        "errors": [{"message": MULTIPLE_OPERATIONS_MESSAGE, "extensions": {"code": "BAD_REQUEST"}}]
    }


async def test_operation_name_chooses_the_operation(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a document with operations Mine and Other
    # when the request names Mine
    body = {"query": TWO_OPERATIONS, "operationName": "Mine"}
    response = await post_json(client, body, auth, accept=GRAPHQL_RESPONSE)
    # then Mine runs
    assert (response.status_code, response.json()) == (200, {"data": VIEWER_DATA})


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_a_subscription_over_http_is_a_request_error(
    client: httpx.AsyncClient, auth: dict[str, str], accept: str, status: int
) -> None:
    # given a subscription document (subscriptions are served over WebSocket only)
    # when it is POSTed
    response = await post_json(client, {"query": SUBSCRIPTION}, auth, accept=accept)
    # then nothing runs, and the error says where subscriptions live
    assert response.status_code == status
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert "WebSocket" in response.json()["errors"][0]["message"]
    assert "data" not in response.json()


# ---- methods


async def test_a_mutation_over_get_is_405_allow_post(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a mutation document, alone or chosen by operationName among queries
    cases = [
        {"query": MUTATION},
        {"query": "query Q { __typename } mutation M { __typename }", "operationName": "M"},
    ]
    for params in cases:
        for accept in (GRAPHQL_RESPONSE, JSON):
            # when it is sent as GET
            response = await client.get(
                "/graphql", params=params, headers={**auth, "Accept": accept}
            )
            # then 405 with Allow: POST, whatever the schema would say of the document: the
            # spec decides on the operation type alone (this schema has no Mutation type yet)
            assert response.status_code == 405, (params, accept)
            assert response.headers["allow"] == "POST"
            assert media_type(response) == accept
            assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_the_same_mutation_document_over_post_gets_past_the_method_check(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Any
) -> None:
    # given the mutation document that GET refuses
    has_mutations = build_schema(settings)._schema.mutation_type is not None
    # when it is POSTed
    response = await post_json(client, {"query": MUTATION}, auth, accept=JSON)
    # then it is treated as GraphQL: it runs when the schema has a Mutation type, and is a
    # validation error (200 under JSON) while it has none
    assert response.status_code == 200
    if has_mutations:
        assert response.json() == {"data": {"__typename": "Mutation"}}
    else:
        assert set(response.json()) == {"errors"}
        assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_405_allow_get_post(
    client: httpx.AsyncClient, auth: dict[str, str], method: str
) -> None:
    # given a valid JSON body
    # when it is sent with a method other than GET or POST
    response = await client.request(
        method,
        "/graphql",
        content=json.dumps({"query": VIEWER}),
        headers={**auth, "Content-Type": JSON},
    )
    # then 405 naming the methods that work, with a code
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


# ---- malformed requests


async def test_accepting_only_other_media_types_is_406(
    client: httpx.AsyncClient, auth: dict[str, str], executions: list[str]
) -> None:
    # given a client that accepts only text/plain (or refuses both JSON types with q=0)
    for accept in ("text/plain", f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0"):
        # when it POSTs a valid query
        response = await post_json(client, {"query": VIEWER}, auth, accept=accept)
        # then 406, in JSON (the spec's fallback), with a code, and nothing ran
        assert response.status_code == 406, accept
        assert media_type(response) == JSON
        assert error_codes(response.json()) == ["NOT_ACCEPTABLE"]
    assert executions == []


@pytest.mark.parametrize(
    "content",
    [b'{ "not a JSON', b"query { viewer { user { email } } }", b"\xff\xfe{}"],
    ids=["truncated", "bare-document", "not-utf8"],
)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_a_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, auth: dict[str, str], content: bytes, accept: str
) -> None:
    # given a body declared as JSON that isn't
    # when it is POSTed
    response = await client.post(
        "/graphql", content=content, headers={**auth, "Content-Type": JSON, "Accept": accept}
    )
    # then 400 (under both media types: the HTTP request itself is malformed), with a code
    assert response.status_code == 400
    assert media_type(response) == accept
    assert error_codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize("content", [b"", b"  \n"], ids=["empty", "whitespace"])
async def test_an_empty_body_is_400(
    client: httpx.AsyncClient, auth: dict[str, str], content: bytes
) -> None:
    # given a JSON POST without a body
    # when it is sent
    response = await client.post(
        "/graphql", content=content, headers={**auth, "Content-Type": JSON}
    )
    # then 400 with a code
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "The request body is empty: send a JSON object with `query`",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }


async def test_a_batch_is_400_and_nothing_runs(
    client: httpx.AsyncClient, auth: dict[str, str], executions: list[str]
) -> None:
    # given two valid operations batched in a JSON array
    batch = [{"query": VIEWER}, {"query": "{ __typename }"}]
    # when the array is POSTed
    response = await post_json(client, batch, auth)
    # then 400 with a code, and neither operation reached the schema
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert "Batched requests are not supported" in response.json()["errors"][0]["message"]
    assert executions == []


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"query=%7B+__typename+%7D"),
        ("text/plain", json.dumps({"query": VIEWER}).encode()),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n'
            b"{ __typename }\r\n--x--\r\n",
        ),
        ("application/graphql", b"{ __typename }"),
        (f"{JSON}; charset=latin-1", json.dumps({"query": VIEWER}).encode()),
        (None, json.dumps({"query": VIEWER}).encode()),
    ],
    ids=["form", "text-plain", "multipart", "application-graphql", "latin1", "no-content-type"],
)
async def test_only_json_bodies_run_operations(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    executions: list[str],
    content_type: str | None,
    content: bytes,
) -> None:
    # given a POST body that a browser form could send cross-site (or no declared type)
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    # when it is sent
    response = await client.post("/graphql", content=content, headers=headers)
    # then 415 with a code, and nothing ran
    assert response.status_code == 415
    assert error_codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert executions == []


async def test_a_utf8_charset_parameter_is_fine(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a JSON body with non-ASCII text, declared with charset=utf-8
    body = json.dumps({"query": "{ viewer { user { email } } } # Run🏃Swim🏊"}, ensure_ascii=False)
    # when it is POSTed
    response = await client.post(
        "/graphql",
        content=body.encode("utf-8"),
        headers={**auth, "Content-Type": f"{JSON}; charset=utf-8"},
    )
    # then it runs
    assert (response.status_code, response.json()) == (200, {"data": VIEWER_DATA})


def padded(size: int) -> bytes:
    """A valid JSON request body of exactly `size` bytes (trailing whitespace is valid JSON)."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    return body + b" " * (size - len(body))


async def test_a_body_of_exactly_1_mib_is_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a valid body of exactly 1 MiB
    # when it is POSTed
    response = await client.post(
        "/graphql", content=padded(MIB), headers={**auth, "Content-Type": JSON}
    )
    # then it runs
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


async def test_a_body_over_1_mib_is_413(
    client: httpx.AsyncClient, auth: dict[str, str], executions: list[str]
) -> None:
    # given a valid body of 1 MiB + 1 byte, with its Content-Length
    # when it is POSTed
    response = await client.post(
        "/graphql", content=padded(MIB + 1), headers={**auth, "Content-Type": JSON}
    )
    # then 413 with a code, and nothing ran
    assert response.status_code == 413
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert executions == []


async def test_a_chunked_body_over_1_mib_is_413(
    client: httpx.AsyncClient, auth: dict[str, str], executions: list[str]
) -> None:
    # given the same 1 MiB + 1 byte body streamed in chunks, without a Content-Length
    body = padded(MIB + 1)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    request = client.build_request(
        "POST", "/graphql", content=chunks(), headers={**auth, "Content-Type": JSON}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    # when it is sent
    response = await client.send(request)
    # then 413 as well: the limit counts what arrives, not what is declared
    assert response.status_code == 413
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert executions == []


@pytest.mark.parametrize(
    "body",
    [
        {"notquery": VIEWER},
        {"query": None},
        {"query": ""},
        {"query": 0},
        {"query": False},
        {"query": {"obj": "ect"}},
        {"query": [VIEWER]},
        {"query": VIEWER, "variables": "string"},
        {"query": VIEWER, "variables": "{}"},  # JSON-encoded variables are for GET only
        {"query": VIEWER, "variables": 0},
        {"query": VIEWER, "variables": ["array"]},
        {"query": VIEWER, "operationName": 0},
        {"query": VIEWER, "operationName": False},
        {"query": VIEWER, "operationName": {"obj": "ect"}},
        {"query": VIEWER, "operationName": ["array"]},
        {"query": VIEWER, "extensions": "string"},
        {"query": VIEWER, "extensions": ["array"]},
        "a string",
        42,
        None,
    ],
    ids=lambda body: json.dumps(body)[:60],
)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_malformed_parameters_are_400_with_a_code(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    executions: list[str],
    body: Any,
    accept: str,
) -> None:
    # given a JSON body whose parameters break the spec's types (or that is no object)
    # when it is POSTed
    response = await post_json(client, body, auth, accept=accept)
    # then 400 under either media type, with a code, and nothing ran
    assert response.status_code == 400
    assert media_type(response) == accept
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert executions == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"query": ""},
        {"query": VIEWER, "variables": "{not json"},
        {"query": VIEWER, "variables": "[1]"},
        {"query": VIEWER, "extensions": "1"},
    ],
    ids=["no-query", "empty-query", "variables-not-json", "variables-array", "extensions-number"],
)
async def test_malformed_get_parameters_are_400_with_a_code(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str]
) -> None:
    # given GET parameters that break the spec's types
    # when they are sent
    response = await client.get("/graphql", params=params, headers=auth)
    # then 400 with a code
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]


# ---- authentication


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4="],
    ids=["missing", "empty", "no-token", "garbage", "basic"],
)
async def test_without_a_valid_token_the_answer_is_401_and_always_the_same(
    client: httpx.AsyncClient, executions: list[str], authorization: str | None
) -> None:
    # given no usable bearer token
    headers = {"Content-Type": JSON}
    if authorization is not None:
        headers["Authorization"] = authorization
    # when a valid query is POSTed (or a batch, or an oversized body: authentication comes
    # before anything is read)
    bodies = [
        json.dumps({"query": VIEWER}).encode(),
        json.dumps([{"query": VIEWER}]).encode(),
        padded(MIB + 1),
    ]
    for body in bodies:
        response = await client.post("/graphql", content=body, headers=headers)
        # then 401 with exactly this body and a Bearer challenge, nothing ran
        assert response.status_code == 401
        assert media_type(response) == JSON
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == UNAUTHENTICATED_BODY
    assert executions == []


async def test_an_anonymous_get_is_401_too(client: httpx.AsyncClient) -> None:
    # given no token
    # when a query is sent as GET
    response = await client.get("/graphql", params={"query": VIEWER})
    # then the same 401
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED_BODY


async def test_an_expired_token_is_401(
    client: httpx.AsyncClient, settings: Any, demo: object
) -> None:
    # given a token that expired an hour ago
    expired = await token_for(
        settings, ADMIN, ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2)
    )
    # when a valid query is POSTed with it
    response = await post_json(client, {"query": VIEWER}, {"Authorization": f"Bearer {expired}"})
    # then the same 401 as for no token at all, the challenge telling it to get a new token
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED_BODY
    assert response.headers["www-authenticate"] == (
        'Bearer realm="gateway", error="invalid_token", error_description="expired"'
    )


# ---- request ids


async def test_the_request_id_is_echoed(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # given a client that sends its own X-Request-ID
    # when it sends a request that works and one that is refused
    ok = await post_json(client, {"query": VIEWER}, {**auth, "X-Request-ID": "req-123.abc"})
    refused = await post_json(client, [{"query": VIEWER}], {**auth, "X-Request-ID": "req-456"})
    anonymous = await post_json(client, {"query": VIEWER}, {"X-Request-ID": "req-789"})
    # then each answer carries that id back
    assert ok.headers["x-request-id"] == "req-123.abc"
    assert refused.headers["x-request-id"] == "req-456"
    assert anonymous.headers["x-request-id"] == "req-789"


async def test_a_request_id_is_made_up_when_missing_or_unusable(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given requests without an X-Request-ID, or with one that is too long or has spaces
    for extra in ({}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": "two words"}):
        # when each is sent
        response = await post_json(client, {"query": VIEWER}, {**auth, **extra})
        # then the answer carries a fresh id of the gateway's own
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), extra


# ---- GraphiQL


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_graphiql_is_served_with_debug_to_a_browser(make_client: Any) -> None:
    # given a gateway with GATEWAY_DEBUG on
    async with make_client(debug=True) as debug_client:
        # when a browser opens /graphql (no token: the IDE page is static)
        for accept in ("text/html", BROWSER_ACCEPT):
            response = await debug_client.get("/graphql", headers={"Accept": accept})
            # then it gets the GraphiQL page
            assert response.status_code == 200, accept
            assert media_type(response) == "text/html"
            assert "graphiql" in response.text.lower()


async def test_with_debug_a_json_get_still_runs_the_query(
    make_client: Any, auth: dict[str, str]
) -> None:
    # given a gateway with GATEWAY_DEBUG on
    async with make_client(debug=True) as debug_client:
        # when a GET asks for JSON (or anything, with */*)
        for accept in (JSON, "*/*"):
            response = await debug_client.get(
                "/graphql", params={"query": VIEWER}, headers={**auth, "Accept": accept}
            )
            # then the query runs: no HTML
            assert (response.status_code, response.json()) == (200, {"data": VIEWER_DATA}), accept


async def test_without_debug_a_browser_gets_no_html(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # given a gateway without GATEWAY_DEBUG (the fixture's)
    # when a browser opens /graphql, without a token, then with one
    anonymous = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    signed_in = await client.get("/graphql", headers={**auth, "Accept": BROWSER_ACCEPT})
    html_only = await client.get("/graphql", headers={**auth, "Accept": "text/html"})
    # then JSON answers only: 401, 400 (no query), and 406 for a client that takes only HTML
    assert (anonymous.status_code, media_type(anonymous)) == (401, JSON)
    assert anonymous.json() == UNAUTHENTICATED_BODY
    assert (signed_in.status_code, media_type(signed_in)) == (400, JSON)
    assert error_codes(signed_in.json()) == ["BAD_REQUEST"]
    assert (html_only.status_code, media_type(html_only)) == (406, JSON)
    assert error_codes(html_only.json()) == ["NOT_ACCEPTABLE"]
