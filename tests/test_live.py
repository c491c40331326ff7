"""Live updates through real uvicorn and real WebSocket clients (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from datetime import timedelta

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from gateway.app import create_app
from gateway.auth import mint_token
from gateway.services import faults
from tests import factories as f
from tests.conftest import EVENTS_SECRET, JWT_SECRET, PG_URL, REDIS_URL
from tests.helpers import gid, gql, until
from tests.live_support import (
    Served,
    WSClient,
    free_port,
    post_event,
    until_subscribed,
    uvicorn_serving,
)

STATUS = """subscription($apps: [ID!]) { appStatusChanged(appIds: $apps) {
  app { id name status alerts { code } } previousStatus status alert { code resolvedAt } } }"""
LOG = """subscription($filter: AppLogFilter) { appLogAppended(filter: $filter) {
  activity app { name } user { name } } }"""


ADMIN, MEMBER = "Ann Admin", "Max Member"


async def tenant(settings, *names: str) -> f.Tenant:
    """A portal with an admin, a member, and PORTAL apps of these names."""
    return await f.make_tenant(settings, people={ADMIN: "admin", MEMBER: "member"}, apps=names)


@pytest.fixture
async def live(app):
    async with uvicorn_serving(app) as base:
        yield base


@pytest.fixture
async def limited(app, settings):
    """An app with small limits, on the in-process broker, sharing the session database."""
    limited_settings = settings.with_(
        redis_url=None,
        ws_init_timeout=0.5,
        ws_max_sockets_per_user=2,
        ws_queue_size=2,
        allowed_origins=("https://console.example",),
    )
    limited_app = create_app(limited_settings)
    async with uvicorn_serving(limited_app) as base:
        yield Served(base, limited_app.state.hub)


async def event(base, t: f.Tenant, type_: str, app: str, **extra):
    response = await post_event(base, EVENTS_SECRET, type_, t.gid, t.app_gid(app), **extra)
    assert response.status_code == 202, response.text


async def test_status_changes_reach_their_portal_only(live, app, settings):
    acme, other = await tenant(settings, "Alpha", "Beta"), await tenant(settings, "Gamma")
    async with (
        WSClient.connect(live, acme.token(MEMBER)) as a,
        WSClient.connect(live, other.token(ADMIN)) as b,
    ):
        status_a, log_a = await a.subscribe(STATUS), await a.subscribe(LOG)
        await b.subscribe(STATUS, {"apps": [acme.app_gid("Alpha")]})  # names a foreign app
        await until_subscribed(app.state.hub, acme.gid, 2)
        await until_subscribed(app.state.hub, other.gid, 1)
        await event(live, acme, "app.disconnected", "Alpha")
        assert await a.next(status_a) == {
            "data": {
                "appStatusChanged": {
                    "app": {
                        "id": acme.app_gid("Alpha"),
                        "name": "Alpha",
                        "status": "DISCONNECTED",
                        "alerts": [],
                    },
                    "previousStatus": "CONNECTED",
                    "status": "DISCONNECTED",
                    "alert": None,
                }
            }
        }
        assert await a.next(log_a) == {
            "data": {
                "appLogAppended": {
                    "activity": "DISCONNECTED",
                    "app": {"name": "Alpha"},
                    "user": None,
                }
            }
        }
        await b.nothing()


async def test_filters(live, app, settings):
    t = await tenant(settings, "One", "Two")
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        only_two = await ws.subscribe(STATUS, {"apps": [t.app_gid("Two")]})
        reconnects = await ws.subscribe(LOG, {"filter": {"activities": ["RECONNECTED"]}})
        await until_subscribed(app.state.hub, t.gid, 2)
        await event(live, t, "app.disconnected", "One")
        await event(live, t, "app.disconnected", "Two")
        await event(live, t, "app.reconnected", "One")
        first = await ws.next(only_two)
        assert first["data"]["appStatusChanged"]["app"]["name"] == "Two"
        entry = await ws.next(reconnects)
        assert entry["data"]["appLogAppended"] == {
            "activity": "RECONNECTED",
            "app": {"name": "One"},
            "user": None,
        }
        await ws.nothing()


async def test_each_event_reads_fresh_data(live, app, settings):
    t = await tenant(settings, "Fresh")
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        op = await ws.subscribe(STATUS)
        await until_subscribed(app.state.hub, t.gid, 1)
        alert = {"severity": "ERROR", "code": "sync_failed", "message": "Sync failed"}
        await event(live, t, "app.error", "Fresh", alert=alert)
        failing = (await ws.next(op))["data"]["appStatusChanged"]
        assert failing["app"]["status"] == "ERROR" and failing["app"]["alerts"] == [
            {"code": "sync_failed"}
        ]
        assert failing["alert"] == {"code": "sync_failed", "resolvedAt": None}
        await event(live, t, "app.recovered", "Fresh", alert={"code": "sync_failed"})
        recovered = (await ws.next(op))["data"]["appStatusChanged"]
        # a cache kept from the first event would still say ERROR here
        assert recovered["app"]["status"] == "CONNECTED" and recovered["app"]["alerts"] == []
        assert (recovered["previousStatus"], recovered["status"]) == ("ERROR", "CONNECTED")
        assert (
            recovered["alert"]["code"] == "sync_failed"
            and recovered["alert"]["resolvedAt"] is not None
        )


async def test_refused_changes_publish_nothing(live, app, settings):
    t = await tenant(settings, "Keep")
    uninstall = "mutation($id: ID!) { uninstallApp(input: {appId: $id}) { userErrors { code } } }"
    async with (
        WSClient.connect(live, t.token(ADMIN)) as ws,
        httpx.AsyncClient(base_url=live) as http,
    ):
        op = await ws.subscribe(LOG)
        await until_subscribed(app.state.hub, t.gid, 1)
        refused = await gql(http, uninstall, {"id": t.app_gid("Keep")}, token=t.token(MEMBER))
        assert refused["data"]["uninstallApp"]["userErrors"] == [{"code": "FORBIDDEN"}]
        await ws.nothing()
        done = await gql(http, uninstall, {"id": t.app_gid("Keep")}, token=t.token(ADMIN))
        assert done["data"]["uninstallApp"]["userErrors"] == []
        assert (await ws.next(op))["data"]["appLogAppended"]["activity"] == "UNINSTALLED"


# --- authentication and limits -------------------------------------------------------------


@pytest.mark.parametrize("token", ["not-a-jwt", None])
async def test_a_bad_token_is_refused_with_4403(live, token):
    async with WSClient.connect(live, init=False) as ws:
        await ws.send(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {token}"} if token else {},
            }
        )
        assert await ws.closed_with() == 4403


async def test_an_expired_token_closes_the_socket_with_4403(live, settings):
    portal = await f.make_portal()
    user = await f.make_user(portal)
    short = mint_token(user, settings, ttl=timedelta(seconds=2))
    async with WSClient.connect(live, short) as ws:
        await ws.subscribe(STATUS)
        assert await ws.closed_with(timeout=10) == 4403


async def test_no_connection_init_closes_with_4408(limited):
    async with WSClient.connect(limited.base, init=False) as ws:
        assert await ws.closed_with() == 4408


async def test_protocol_errors(live, settings):
    t = await tenant(settings)
    async with WSClient.connect(live, init=False) as ws:  # subscribe before init
        await ws.send({"id": "1", "type": "subscribe", "payload": {"query": STATUS}})
        assert await ws.closed_with() == 4401
    async with WSClient.connect(live, t.token(ADMIN)) as ws:  # a second init
        await ws.send({"type": "connection_init", "payload": {}})
        assert await ws.closed_with() == 4429
    async with WSClient.connect(live, t.token(ADMIN)) as ws:  # an id in use
        await ws.send({"id": "same", "type": "subscribe", "payload": {"query": STATUS}})
        await ws.send({"id": "same", "type": "subscribe", "payload": {"query": STATUS}})
        assert await ws.closed_with() == 4409


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type": "ping"}',  # binary, not text
        "not json",
        "[" * 20_000 + "]" * 20_000,  # deeper than the JSON parser goes
        '["a list"]',
        '{"no": "type"}',
        '{"type": "launch"}',
        '{"type": "subscribe", "payload": {"query": "{ __typename }"}}',  # no id
        '{"type": "subscribe", "id": "1"}',  # no payload
        '{"type": "complete"}',  # no id
    ],
)
async def test_malformed_messages_close_with_4400(live, settings, frame):
    t = await tenant(settings)
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        await ws.ws.send(frame)
        assert await ws.closed_with() == 4400


async def test_pings_are_answered_and_unknown_ids_completed_quietly(live, settings):
    t = await tenant(settings)
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}
        await ws.send({"type": "pong"})
        await ws.send({"id": "never-started", "type": "complete"})
        await ws.nothing()
        assert (await ws.execute("{ viewer { user { name } } }"))["data"] == {
            "viewer": {"user": {"name": ADMIN}}
        }


async def test_the_legacy_protocol_is_not_spoken(live):
    async with websockets.connect(
        live.replace("http", "ws") + "/graphql", subprotocols=["graphql-ws"]
    ) as ws:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4406


async def test_the_101st_subscription_gets_an_error(live, settings):
    t = await tenant(settings)
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        for _ in range(100):
            await ws.subscribe(STATUS)
        extra = await ws.subscribe(STATUS)
        message = await ws.receive()
        assert message["id"] == extra and message["type"] == "error"
        assert "limit" in message["payload"][0]["message"].lower()


async def test_too_many_sockets_for_one_user_closes_with_1008(limited, settings):
    t = await tenant(settings)
    async with (
        WSClient.connect(limited.base, t.token(ADMIN)),
        WSClient.connect(limited.base, t.token(ADMIN)),
    ):
        async with WSClient.connect(limited.base, init=False) as third:
            await third.send(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {t.token(ADMIN)}"},
                }
            )
            assert await third.closed_with() == 1008
    # closed sockets no longer count: this one is acknowledged (connect checks the ack)
    async with WSClient.connect(limited.base, t.token(ADMIN)) as again:
        await again.subscribe(STATUS)
        await again.nothing()


async def test_a_frame_over_64_kib_closes_with_1009(live, settings):
    t = await tenant(settings)
    async with WSClient.connect(live, t.token(ADMIN)) as ws:
        await ws.send(
            {
                "id": "big",
                "type": "subscribe",
                "payload": {"query": "#" + "x" * 70_000 + "\n" + STATUS},
            }
        )
        assert await ws.closed_with() == 1009


async def test_origins_outside_the_allowed_list_are_refused(limited, settings):
    t = await tenant(settings)
    with pytest.raises(InvalidStatus) as refused:
        async with WSClient.connect(limited.base, t.token(ADMIN), origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # a listed origin is acknowledged (connect checks the ack) and may subscribe
    async with WSClient.connect(
        limited.base, t.token(ADMIN), origin="https://console.example"
    ) as ws:
        await ws.subscribe(STATUS)
        await ws.nothing()


async def test_a_subscriber_too_far_behind_is_closed_with_1013(limited, settings):
    t = await tenant(settings, "Busy")
    release = asyncio.Event()

    async def stuck() -> None:
        await release.wait()

    async with (
        WSClient.connect(limited.base, t.token(ADMIN)) as slow,
        WSClient.connect(limited.base, t.token(MEMBER)) as other,
    ):
        await slow.subscribe(LOG)
        await until_subscribed(limited.hub, t.gid, 1)
        with faults.hooked("live:before-push", stuck):
            # the first event is held at the push; two more fill its queue; a fourth overflows
            for kind in (
                "app.disconnected",
                "app.reconnected",
                "app.disconnected",
                "app.reconnected",
            ):
                await event(limited.base, t, kind, "Busy")
            assert await slow.closed_with() == 1013
            release.set()
        # the other socket subscribed to nothing, is unaffected, and still gets live updates
        op = await other.subscribe(LOG)
        await until_subscribed(limited.hub, t.gid, 1)
        await event(limited.base, t, "app.disconnected", "Busy")
        assert (await other.next(op))["data"]["appLogAppended"]["activity"] == "DISCONNECTED"


# --- Redis ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_server(port: int):
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True)
        return ping.stdout.strip() == b"PONG"

    try:
        await until(answers, what=f"redis-server on port {port} answering", every=0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def wait_for_broker(base: str, state: str) -> None:
    async with httpx.AsyncClient() as client:

        async def reported() -> bool:
            return bool((await client.get(f"{base}/readyz")).json()["broker"] == state)

        await until(reported, what=f"the broker {state}", every=0.05)


async def until_live(base: str, listeners: list[tuple[WSClient, str, f.Tenant]]) -> None:
    """Wait until each (socket, operation, portal) listener receives events posted to `base`.

    The listeners' subscriptions live in another process, whose hub cannot be counted from
    here, so probe them: each round disconnects a fresh app in every listener's portal, through
    `base`, and reads each operation up to that round's probe. Redis keeps one channel's order,
    so once an operation has seen the latest probe no earlier one is still on its way; a round
    in which every operation saw its probe leaves nothing behind for the test to read."""
    portals = {t.gid: t for _, _, t in listeners}

    async def a_round() -> bool:
        latest = {}
        for key, t in portals.items():
            listing = await f.make_listing(f.unique("Probe"))
            app = await f.install(t.portal, listing, None)
            latest[key] = listing.name
            response = await post_event(
                base, EVENTS_SECRET, "app.disconnected", key, gid("ConnectedApp", app.id)
            )
            assert response.status_code == 202, response.text
        # every operation is read up to its probe, even after one has missed it
        return all([await saw(ws, op, latest[t.gid]) for ws, op, t in listeners])

    await until(a_round, 15, "the subscriptions receiving a probe", every=0)


async def saw(ws: WSClient, op: str, probe: str) -> bool:
    """Whether operation `op` receives the app named `probe` (skipping earlier probes)."""
    with contextlib.suppress(TimeoutError):
        while True:
            (payload,) = (await ws.next(op, timeout=1))["data"].values()
            if payload["app"]["name"] == probe:
                return True
    return False


@pytest.mark.postgres
@pytest.mark.redis
async def test_redis_outage_closes_subscriptions_and_spares_everything_else(app, settings):
    t = await tenant(settings, "Steady")
    port = free_port()
    outage_app = create_app(settings.with_(redis_url=f"redis://127.0.0.1:{port}/0"))
    broker = outage_app.state.publisher
    async with redis_server(port) as redis_proc, uvicorn_serving(outage_app) as base:
        await broker.start()
        try:
            await wait_for_broker(base, "ok")
            async with WSClient.connect(base, t.token(ADMIN)) as ws:
                await ws.subscribe(STATUS)
                # When Redis goes away
                redis_proc.terminate()
                redis_proc.wait(timeout=10)
                # Then open subscriptions are closed with 1013
                assert await ws.closed_with() == 1013
            await wait_for_broker(base, "down")
            async with httpx.AsyncClient(base_url=base) as http:
                # readiness stays 200 and reports the broker down
                ready = await http.get("/readyz")
                assert ready.status_code == 200 and ready.json() == {
                    "status": "ok",
                    "database": "ok",
                    "broker": "down",
                    "redisPrefix": broker.prefix,
                }
                # queries, mutations and ingestion keep working
                body = await gql(
                    http, "{ viewer { portal { appSummary { total } } } }", token=t.token(ADMIN)
                )
                assert body == {"data": {"viewer": {"portal": {"appSummary": {"total": 1}}}}}
                await event(base, t, "app.disconnected", "Steady")
                status = await gql(
                    http,
                    "query($id: ID!) { node(id: $id) { ... on ConnectedApp { status } } }",
                    {"id": t.app_gid("Steady")},
                    token=t.token(ADMIN),
                )
                assert status["data"]["node"]["status"] == "DISCONNECTED"
            # new subscriptions are refused the same way
            async with WSClient.connect(base, t.token(ADMIN)) as ws:
                await ws.subscribe(STATUS)
                assert await ws.closed_with() == 1013
            # When Redis is back, the broker reconnects by itself and live updates flow again
            async with redis_server(port):
                await wait_for_broker(base, "ok")
                async with WSClient.connect(base, t.token(ADMIN)) as ws:
                    op = await ws.subscribe(STATUS)
                    await until_subscribed(outage_app.state.hub, t.gid, 1)
                    await event(base, t, "app.reconnected", "Steady")
                    assert (await ws.next(op))["data"]["appStatusChanged"]["status"] == "CONNECTED"
        finally:
            await broker.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_an_event_on_one_process_reaches_subscribers_on_another(app, settings):
    from tests.test_serve import clean_env, serving

    acme, other = await tenant(settings, "Shared"), await tenant(settings)
    env = clean_env(
        GATEWAY_DATABASE_URL=PG_URL,
        GATEWAY_REDIS_URL=REDIS_URL,
        GATEWAY_JWT_SECRET=JWT_SECRET,
        GATEWAY_EVENTS_SECRET=EVENTS_SECRET,
    )
    async with serving(env) as (process_a, _), serving(env) as (process_b, _):
        await wait_for_broker(process_b, "ok")
        async with (
            WSClient.connect(process_b, acme.token(MEMBER)) as mine,
            WSClient.connect(process_b, other.token(ADMIN)) as theirs,
        ):
            status, log = await mine.subscribe(STATUS), await mine.subscribe(LOG)
            theirs_log = await theirs.subscribe(LOG)
            await until_live(
                process_a, [(mine, status, acme), (mine, log, acme), (theirs, theirs_log, other)]
            )
            await event(process_a, acme, "app.disconnected", "Shared")
            change = (await mine.next(status))["data"]["appStatusChanged"]
            assert (change["app"]["name"], change["previousStatus"], change["status"]) == (
                "Shared",
                "CONNECTED",
                "DISCONNECTED",
            )
            assert (await mine.next(log))["data"]["appLogAppended"]["activity"] == "DISCONNECTED"
            await theirs.nothing()
