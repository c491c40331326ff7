"""Subscriptions multiplexed in groups (gateway/hub.py): subscribers who share the document,
operation, variables, portal and viewer facts are served by one execution per event; everyone
else is kept apart. Real uvicorn, real WebSocket clients."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.app import create_app
from gateway.models import Notification, User
from gateway.models.enums import NotificationType
from gateway.services import faults
from gateway.services.envelopes import Envelope
from tests import factories as f
from tests.conftest import EVENTS_SECRET
from tests.helpers import gid
from tests.live_support import Served, WSClient, post_event, until_subscribed, uvicorn_serving

STATUS = """subscription($apps: [ID!]) { appStatusChanged(appIds: $apps) {
  status app { name viewerCanManage } } }"""
NAMES = "subscription { appStatusChanged { app { name } } }"
RECEIVED = "subscription { notificationReceived { id entryCount } }"

ADMIN, MANAGER, MEMBER, OTHER = "Ann Admin", "Mia Manager", "Max Member", "Moe Member"


@pytest.fixture
async def served(app, settings):
    """The app on the in-process broker, served by uvicorn, with its hub."""
    own = create_app(settings.with_(redis_url=None))
    async with uvicorn_serving(own) as base:
        yield Served(base, own.state.hub)


async def tenant(settings, *apps: str) -> f.Tenant:
    people: dict[str, f.Role] = {
        ADMIN: "admin",
        MANAGER: "manager",
        MEMBER: "member",
        OTHER: "member",
    }
    return await f.make_tenant(settings, people=people, apps=apps)


async def event(base: str, t: f.Tenant, type_: str, app: str) -> None:
    response = await post_event(base, EVENTS_SECRET, type_, t.gid, t.app_gid(app))
    assert response.status_code == 202, response.text


def groups_of(hub, t: f.Tenant) -> list[int]:
    """The sizes of the portal's groups in the hub, largest first."""
    return sorted(
        (len(g.members) for g in hub._groups_by_portal.get(t.portal.id, ())), reverse=True
    )


async def test_viewers_who_agree_on_the_facts_share_one_execution(served, settings):
    t = await tenant(settings, "Alpha")
    hub = served.hub
    async with (
        WSClient.connect(served.base, t.token(ADMIN)) as admin,
        WSClient.connect(served.base, t.token(MANAGER)) as manager,
        WSClient.connect(served.base, t.token(MEMBER)) as member,
        WSClient.connect(served.base, t.token(OTHER)) as other,
    ):
        ops = [await ws.subscribe(STATUS) for ws in (admin, manager, member, other)]
        await until_subscribed(hub, t.gid, 4)
        # the admin and the manager may manage apps, the two members may not: two groups
        assert groups_of(hub, t) == [2, 2]
        executed = hub.executions
        await event(served.base, t, "app.disconnected", "Alpha")
        payloads = [
            (await ws.next(op))["data"]["appStatusChanged"]
            for ws, op in zip((admin, manager, member, other), ops, strict=True)
        ]
    # one execution per group, and each viewer sees what their permissions say
    assert hub.executions - executed == 2
    assert [p["app"]["viewerCanManage"] for p in payloads] == [True, True, False, False]
    assert {p["status"] for p in payloads} == {"DISCONNECTED"}


async def test_a_document_that_reads_no_viewer_fact_is_one_group(served, settings):
    t = await tenant(settings, "Alpha")
    async with (
        WSClient.connect(served.base, t.token(ADMIN)) as admin,
        WSClient.connect(served.base, t.token(MEMBER)) as member,
    ):
        a, m = await admin.subscribe(NAMES), await member.subscribe(NAMES)
        await until_subscribed(served.hub, t.gid, 2)
        assert groups_of(served.hub, t) == [2]
        await event(served.base, t, "app.disconnected", "Alpha")
        expected = {"data": {"appStatusChanged": {"app": {"name": "Alpha"}}}}
        assert await admin.next(a) == expected and await member.next(m) == expected


