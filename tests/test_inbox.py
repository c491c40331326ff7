"""markNotificationsRead through HTTP: by ids and all, the inbox's unread counts before and
after, idempotence, and ids that are not the viewer's changing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gateway.models import Notification
from gateway.models.enums import NotificationType
from tests import factories as f
from tests.helpers import data, gid

MARK = """mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) {
  notifications { id readAt } userErrors { field message code } } }"""
INBOX = """query($unreadOnly: Boolean) { viewer { notifications(first: 100, unreadOnly: $unreadOnly) {
  totalCount nodes { id readAt } } } }"""

READ_BEFORE = datetime(2026, 6, 20, 8, 30, tzinfo=UTC)


async def digest(portal, recipient, day: int, *, read_at=None, in_app=True) -> Notification:
    start = f.T0 + timedelta(days=day)
    return await Notification.create(
        portal=portal,
        recipient=recipient,
        type=NotificationType.APP_INSTALL,
        period_start=start,
        period_end=start + timedelta(days=1),
        entry_count=2,
        in_app=in_app,
        read_at=read_at,
        created_at=start + timedelta(days=1),
    )


@dataclass
class Inbox:
    """Mia's inbox (oldest first: three unread, one read, plus an email-only digest) and a
    colleague's unread digest."""

    portal: object
    token: str
    colleague_token: str
    mine: list  # in-app, oldest first
    read: Notification
    email_only: Notification
    colleagues: Notification


@pytest.fixture
async def inbox(app, settings) -> Inbox:
    t = await f.make_tenant(settings, people={"Mia Member": "member", "Cole League": "admin"})
    portal, mia, colleague = t.portal, t.people["Mia Member"], t.people["Cole League"]
    mine = [await digest(portal, mia, day) for day in (1, 2, 3)]
    read = await digest(portal, mia, 4, read_at=READ_BEFORE)
    email_only = await digest(portal, mia, 5, in_app=False)
    colleagues = await digest(portal, colleague, 2)
    return Inbox(
        portal,
        t.token("Mia Member"),
        t.token("Cole League"),
        mine,
        read,
        email_only,
        colleagues,
    )


async def mark(client, input_, token):
    return (await data(client, MARK, {"input": input_}, token=token))["markNotificationsRead"]


async def unread(client, token):
    page = (await data(client, INBOX, {"unreadOnly": True}, token=token))["viewer"]["notifications"]
    return page["totalCount"], [n["id"] for n in page["nodes"]]


def nid(n: Notification) -> str:
    return gid("Notification", n.id)


def codes(payload):
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def state(portal_id):
    return await Notification.filter(portal_id=portal_id).order_by("id").values("id", "read_at")


async def test_marking_by_ids_returns_them_in_order_and_keeps_earlier_reads(client, inbox):
    one, two, three = inbox.mine
    assert await unread(client, inbox.token) == (3, [nid(three), nid(two), nid(one)])
    before = datetime.now(UTC)
    payload = await mark(client, {"ids": [nid(three), nid(inbox.read), nid(one)]}, inbox.token)
    after = datetime.now(UTC)
    assert payload["userErrors"] == []
    got = payload["notifications"]
    assert [n["id"] for n in got] == [nid(three), nid(inbox.read), nid(one)]
    marked_at = datetime.fromisoformat(got[0]["readAt"])
    assert before <= marked_at <= after
    assert got[2]["readAt"] == got[0]["readAt"]
    assert datetime.fromisoformat(got[1]["readAt"]) == READ_BEFORE  # read before: unchanged
    assert await unread(client, inbox.token) == (1, [nid(two)])
    # the colleague's inbox is untouched
    assert await unread(client, inbox.colleague_token) == (1, [nid(inbox.colleagues)])
    # marking again changes nothing and answers the same
    again = await mark(client, {"ids": [nid(three), nid(inbox.read), nid(one)]}, inbox.token)
    assert again == payload


async def test_marking_all_returns_what_it_marked_newest_first(client, inbox):
    one, two, three = inbox.mine
    payload = await mark(client, {"all": True}, inbox.token)
    assert payload["userErrors"] == []
    assert [n["id"] for n in payload["notifications"]] == [nid(three), nid(two), nid(one)]
    assert len({n["readAt"] for n in payload["notifications"]}) == 1
    assert await unread(client, inbox.token) == (0, [])
    # the whole inbox is read; what was read before kept its time; the email-only digest is
    # not in the inbox and stays as it was
    everything = (await data(client, INBOX, token=inbox.token))["viewer"]["notifications"]
    assert everything["totalCount"] == 4
    assert datetime.fromisoformat(everything["nodes"][0]["readAt"]) == READ_BEFORE
    assert (await Notification.get(id=inbox.email_only.id)).read_at is None
    assert (await Notification.get(id=inbox.colleagues.id)).read_at is None
    # nothing left to mark
    assert await mark(client, {"all": True}, inbox.token) == {"notifications": [], "userErrors": []}


