"""One socket over time, through real uvicorn and a real graphql-transport-ws client: queries and
mutations over it read current data and the user's current access, its errors are coded like
over HTTP, a user who loses access is disconnected, and no token reaches the logs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.app import create_app
from gateway.models import ConnectedApp, User
from gateway.settings import Settings, SettingsError
from tests import factories as f
from tests.conftest import EVENTS_SECRET
from tests.helpers import count_statements, gql
from tests.live_support import (
    CLIENT_LOG,
    Served,
    WSClient,
    post_event,
    until_subscribed,
    uvicorn_serving,
)

APP_STATUS = "query($id: ID!) { node(id: $id) { ... on ConnectedApp { status } } }"
VIEWER_NAME = "{ viewer { user { name } } }"
UNINSTALL = "mutation($id: ID!) { uninstallApp(input: {appId: $id}) { userErrors { code } } }"
LOG = "subscription { appLogAppended { activity app { name } } }"
TWO_OPERATIONS = """query First { viewer { user { name } } }
query Second { viewer { portal { name } } }"""
UNPARSABLE = "subscription { appStatusChanged { status "
TOO_MANY_ALIASES = "{ " + " ".join(f"a{i}: viewer {{ user {{ name }} }}" for i in range(16)) + " }"


async def a_portal(settings: Settings) -> f.Tenant:
    """A portal with one installed app; each test adds the people it needs with `person`."""
    return await f.make_tenant(settings, apps=[f.unique("App")])


async def person(portal: f.Tenant, role: f.Role = "member") -> tuple[User, str]:
    user = await portal.add_person(f.unique("Person"), role)
    return user, portal.token(user.name)


@pytest.fixture
async def live(app) -> AsyncIterator[str]:
    async with uvicorn_serving(app) as base:
        yield base


@pytest.fixture
def serve(app, settings):
    """Serve an app built with other settings, on the in-process broker (sharing the session's
    open database)."""

    @contextlib.asynccontextmanager
    async def serving(**changes: Any) -> AsyncIterator[Served]:
        other = create_app(settings.with_(redis_url=None, **changes))
        async with uvicorn_serving(other) as base:
            yield Served(base, other.state.hub)

    return serving


async def closed_without_answer(ws: WSClient) -> int:
    """The socket is closed before any further message arrives; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        message = await ws.receive()
        raise AssertionError(f"answered before closing: {message}")
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def revoke(user: User, how: str) -> None:
    """The user loses access to their portal: deleted, or moved to another portal."""
    if how == "deleted":
        await User.filter(id=user.id).delete()
    else:
        other = await f.make_portal()
        await User.filter(id=user.id).update(portal_id=other.id)


# --- operations over a socket read what HTTP reads -------------------------------------------


async def test_sockets_are_served_at_the_graphql_path_only(live, settings):
    t = await f.make_tenant(settings)
    # /graphql/ as /graphql, as over HTTP
    async with WSClient.connect(live, t.token("Ada Admin"), path="/graphql/") as ws:
        assert (await ws.execute("{ viewer { user { name } } }"))["data"] == {
            "viewer": {"user": {"name": "Ada Admin"}}
        }
    # anywhere else the handshake is refused, as Starlette's router refuses it
    with pytest.raises(InvalidStatus) as refused:
        async with WSClient.connect(live, t.token("Ada Admin"), path="/events"):
            pass
    assert refused.value.response.status_code == 403


async def test_a_query_over_a_socket_reads_current_data(live, settings):
    # Given a socket that has already read the app as connected
    p = await a_portal(settings)
    _, token = await person(p)
    async with WSClient.connect(live, token) as ws, httpx.AsyncClient(base_url=live) as http:
        assert await ws.execute(APP_STATUS, {"id": p.app_gid()}) == {
            "data": {"node": {"status": "CONNECTED"}}
        }
        # When the platform reports the app disconnected
        response = await post_event(live, EVENTS_SECRET, "app.disconnected", p.gid, p.app_gid())
        assert response.status_code == 202, response.text
        # Then the same query on the same socket says so, as HTTP does
        over_http = await gql(http, APP_STATUS, {"id": p.app_gid()}, token=token)
        assert over_http == {"data": {"node": {"status": "DISCONNECTED"}}}
        assert await ws.execute(APP_STATUS, {"id": p.app_gid()}) == over_http