async def test_different_variables_form_different_groups(served, settings):
    t = await tenant(settings, "Alpha", "Beta")
    async with WSClient.connect(served.base, t.token(ADMIN)) as ws:
        every = await ws.subscribe(STATUS)
        await ws.subscribe(STATUS, {"apps": [t.app_gid("Alpha")]})
        beta = await ws.subscribe(STATUS, {"apps": [t.app_gid("Beta")]})
        # the same variables again, with a variable the operation ignores, in another order
        again = await ws.subscribe(STATUS, {"unused": 10**30, "apps": [t.app_gid("Beta")]})
        reordered = await ws.subscribe(STATUS, {"apps": [t.app_gid("Beta")], "unused": 10**30})
        await until_subscribed(served.hub, t.gid, 5)
        assert groups_of(served.hub, t) == [2, 1, 1, 1]
        await event(served.base, t, "app.disconnected", "Beta")
        for op in (every, beta, again, reordered):
            assert (await ws.next(op))["data"]["appStatusChanged"]["app"]["name"] == "Beta"
        await ws.nothing()  # and nothing for the subscription to Alpha


async def test_another_portal_s_subscribers_are_never_in_its_groups(served, settings):
    acme, globex = await tenant(settings, "Alpha"), await tenant(settings, "Alpha")
    async with (
        WSClient.connect(served.base, acme.token(ADMIN)) as a,
        WSClient.connect(served.base, globex.token(ADMIN)) as g,
    ):
        await a.subscribe(NAMES)
        globex_op = await g.subscribe(NAMES)
        await until_subscribed(served.hub, acme.gid, 1)
        await until_subscribed(served.hub, globex.gid, 1)
        # the same document, variables and facts: still one group per portal
        assert groups_of(served.hub, acme) == [1] and groups_of(served.hub, globex) == [1]
        await event(served.base, acme, "app.disconnected", "Alpha")
        await g.nothing()
        await event(served.base, globex, "app.disconnected", "Alpha")
        assert (await g.next(globex_op))["data"]["appStatusChanged"]["app"]["name"] == "Alpha"


async def test_each_user_receives_only_their_own_notifications(served, settings):
    t = await tenant(settings, "Alpha")
    mine = [await _notification(t.people[name], count) for name, count in ((ADMIN, 3), (MEMBER, 5))]
    async with (
        WSClient.connect(served.base, t.token(ADMIN)) as admin,
        WSClient.connect(served.base, t.token(MEMBER)) as member,
    ):
        a, m = await admin.subscribe(RECEIVED), await member.subscribe(RECEIVED)
        await until_subscribed(served.hub, t.gid, 2)
        assert groups_of(served.hub, t) == [1, 1]  # the document reads the viewer's id
        await served.hub.broker.publish(
            Envelope(t.portal.id, notifications=tuple(n.id for n in mine))
        )
        assert (await admin.next(a))["data"]["notificationReceived"] == {
            "id": gid("Notification", mine[0].id),
            "entryCount": 3,
        }
        assert (await member.next(m))["data"]["notificationReceived"] == {
            "id": gid("Notification", mine[1].id),
            "entryCount": 5,
        }
        await admin.nothing()
        await member.nothing()


async def _notification(user: User, entries: int) -> Notification:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    return await Notification.create(
        portal_id=user.portal_id,
        recipient=user,
        type=NotificationType.APP_INSTALL,
        period_start=at,
        period_end=at,
        entry_count=entries,
        created_at=at,
    )


async def test_a_group_disappears_with_its_last_member(served, settings):
    t = await tenant(settings, "Alpha")
    async with WSClient.connect(served.base, t.token(ADMIN)) as ws:
        first, second = await ws.subscribe(NAMES), await ws.subscribe(NAMES)
        await until_subscribed(served.hub, t.gid, 2)
        await ws.send({"id": first, "type": "complete"})
        await until_subscribed(served.hub, t.gid, 1)
        assert groups_of(served.hub, t) == [1]
        await ws.send({"id": second, "type": "complete"})
        await until_subscribed(served.hub, t.gid, 0)
        assert groups_of(served.hub, t) == [] and not served.hub._groups
        await event(served.base, t, "app.disconnected", "Alpha")
        await ws.nothing()