async def test_all_answers_with_the_newest_hundred_and_marks_every_one(client, settings):
    t = await f.make_tenant(settings, people={"Rea Reader": "member"})
    portal, reader = t.portal, t.people["Rea Reader"]
    start = f.T0
    await Notification.bulk_create(
        [
            Notification(
                portal=portal,
                recipient=reader,
                type=NotificationType.APP_DISCONNECT,
                period_start=start,
                period_end=start,
                entry_count=1,
                created_at=start + timedelta(hours=i),
            )
            for i in range(105)
        ]
    )
    newest = (
        await Notification.filter(recipient=reader)
        .order_by("-created_at", "-id")
        .limit(100)
        .values_list("id", flat=True)
    )
    payload = await mark(client, {"all": True}, t.token("Rea Reader"))
    assert [n["id"] for n in payload["notifications"]] == [gid("Notification", pk) for pk in newest]
    assert await Notification.filter(recipient=reader, read_at=None).count() == 0


async def test_an_email_only_digest_of_ones_own_may_be_marked_by_id(client, inbox):
    payload = await mark(
        client, {"ids": [nid(inbox.email_only), nid(inbox.email_only)]}, inbox.token
    )
    assert payload["userErrors"] == []
    assert [n["id"] for n in payload["notifications"]] == [nid(inbox.email_only)] * 2
    assert (await Notification.get(id=inbox.email_only.id)).read_at is not None
    assert await unread(client, inbox.token) == (3, [nid(n) for n in reversed(inbox.mine)])


async def test_ids_that_are_not_the_viewers_are_not_found_and_nothing_changes(client, inbox, demo):
    before = await state(inbox.portal.id)
    acme = await Notification.filter(portal_id=demo.acme_portal_id).order_by("id").first()
    acme_read_at = acme.read_at
    answers = []
    for other in (nid(inbox.colleagues), gid("Notification", acme.id), gid("Notification", 10**9)):
        answers.append(await mark(client, {"ids": [nid(inbox.mine[0]), other]}, inbox.token))
    assert all(a == answers[0] for a in answers)
    assert answers[0] == {
        "notifications": [],
        "userErrors": [
            {"field": ["input", "ids", "1"], "message": "No such notification", "code": "NOT_FOUND"}
        ],
    }
    assert await state(inbox.portal.id) == before
    assert (await Notification.get(id=acme.id)).read_at == acme_read_at
    assert await unread(client, inbox.token) == (3, [nid(n) for n in reversed(inbox.mine)])


async def test_undecodable_ids_and_every_problem_at_once(client, inbox):
    before = await state(inbox.portal.id)
    payload = await mark(
        client,
        {"ids": ["nope", nid(inbox.mine[0]), gid("NotificationRule", 1), nid(inbox.colleagues)]},
        inbox.token,
    )
    assert codes(payload) == [
        ("INVALID", ["input", "ids", "0"]),
        ("INVALID", ["input", "ids", "2"]),
        ("NOT_FOUND", ["input", "ids", "3"]),
    ]
    assert payload["notifications"] == []
    assert await state(inbox.portal.id) == before


@pytest.mark.parametrize(
    "input_, field",
    [
        ({"ids": [], "all": True}, ["input", "all"]),
        ({}, ["input", "ids"]),
        ({"all": False}, ["input", "ids"]),
        ({"ids": None, "all": None}, ["input", "ids"]),
    ],
)
async def test_ids_or_all_exactly_one(client, inbox, input_, field):
    before = await state(inbox.portal.id)
    payload = await mark(client, input_, inbox.token)
    assert payload["notifications"] == [] and codes(payload) == [("INVALID", field)]
    assert await state(inbox.portal.id) == before


async def test_both_ids_and_all_report_the_ids_problems_too(client, inbox):
    payload = await mark(client, {"ids": [nid(inbox.colleagues)], "all": True}, inbox.token)
    assert codes(payload) == [("INVALID", ["input", "all"]), ("NOT_FOUND", ["input", "ids", "0"])]


async def test_an_empty_list_marks_nothing_and_ids_are_bounded(client, inbox):
    assert await mark(client, {"ids": []}, inbox.token) == {"notifications": [], "userErrors": []}
    too_many = await mark(client, {"ids": [nid(inbox.mine[0])] * 101}, inbox.token)
    assert codes(too_many) == [("INVALID", ["input", "ids"])]
    assert await unread(client, inbox.token) == (3, [nid(n) for n in reversed(inbox.mine)])