async def test_each_operation_over_a_socket_reads_its_user_afresh(live, settings):
    # Given a manager's socket
    p = await a_portal(settings)
    manager, token = await person(p, "manager")
    async with WSClient.connect(live, token) as ws:
        assert await ws.execute(VIEWER_NAME) == {
            "data": {"viewer": {"user": {"name": manager.name}}}
        }
        # When the user is renamed and loses the permission to uninstall apps
        await User.filter(id=manager.id).update(name="Renamed", uninstall_apps=False)
        # Then the next operations see the user as they are now
        assert await ws.execute(VIEWER_NAME) == {"data": {"viewer": {"user": {"name": "Renamed"}}}}
        assert await ws.execute(UNINSTALL, {"id": p.app_gid()}) == {
            "data": {"uninstallApp": {"userErrors": [{"code": "FORBIDDEN"}]}}
        }
        # and the refused mutation changed nothing
        assert await ws.execute(APP_STATUS, {"id": p.app_gid()}) == {
            "data": {"node": {"status": "CONNECTED"}}
        }
    assert await ConnectedApp.filter(portal_id=p.portal.id).count() == 1


@pytest.mark.parametrize("how", ["deleted", "moved"])
async def test_an_operation_of_a_user_who_lost_access_closes_the_socket_with_4403(
    live, settings, how
):
    # Given a socket whose user has read something
    p = await a_portal(settings)
    user, token = await person(p)
    async with WSClient.connect(live, token) as ws:
        assert await ws.execute(VIEWER_NAME) == {"data": {"viewer": {"user": {"name": user.name}}}}
        # When the user is deleted, or no longer in the token's portal
        await revoke(user, how)
        # Then their next operation gets no answer: the socket is closed with 4403
        await ws.subscribe(VIEWER_NAME)
        assert await closed_without_answer(ws) == 4403


async def test_document_limits_apply_over_a_socket(live, settings):
    p = await a_portal(settings)
    _, token = await person(p)
    async with WSClient.connect(live, token) as ws, httpx.AsyncClient(base_url=live) as http:
        errors = await ws.refused(TOO_MANY_ALIASES)
        assert errors == [
            {
                "message": "The operation uses 16 aliases; the limit is 15.",
                "locations": [{"line": 1, "column": 1}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
        assert errors == (await gql(http, TOO_MANY_ALIASES, token=token))["errors"]


# --- errors over a socket: an `error` message, coded like over HTTP, nothing logged ----------


async def test_several_operations_need_an_operation_name(live, settings):
    p = await a_portal(settings)
    user, token = await person(p)
    async with WSClient.connect(live, token) as ws:
        assert await ws.refused(TWO_OPERATIONS) == [
            {
                "message": "Must provide operation name if query contains multiple operations.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
        assert await ws.refused(TWO_OPERATIONS, operationName="Third") == [
            {"message": 'Unknown operation named "Third".', "extensions": {"code": "BAD_REQUEST"}}
        ]
        # the socket stays open, and naming the operation runs that one
        assert await ws.execute(TWO_OPERATIONS, operationName="First") == {
            "data": {"viewer": {"user": {"name": user.name}}}
        }


async def test_an_unparsable_document_gets_an_error_and_logs_nothing(live, settings, caplog):
    caplog.set_level(logging.INFO)
    p = await a_portal(settings)
    user, token = await person(p)
    async with WSClient.connect(live, token) as ws, httpx.AsyncClient(base_url=live) as http:
        errors = await ws.refused(UNPARSABLE)
        assert errors == [
            {
                "message": "Syntax Error: Expected Name, found <EOF>.",
                "locations": [{"line": 1, "column": 42}],
                "extensions": {"code": "GRAPHQL_PARSE_FAILED"},
            }
        ]
        assert errors == (await gql(http, UNPARSABLE, token=token))["errors"]
        # the socket stays open
        assert await ws.execute(VIEWER_NAME) == {"data": {"viewer": {"user": {"name": user.name}}}}
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"query": 5}, "`query` must be a non-empty string"),
        ({"query": ""}, "`query` must be a non-empty string"),
        ({"query": VIEWER_NAME, "variables": [1]}, "`variables` must be an object"),
        ({"query": VIEWER_NAME, "operationName": 7}, "`operationName` must be a string"),
    ],
)
async def test_malformed_operations_get_a_bad_request_error(
    live, settings, caplog, payload, message
):
    caplog.set_level(logging.INFO)
    p = await a_portal(settings)
    _, token = await person(p)
    async with WSClient.connect(live, token) as ws:
        await ws.send({"id": "bad", "type": "subscribe", "payload": payload})
        assert await ws.message("bad") == {
            "id": "bad",
            "type": "error",
            "payload": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}],
        }
        await ws.execute(VIEWER_NAME)  # still open
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []


# --- losing access closes the socket ---------------------------------------------------------