async def test_a_member_that_leaves_during_an_event_gets_nothing_more(served, settings):
    t = await tenant(settings, "Alpha")
    reached, release = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        reached.set()
        await release.wait()

    async with (
        WSClient.connect(served.base, t.token(ADMIN)) as leaving,
        WSClient.connect(served.base, t.token(MEMBER)) as staying,
    ):
        gone, kept = await leaving.subscribe(NAMES), await staying.subscribe(NAMES)
        await until_subscribed(served.hub, t.gid, 2)
        with faults.hooked("live:execute", held):
            await event(served.base, t, "app.disconnected", "Alpha")
            await asyncio.wait_for(reached.wait(), 5)  # the group's event is being executed
            await leaving.send({"id": gone, "type": "complete"})
            await until_subscribed(served.hub, t.gid, 1)
            release.set()
        assert (await staying.next(kept))["data"]["appStatusChanged"]["app"]["name"] == "Alpha"
        await leaving.nothing()


async def test_quick_status_flips_arrive_in_order(served, settings):
    t = await tenant(settings, "Alpha")
    async with WSClient.connect(served.base, t.token(ADMIN)) as ws:
        op = await ws.subscribe(STATUS)
        await until_subscribed(served.hub, t.gid, 1)
        kinds = ["app.disconnected", "app.reconnected"] * 3
        for kind in kinds:  # each committed as soon as the one before
            await event(served.base, t, kind, "Alpha")
        statuses = [(await ws.next(op))["data"]["appStatusChanged"]["status"] for _ in kinds]
    assert statuses == ["DISCONNECTED", "CONNECTED"] * 3


async def test_a_permission_change_moves_a_subscriber_to_its_new_group(served, settings):
    t = await tenant(settings, "Alpha")
    async with WSClient.connect(served.base, t.token(MANAGER)) as ws:
        op = await ws.subscribe(STATUS)
        await until_subscribed(served.hub, t.gid, 1)
        await User.filter(id=t.people[MANAGER].id).update(uninstall_apps=False)
        await served.hub.check_access()  # what the hub does every ws_access_check_interval
        await event(served.base, t, "app.disconnected", "Alpha")
        assert (await ws.next(op))["data"]["appStatusChanged"]["app"]["viewerCanManage"] is False


async def test_a_reader_too_far_behind_in_bytes_is_closed_with_1013(app, settings):
    t = await tenant(settings, "Alpha")
    small = create_app(settings.with_(redis_url=None, ws_outbox_bytes=200))
    release = asyncio.Event()

    async def stuck() -> None:
        await release.wait()

    async with uvicorn_serving(small) as base:
        hub = small.state.hub
        async with WSClient.connect(base, t.token(ADMIN)) as slow:
            await slow.subscribe(STATUS)
            await until_subscribed(hub, t.gid, 1)
            with faults.hooked("live:before-push", stuck):
                # its writes wait: the first frame is held, and two more (some 80 characters
                # each) pass 200 characters in its outbox, far below 100 frames
                for kind in ("app.disconnected", "app.reconnected", "app.disconnected"):
                    await event(base, t, kind, "Alpha")
                assert await slow.closed_with() == 1013
                release.set()
        # a new socket is unaffected, and gets live updates
        async with WSClient.connect(base, t.token(MEMBER)) as other:
            op = await other.subscribe(STATUS)
            await until_subscribed(hub, t.gid, 1)
            await event(base, t, "app.reconnected", "Alpha")
            assert (await other.next(op))["data"]["appStatusChanged"]["status"] == "CONNECTED"
