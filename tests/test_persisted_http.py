"""Persisted documents as clients meet them (DESIGN §3 "Persisted documents"): Apollo's
automatic persisted queries, `documentId`s, and trusted-document manifests, through real
requests to the app over HTTP (POST and GET) and WebSocket (real uvicorn).

Each test builds its own app, so its store of automatic persisted queries starts empty (with
GATEWAY_TEST_REDIS_URL set, in a Redis namespace of its own)."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings, SettingsError
from tests import factories as f
from tests.conftest import EVENTS_SECRET, REDIS_URL
from tests.helpers import error_codes, load_query
from tests.live_support import WSClient, post_event, until_subscribed, uvicorn_serving

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ADMIN = "Ada Admin"

NOT_FOUND_BODY = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}
STATUS = "subscription AppStatus { appStatusChanged { status app { name } } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def apq(text: str) -> dict[str, Any]:
    """The `extensions` of an automatic persisted query for `text`."""
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def fresh_query() -> str:
    """A document no store has seen: its own alias, so its own hash."""
    return f"query Me {{ viewer {{ user {{ name }} }} v{uuid.uuid4().hex[:8]}: __typename }}"


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def token(app: Starlette, settings: Settings) -> str:
    """A super admin of a portal with one app."""
    tenant = await f.make_tenant(settings, apps=[f.unique("App")])
    return tenant.token(ADMIN)


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], token: str, accept: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", content=json.dumps(body), headers=headers)


def me(response: httpx.Response) -> Any:
    """The viewer's name from a successful answer to `fresh_query()`."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["viewer"]["user"]["name"]


def manifest_of(path: Path, *documents: str) -> Path:
    path.write_text(json.dumps({sha256(text): text for text in documents}), encoding="utf-8")
    return path


def console_queries() -> list[str]:
    """The console's key queries (../shared/queries, or the copy beside the tests)."""
    return [load_query(name) for name in ("app-log-page.graphql", "my-apps-page.graphql")]


# ---- automatic persisted queries


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_an_unknown_hash_alone_is_persisted_query_not_found_with_200(gateway, token, accept):
    # given a gateway that has never seen a document
    async with gateway() as app, http(app) as client:
        # when a client sends its hash alone (Apollo's link does, first)
        response = await post(client, {"extensions": apq(fresh_query())}, token, accept)
        # then the answer is the protocol's, HTTP 200 in either media type, so the link sends
        # the document next
        assert response.status_code == 200
        assert media_type(response) == accept
        assert response.json() == NOT_FOUND_BODY