async def test_a_socket_whose_user_loses_access_is_closed_with_4403(serve, settings):
    p = await a_portal(settings)
    (gone, gone_token), (moved, moved_token), (_, stays_token) = [await person(p) for _ in "123"]
    async with (
        serve(ws_access_check_interval=0.2) as served,
        WSClient.connect(served.base, gone_token) as gone_ws,
        WSClient.connect(served.base, moved_token) as moved_ws,
        WSClient.connect(served.base, stays_token) as stays_ws,
    ):
        # Given three subscribed sockets of one portal
        await gone_ws.subscribe(LOG)
        await moved_ws.subscribe(LOG)
        stays = await stays_ws.subscribe(LOG)
        await until_subscribed(served.hub, p.gid, 3)
        # When one user is deleted and another moved to another portal
        await revoke(gone, "deleted")
        await revoke(moved, "moved")
        # Then their sockets are closed with 4403, without doing anything on them
        assert await gone_ws.closed_with() == 4403
        assert await moved_ws.closed_with() == 4403
        # and the third keeps its subscription and its portal's events
        await until_subscribed(served.hub, p.gid, 1)
        response = await post_event(
            served.base, EVENTS_SECRET, "app.disconnected", p.gid, p.app_gid()
        )
        assert response.status_code == 202, response.text
        assert (await stays_ws.next(stays))["data"]["appLogAppended"]["activity"] == "DISCONNECTED"


async def test_the_access_check_reads_every_open_sockets_user_in_one_statement(serve, settings):
    first, second = await a_portal(settings), await a_portal(settings)
    tokens = [(await person(first))[1], (await person(first))[1], (await person(second))[1]]
    async with (
        serve(ws_access_check_interval=3600) as served,
        WSClient.connect(served.base, tokens[0]),
        WSClient.connect(served.base, tokens[1]),
        WSClient.connect(served.base, tokens[2]),
    ):
        with count_statements() as statements:
            await served.hub.check_access()
        assert len(statements) == 1, statements


def test_the_access_check_interval_is_read_from_the_environment():
    assert Settings().ws_access_check_interval == 30.0
    env = {"GATEWAY_WS_ACCESS_CHECK_INTERVAL": "2.5"}
    assert Settings.from_env(env).ws_access_check_interval == 2.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(SettingsError, match="GATEWAY_WS_ACCESS_CHECK_INTERVAL"):
            Settings.from_env({"GATEWAY_WS_ACCESS_CHECK_INTERVAL": bad})


def test_how_far_a_reader_may_fall_behind_is_read_from_the_environment():
    assert (Settings().ws_queue_size, Settings().ws_outbox_bytes) == (100, 1024 * 1024)
    env = {"GATEWAY_WS_QUEUE_SIZE": "7", "GATEWAY_WS_OUTBOX_BYTES": "65536"}
    read = Settings.from_env(env)
    assert (read.ws_queue_size, read.ws_outbox_bytes) == (7, 65536)
    for name in ("GATEWAY_WS_QUEUE_SIZE", "GATEWAY_WS_OUTBOX_BYTES"):
        for bad in ("0", "-5", "lots"):
            with pytest.raises(SettingsError, match=name):
                Settings.from_env({name: bad})


# --- logs ------------------------------------------------------------------------------------


def pieces(secret: str, size: int = 20) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


async def test_no_log_record_carries_a_token_under_debug(serve, settings, caplog):
    # Given a debug server with everything logged at DEBUG
    caplog.set_level(logging.DEBUG)
    p = await a_portal(settings)
    user, token = await person(p)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with serve(debug=True) as served:
        # When a client sends its token in connection_init, and also in the handshake's
        # headers and URL, runs an operation, and another tries a forged token
        async with WSClient.connect(
            served.base,
            token,
            headers={"Authorization": f"Bearer {token}", "Cookie": f"token={token}"},
            path=f"/graphql?access_token={token}",
        ) as ws:
            assert await ws.execute(VIEWER_NAME) == {
                "data": {"viewer": {"user": {"name": user.name}}}
            }
        async with WSClient.connect(served.base, init=False) as ws:
            await ws.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {forged}"}}
            )
            assert await ws.closed_with() == 4403
    # Then the server logged its frames, but no record holds any 20 characters of either token
    server = [r for r in caplog.records if r.name != CLIENT_LOG.name]
    assert any(r.getMessage().startswith("< TEXT") for r in server)
    formatter = logging.Formatter("%(name)s %(message)s")
    secrets = pieces(token) | pieces(forged)
    leaks = [
        text
        for text in (formatter.format(r) for r in server)
        if any(piece in text for piece in secrets)
    ]
    assert leaks == []