async def test_a_hash_with_its_query_runs_and_registers_it(gateway, token):
    # given a document the gateway doesn't know
    query = fresh_query()
    async with gateway() as app, http(app) as client:
        assert (await post(client, {"extensions": apq(query)}, token)).json() == NOT_FOUND_BODY
        # when it is sent with its hash
        response = await post(client, {"query": query, "extensions": apq(query)}, token)
        # then it runs
        assert me(response) == ADMIN
        # and from now on its hash alone runs it, POSTed
        assert me(await post(client, {"extensions": apq(query)}, token)) == ADMIN
        # and as a GET, `extensions` URL-encoded JSON
        response = await client.get(
            "/graphql",
            params={"extensions": json.dumps(apq(query))},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert me(response) == ADMIN
        # (and with an operation name and variables beside it, like any request)
        response = await post(
            client, {"extensions": apq(query), "operationName": "Me", "variables": {}}, token
        )
        assert me(response) == ADMIN


async def test_an_unknown_hash_alone_as_a_get_is_persisted_query_not_found(gateway, token):
    async with gateway() as app, http(app) as client:
        # when a GET names a hash the gateway doesn't know
        response = await client.get(
            "/graphql",
            params={"extensions": json.dumps(apq(fresh_query()))},
            headers={"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE},
        )
        # then it is the same protocol answer
        assert (response.status_code, response.json()) == (200, NOT_FOUND_BODY)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("query Nope { viewer { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("query Half { viewer { user { name }", "GRAPHQL_PARSE_FAILED"),
        # over the node limit (110,100 nodes): a document limit, refused before execution
        (
            """{ viewer { portal { connectedApps(first: 100) { nodes {
              log(first: 100) { nodes { app { connections(first: 10) { nodes { id } } } } }
            } } } } }""",
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ],
    ids=["validation", "parse", "node-limit"],
)
async def test_a_document_that_fails_its_checks_is_not_registered(gateway, token, document, code):
    # given a document that doesn't pass the gateway's checks
    document = f"# {uuid.uuid4().hex}\n{document}"
    async with gateway() as app, http(app) as client:
        # when it is sent with its hash
        response = await post(client, {"query": document, "extensions": apq(document)}, token)
        # then it is refused as without a hash
        assert error_codes(response.json()) == [code]
        assert "data" not in response.json()
        # and its hash alone is still unknown
        response = await post(client, {"extensions": apq(document)}, token)
        assert (response.status_code, response.json()) == (200, NOT_FOUND_BODY)


async def test_a_hash_that_is_not_the_query_s_is_bad_user_input(gateway, token):
    # given a document, and the hash of another one
    query, other = fresh_query(), fresh_query()
    async with gateway() as app, http(app) as client:
        # when they are sent together
        response = await post(client, {"query": query, "extensions": apq(other)}, token)
        # then nothing runs: BAD_USER_INPUT
        assert response.status_code == 400
        assert set(response.json()) == {"errors"}
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        # and neither hash was registered for the document
        for text in (query, other):
            response = await post(client, {"extensions": apq(text)}, token)
            assert response.json() == NOT_FOUND_BODY


async def test_a_registered_document_runs_by_document_id_prefixed_or_bare(gateway, token):
    # given a document registered by its hash
    query = fresh_query()
    async with gateway() as app, http(app) as client:
        assert me(await post(client, {"query": query, "extensions": apq(query)}, token)) == ADMIN
        # when it is requested by `documentId`, "sha256:<hex>" or the bare hex (any case)
        for document_id in (f"sha256:{sha256(query)}", sha256(query), sha256(query).upper()):
            response = await post(client, {"documentId": document_id}, token)
            # then it runs
            assert me(response) == ADMIN, document_id


async def test_an_unknown_document_id_is_persisted_query_not_found(gateway, token):
    async with gateway() as app, http(app) as client:
        response = await post(client, {"documentId": f"sha256:{sha256(fresh_query())}"}, token)
        assert (response.status_code, response.json()) == (200, NOT_FOUND_BODY)


@pytest.mark.parametrize("prefix", ["md5", "sha1", "sha512"])
async def test_a_document_id_with_another_prefix_is_a_bad_request(gateway, token, prefix):
    # given a registered document
    query = fresh_query()
    async with gateway() as app, http(app) as client:
        assert me(await post(client, {"query": query, "extensions": apq(query)}, token)) == ADMIN
        # when its id is sent with a prefix other than "sha256:"
        response = await post(client, {"documentId": f"{prefix}:{sha256(query)}"}, token)
        # then it is a bad request, whatever the hex names
        assert response.status_code == 400
        assert error_codes(response.json()) == ["BAD_REQUEST"]
        assert "data" not in response.json()


@pytest.mark.redis
async def test_two_processes_share_registered_documents_through_redis(gateway, token):
    # given two processes of one deployment (one Redis namespace)
    assert REDIS_URL is not None
    prefix = f"test-persisted-{uuid.uuid4().hex}"
    query = fresh_query()
    async with (
        gateway(redis_prefix=prefix) as one,
        gateway(redis_prefix=prefix) as two,
        http(one) as a,
        http(two) as b,
    ):
        # when a document is registered on one
        assert me(await post(a, {"query": query, "extensions": apq(query)}, token)) == ADMIN
        # then its hash alone runs on the other
        assert me(await post(b, {"extensions": apq(query)}, token)) == ADMIN
        # while a process of another deployment doesn't know it
        async with gateway() as other, http(other) as c:
            assert (await post(c, {"extensions": apq(query)}, token)).json() == NOT_FOUND_BODY


# ---- trusted documents


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A manifest of the console's queries (../shared/queries), keyed by their sha256."""
    return manifest_of(tmp_path / "persisted-documents.json", *console_queries())


def my_apps_page() -> str:
    (text,) = [q for q in console_queries() if "query MyAppsPage" in q]
    return text


def app_log_page() -> str:
    (text,) = [q for q in console_queries() if "query AppLogPage" in q]
    return text


async def test_trusted_documents_run_by_document_id(gateway, token, manifest):
    # given a gateway that runs only the console's manifest
    async with gateway(trusted_documents=(str(manifest),)) as app, http(app) as client:
        # when the My Apps page is requested by "sha256:<hex>"
        response = await post(client, {"documentId": f"sha256:{sha256(my_apps_page())}"}, token)
        # then it runs
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["viewer"]["portal"]["connectedApps"]["totalCount"] == 1
        # and the log page by the bare hex, with variables
        response = await post(
            client, {"documentId": sha256(app_log_page()), "variables": {"first": 5}}, token
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        assert "appLog" in response.json()["data"]["viewer"]["portal"]
        # and by its APQ hash alone
        response = await post(client, {"extensions": apq(my_apps_page())}, token)
        assert response.status_code == 200 and "errors" not in response.json(), response.text


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_trusted_mode_refuses_any_other_document(gateway, token, manifest, accept):
    async with gateway(trusted_documents=(str(manifest),)) as app, http(app) as client:
        # when a client sends a document of its own, as POST or GET
        for response in (
            await post(client, {"query": fresh_query()}, token, accept),
            await client.get(
                "/graphql",
                params={"query": fresh_query()},
                headers={"Authorization": f"Bearer {token}", "Accept": accept},
            ),
            # even one of the manifest's, sent as text
            await post(client, {"query": my_apps_page()}, token, accept),
        ):
            # then it is refused with 400 PERSISTED_QUERY_REQUIRED, nothing run
            assert response.status_code == 400, response.text
            assert media_type(response) == accept
            assert set(response.json()) == {"errors"}
            assert error_codes(response.json()) == ["PERSISTED_QUERY_REQUIRED"]


async def test_trusted_mode_registers_no_automatic_persisted_query(gateway, token, manifest):
    query = fresh_query()
    async with gateway(trusted_documents=(str(manifest),)) as app, http(app) as client:
        # when a client sends a document of its own with its hash (APQ registration)
        response = await post(client, {"query": query, "extensions": apq(query)}, token)
        # then it is refused as a document of its own
        assert response.status_code == 400
        assert error_codes(response.json()) == ["PERSISTED_QUERY_REQUIRED"]
        # and its hash stays unknown
        for body in ({"extensions": apq(query)}, {"documentId": f"sha256:{sha256(query)}"}):
            response = await post(client, body, token)
            assert (response.status_code, response.json()) == (200, NOT_FOUND_BODY)


async def test_trusted_mode_answers_unknown_ids_persisted_query_not_found(gateway, token, manifest):
    async with gateway(trusted_documents=(str(manifest),)) as app, http(app) as client:
        response = await post(client, {"documentId": f"sha256:{sha256(fresh_query())}"}, token)
        assert (response.status_code, response.json()) == (200, NOT_FOUND_BODY)
        # and another prefix is still a bad request
        response = await post(client, {"documentId": f"md5:{sha256(my_apps_page())}"}, token)
        assert response.status_code == 400
        assert error_codes(response.json()) == ["BAD_REQUEST"]


async def test_the_union_of_several_manifests_is_trusted(gateway, token, tmp_path):
    # given two client releases' manifests, one query each
    old = manifest_of(tmp_path / "old.json", my_apps_page())
    new = manifest_of(tmp_path / "new.json", app_log_page())
    async with gateway(trusted_documents=(str(old), str(new))) as app, http(app) as client:
        # then the documents of both run
        for text in (my_apps_page(), app_log_page()):
            response = await post(client, {"documentId": f"sha256:{sha256(text)}"}, token)
            assert response.status_code == 200 and "errors" not in response.json(), response.text


@pytest.mark.one_executor
@pytest.mark.parametrize(
    ("build", "words"),
    [
        # a key that is not its document's sha256
        (lambda text: {sha256(text + " "): text}, "sha256"),
        # a document that fails validation
        (lambda text: {sha256(q): q for q in ["query Nope { viewer { nope } }"]}, "nope"),
        # a document over a document limit (16 aliases, the limit is 15)
        (
            lambda text: {
                sha256(q): q
                for q in ["{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"]
            },
            "alias",
        ),
    ],
    ids=["key-mismatch", "invalid", "over-a-limit"],
)
def test_a_bad_manifest_stops_the_start_naming_its_key(settings, tmp_path, build, words):
    # given a manifest with the console's documents and one bad entry
    documents = build(my_apps_page())
    [key] = documents
    path = tmp_path / "bad.json"
    good = {sha256(q): q for q in console_queries()}
    path.write_text(json.dumps({**good, **documents}), encoding="utf-8")
    # when an app is built with it
    with pytest.raises(SettingsError) as refused:
        create_app(settings.with_(trusted_documents=(str(path),)))
    # then the start fails, naming the file and the key
    message = str(refused.value)
    assert key in message and str(path) in message, message
    assert words.lower() in message.lower(), message


# ---- over WebSocket


async def test_a_subscription_runs_by_apq_hash_or_document_id_over_a_socket(gateway, settings):
    # given a portal with an app, served by a fresh gateway (in-process broker)
    tenant = await f.make_tenant(settings, apps=["Alpha"])
    subscription = f"# {uuid.uuid4().hex}\n{STATUS}"
    hashed = apq(subscription)
    async with (
        gateway(redis_url=None) as app,
        uvicorn_serving(app) as base,
        WSClient.connect(base, tenant.token(ADMIN)) as ws,
    ):
        # when the hash alone is sent first: an `error` message for that operation
        missing = await ws.refused("", extensions=hashed)
        assert [e["extensions"]["code"] for e in missing] == ["PERSISTED_QUERY_NOT_FOUND"]
        assert [e["message"] for e in missing] == ["PersistedQueryNotFound"]
        # and the hash with the document registers it (and subscribes): once it has
        # subscribed, since each operation of a socket is checked on its own, side by side
        registered = await ws.subscribe(subscription, extensions=hashed)
        await until_subscribed(app.state.hub, tenant.gid, 1)
        # then the hash alone, with `query` "", subscribes
        by_hash = await ws.subscribe("", extensions=hashed)
        # and so does its `documentId`, without any `query`
        by_id = uuid.uuid4().hex[:8]
        await ws.send(
            {
                "id": by_id,
                "type": "subscribe",
                "payload": {"documentId": f"sha256:{sha256(subscription)}"},
            }
        )
        await until_subscribed(app.state.hub, tenant.gid, 3)
        response = await post_event(
            base, EVENTS_SECRET, "app.disconnected", tenant.gid, tenant.app_gid("Alpha")
        )
        assert response.status_code == 202, response.text
        for op in (registered, by_hash, by_id):
            payload = await ws.next(op)
            assert payload == {
                "data": {"appStatusChanged": {"status": "DISCONNECTED", "app": {"name": "Alpha"}}}
            }
        # and an unknown id is an `error` for that operation only: the socket goes on
        unknown = await ws.refused("", documentId=sha256(fresh_query()))
        assert [e["extensions"]["code"] for e in unknown] == ["PERSISTED_QUERY_NOT_FOUND"]
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}


async def test_trusted_documents_over_a_socket(gateway, settings, tmp_path):
    # given a gateway trusting the console's queries and one subscription
    tenant = await f.make_tenant(settings, apps=["Alpha"])
    manifest = manifest_of(tmp_path / "manifest.json", *console_queries(), STATUS)
    async with (
        gateway(redis_url=None, trusted_documents=(str(manifest),)) as app,
        uvicorn_serving(app) as base,
        WSClient.connect(base, tenant.token(ADMIN)) as ws,
    ):
        # when the My Apps page is requested by its id over the socket: it runs
        result = await ws.execute("", documentId=f"sha256:{sha256(my_apps_page())}")
        assert "errors" not in result, result
        assert result["data"]["viewer"]["portal"]["connectedApps"]["totalCount"] == 1
        # and the trusted subscription by its APQ hash alone
        op = await ws.subscribe("", extensions=apq(STATUS))
        await until_subscribed(app.state.hub, tenant.gid, 1)
        # while a document of the client's own is refused for that operation
        refused = await ws.refused(fresh_query())
        assert [e["extensions"]["code"] for e in refused] == ["PERSISTED_QUERY_REQUIRED"]
        # and an unknown id is not found
        refused = await ws.refused("", documentId=sha256(fresh_query()))
        assert [e["extensions"]["code"] for e in refused] == ["PERSISTED_QUERY_NOT_FOUND"]
        # and the subscription is still served
        response = await post_event(
            base, EVENTS_SECRET, "app.disconnected", tenant.gid, tenant.app_gid("Alpha")
        )
        assert response.status_code == 202, response.text
        assert (await ws.next(op))["data"]["appStatusChanged"]["status"] == "DISCONNECTED"
