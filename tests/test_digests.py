"""Digests made by worker passes with an injected clock: periods in the portal's timezone, the
rule's cut, recipients, entries, channels, the inbox and live pushes, and races forced with
fault points (DESIGN §1 "Digests", §3 "Digest worker")."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from starlette.applications import Starlette

from gateway.models import (
    AppLogEntry,
    ConnectedApp,
    Delivery,
    Notification,
    NotificationEntry,
    NotificationRule,
    Portal,
    RuleApp,
    RuleTeam,
    RuleUser,
    Team,
    User,
)
from gateway.models.enums import (
    AppActivity,
    DeliveryStatus,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
)
from gateway.services import faults
from gateway.services.envelopes import Publisher
from gateway.settings import Settings
from gateway.worker import PassResult, run_forever, run_pass
from tests import factories as f
from tests.helpers import data, gid, token_for, until
from tests.live_support import WSClient, until_subscribed, uvicorn_serving

INSTALL, DISCONNECT, UNINSTALL = (
    NotificationType.APP_INSTALL,
    NotificationType.APP_DISCONNECT,
    NotificationType.APP_UNINSTALL,
)
HOURLY, DAILY, WEEKLY, MONTHLY = (
    NotificationFrequency.HOURLY,
    NotificationFrequency.DAILY,
    NotificationFrequency.WEEKLY,
    NotificationFrequency.MONTHLY,
)
SUPER_ADMINS, EVERYONE, SPECIFIC = (
    NotificationAudience.SUPER_ADMINS,
    NotificationAudience.EVERYONE,
    NotificationAudience.SPECIFIC,
)
INSTALLED, REINSTALLED, UNINSTALLED, DISCONNECTED, RECONNECTED = (
    AppActivity.INSTALLED,
    AppActivity.REINSTALLED,
    AppActivity.UNINSTALLED,
    AppActivity.DISCONNECTED,
    AppActivity.RECONNECTED,
)
NY = "America/New_York"
# After the worker's settle delay (60 s by default) past a boundary.
LATER = timedelta(minutes=5)
# Apps are installed long before any rule in these tests: their INSTALLED entries are history.
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)

_names = itertools.count(1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class World:
    """A portal of its own: two super admins, two members, three apps; passes run for it only
    (the session database also holds other tests' and the demo's rules)."""

    portal: Portal
    admin: User
    admin2: User
    member: User
    member2: User
    apps: dict[str, ConnectedApp]
    settings: Settings
    publisher: Publisher

    async def run(
        self,
        at: datetime,
        owner: str = "test-worker",
        *,
        settle: timedelta | None = None,
        send_mail: bool = True,
    ) -> PassResult:
        return await run_pass(
            at,
            self.settings,
            self.publisher,
            owner,
            portal_ids=[self.portal.id],
            settle=settle,
            send_mail=send_mail,
        )

    async def rule(
        self,
        cut: datetime,
        *,
        type: NotificationType = INSTALL,
        frequency: NotificationFrequency = DAILY,
        audience: NotificationAudience = SUPER_ADMINS,
        email: bool = False,
        in_app: bool = True,
        apps: list[str] | None = None,
        users: Sequence[User] = (),
        teams: Sequence[Team] = (),
    ) -> NotificationRule:
        """A rule as the rules service makes it: its cut is its creation time."""
        name = f"Rule {next(_names)}"
        rule = await NotificationRule.create(
            portal=self.portal,
            name=name,
            sort_name=name.lower(),
            type=type,
            frequency=frequency,
            all_apps=apps is None,
            audience=audience,
            email=email,
            in_app=in_app,
            created_by=self.admin,
            created_at=cut,
            updated_at=cut,
            cut_at=cut,
        )
        for app in apps or []:
            await RuleApp.create(rule=rule, app=self.apps[app])
        for user in users:
            await RuleUser.create(rule=rule, user=user)
        for team in teams:
            await RuleTeam.create(rule=rule, team=team)
        return rule

    async def team(self, *members: User) -> Team:
        return await f.make_team(self.portal, f"Team {next(_names)}", members)

    async def entry(
        self, app: str, activity: AppActivity, recorded: datetime, occurred: datetime | None = None
    ) -> AppLogEntry:
        return await AppLogEntry.create(
            portal=self.portal,
            app=self.apps[app],
            user=self.admin,
            activity=activity,
            occurred_at=occurred or recorded,
            recorded_at=recorded,
        )


@dataclass
class Worlds:
    app: Starlette
    settings: Settings
    mail_dir: Path
    made: list[World] = field(default_factory=list)

    async def __call__(self, timezone: str = "UTC") -> World:
        t = await f.make_tenant(
            timezone=timezone,
            people={
                "Ada Admin": "admin",
                "Abe Admin": "admin",
                "Mia Member": "member",
                "Moe Member": "member",
            },
            apps=["Ledger", "Mailer", "Dialer"],
            installed_at=LONG_AGO,
        )
        settings = self.settings.with_(smtp_url=None, mail_dir=str(self.mail_dir))
        p = t.people
        world = World(
            t.portal,
            p["Ada Admin"],
            p["Abe Admin"],
            p["Mia Member"],
            p["Moe Member"],
            t.apps,
            settings,
            self.app.state.publisher,
        )
        self.made.append(world)
        return world


@pytest.fixture
async def worlds(app, settings, tmp_path) -> AsyncIterator[Worlds]:
    made = Worlds(app, settings, tmp_path / "mail")
    yield made
    # Leave no outbox and no due rules behind for other tests' workers.
    await Portal.filter(id__in=[w.portal.id for w in made.made]).delete()


@pytest.fixture
async def world(worlds) -> World:
    return await worlds()


async def digests(rule: NotificationRule) -> list[tuple[int, datetime, datetime, int]]:
    """(recipient, period start, period end, entry count) of the rule's notifications."""
    rows = (
        await Notification.filter(rule_id=rule.id)
        .order_by("period_start", "recipient_id")
        .values_list("recipient_id", "period_start", "period_end", "entry_count")
    )
    return [tuple(r) for r in rows]


async def periods(rule: NotificationRule) -> list[tuple[datetime, datetime, int]]:
    """The distinct digests (period start, end, entry count) of a rule."""
    return sorted({(s, e, n) for _r, s, e, n in await digests(rule)})


async def linked(notification_id: int) -> list[int]:
    """Entry ids a notification links, newest first."""
    # Tortoise types every values_list as rows of tuples; flat=True gives the ids themselves.
    return cast(
        list[int],
        await AppLogEntry.filter(notification_entries__notification_id=notification_id)
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True),
    )


async def cut_of(rule: NotificationRule) -> datetime:
    return (await NotificationRule.get(id=rule.id)).cut_at


# --- periods in the portal's timezone -------------------------------------------------------


async def test_daily_digest_covers_the_local_day_once_on_each_channel(worlds):
    # Given a New York portal's daily install rule created on 15 June at 10:00 UTC (06:00 EDT)
    w = await worlds(NY)
    rule = await w.rule(utc(2026, 6, 15, 10), email=True, in_app=True)
    a = await w.entry("Ledger", INSTALLED, utc(2026, 6, 15, 12))
    b = await w.entry("Mailer", REINSTALLED, utc(2026, 6, 16, 3, 30))  # 23:30 EDT, still 15 June
    await w.entry("Ledger", UNINSTALLED, utc(2026, 6, 15, 13))  # another type
    c = await w.entry("Dialer", INSTALLED, utc(2026, 6, 16, 4, 30))  # 00:30 EDT, 16 June
    # When a worker runs before the local day is over: nothing
    assert await w.run(utc(2026, 6, 16, 3, 59)) == PassResult()
    # When it runs after local midnight
    result = await w.run(utc(2026, 6, 16, 4) + LATER)
    # Then each super admin gets one digest of the day's two matching entries, newest first
    assert (result.digests, result.notifications, result.empty) == (1, 2, 0)
    day = (utc(2026, 6, 15, 10), utc(2026, 6, 16, 4), 2)
    assert await digests(rule) == [(w.admin.id, *day), (w.admin2.id, *day)]
    notifications = await Notification.filter(rule_id=rule.id).order_by("recipient_id")
    for n in notifications:
        assert (n.type, n.in_app, n.read_at, n.cut_at, n.created_at) == (
            INSTALL,
            True,
            None,
            utc(2026, 6, 15, 10),
            utc(2026, 6, 16, 4, 5),
        )
        assert await linked(n.id) == [b.id, a.id]
    # in the inbox at once, and an email queued then sent (the file outbox here)
    deliveries = (
        await Delivery.filter(notification__rule_id=rule.id)
        .order_by("recipient_id", "channel")
        .values_list("recipient_id", "channel", "status", "attempts")
    )
    assert sorted(deliveries) == sorted(
        [
            (u.id, ch, DeliveryStatus.SENT, 1)
            for u in (w.admin, w.admin2)
            for ch in (NotificationChannel.EMAIL, NotificationChannel.IN_APP)
        ]
    )
    assert result.emails_sent == 2
    assert len(list(Path(w.settings.mail_dir).glob("*.eml"))) == 2
    assert await cut_of(rule) == utc(2026, 6, 16, 4)
    # When the same pass runs again: nothing more
    assert await w.run(utc(2026, 6, 16, 4) + LATER) == PassResult()
    assert await w.run(utc(2026, 6, 16, 23)) == PassResult()
    # And the next day's digest holds the next day's entry only
    result = await w.run(utc(2026, 6, 17, 4) + LATER)
    assert (result.digests, result.notifications) == (1, 2)
    assert await periods(rule) == [day, (utc(2026, 6, 16, 4), utc(2026, 6, 17, 4), 1)]
    newest = await Notification.filter(rule_id=rule.id, cut_at=utc(2026, 6, 16, 4)).first()
    assert await linked(newest.id) == [c.id]


async def test_daily_digests_on_the_dst_change_days(worlds):
    w = await worlds(NY)
    spring = await w.rule(utc(2026, 3, 8, 5))  # midnight EST, 8 March (23 hours long)
    fall = await w.rule(utc(2026, 11, 1, 4), type=UNINSTALL)  # midnight EDT, 1 November (25 hours)
    await w.entry("Ledger", INSTALLED, utc(2026, 3, 9, 3, 30))  # 23:30 EDT on 8 March
    await w.entry("Ledger", UNINSTALLED, utc(2026, 11, 2, 4, 30))  # 23:30 EST on 1 November
    # 24 hours after midnight is not the end of either day
    assert (await w.run(utc(2026, 3, 9, 3, 50))).digests == 0
    assert (await w.run(utc(2026, 3, 9, 4) + LATER)).digests == 1
    assert await periods(spring) == [(utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 1)]
    assert (await w.run(utc(2026, 11, 2, 4) + LATER)).digests == 0
    assert (await w.run(utc(2026, 11, 2, 5) + LATER)).digests == 1
    assert await periods(fall) == [(utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 1)]


async def test_hourly_digests_around_the_dst_changes(worlds):
    w = await worlds(NY)
    spring = await w.rule(utc(2026, 3, 8, 6), frequency=HOURLY)  # 01:00 EST
    fall = await w.rule(utc(2026, 11, 1, 5), frequency=HOURLY, type=DISCONNECT)  # 01:00 EDT
    await w.entry("Ledger", INSTALLED, utc(2026, 3, 8, 6, 30))  # 01:30 EST
    await w.entry("Ledger", INSTALLED, utc(2026, 3, 8, 7, 10))  # 03:10 EDT: 02:00 never came
    await w.entry("Ledger", DISCONNECTED, utc(2026, 11, 1, 5, 20))  # 01:20 EDT
    await w.entry("Ledger", DISCONNECTED, utc(2026, 11, 1, 6, 20))  # 01:20 EST, the hour again
    for hour in (7, 8):
        await w.run(utc(2026, 3, 8, hour) + LATER)
    assert await periods(spring) == [
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), 1),
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), 1),
    ]
    for hour in (6, 7):
        await w.run(utc(2026, 11, 1, hour) + LATER)
    # the repeated 01:00 hour makes two digests of one hour each
    assert await periods(fall) == [
        (utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), 1),
        (utc(2026, 11, 1, 6), utc(2026, 11, 1, 7), 1),
    ]


async def test_hourly_digest_in_a_half_hour_zone(worlds):
    w = await worlds("Asia/Kolkata")
    rule = await w.rule(utc(2026, 6, 15, 9, 40), frequency=HOURLY)  # 15:10 IST
    await w.entry("Ledger", INSTALLED, utc(2026, 6, 15, 10, 20))  # 15:50 IST
    assert (await w.run(utc(2026, 6, 15, 10, 25))).digests == 0
    assert (await w.run(utc(2026, 6, 15, 10, 30) + LATER)).digests == 1  # 16:00 IST has passed
    assert await periods(rule) == [(utc(2026, 6, 15, 9, 40), utc(2026, 6, 15, 10, 30), 1)]


async def test_weekly_digest_across_a_year_end(worlds):
    w = await worlds("Europe/Berlin")
    rule = await w.rule(utc(2026, 12, 27, 23), frequency=WEEKLY)  # Monday 28 Dec 00:00 CET
    await w.entry("Ledger", INSTALLED, utc(2026, 12, 31, 12))
    await w.entry("Mailer", INSTALLED, utc(2027, 1, 3, 22, 30))  # Sunday 3 Jan 23:30 CET
    await w.entry("Dialer", INSTALLED, utc(2027, 1, 3, 23, 30))  # Monday 4 Jan: next week
    assert (await w.run(utc(2027, 1, 3, 22, 50))).digests == 0
    assert (await w.run(utc(2027, 1, 3, 23) + LATER)).digests == 1
    assert await periods(rule) == [(utc(2026, 12, 27, 23), utc(2027, 1, 3, 23), 2)]


async def test_monthly_digests_at_month_ends_and_in_a_leap_february(worlds):
    w = await worlds("Asia/Tokyo")
    rule = await w.rule(utc(2025, 12, 31, 15), frequency=MONTHLY)  # 1 January 2026 JST
    await w.entry("Ledger", INSTALLED, utc(2026, 1, 31, 14))  # 31 January 23:00 JST
    await w.entry("Ledger", INSTALLED, utc(2026, 1, 31, 15, 30))  # 1 February 00:30 JST
    assert (await w.run(utc(2026, 1, 31, 14, 30))).digests == 0
    assert (await w.run(utc(2026, 1, 31, 15) + LATER)).digests == 1
    assert (await w.run(utc(2026, 2, 27, 15) + LATER)).digests == 0  # 28 days are not February
    assert (await w.run(utc(2026, 2, 28, 15) + LATER)).digests == 1
    assert await periods(rule) == [
        (utc(2025, 12, 31, 15), utc(2026, 1, 31, 15), 1),
        (utc(2026, 1, 31, 15), utc(2026, 2, 28, 15), 1),
    ]
    leap = await w.rule(utc(2028, 1, 31, 15), frequency=MONTHLY, type=UNINSTALL)
    await w.entry("Mailer", UNINSTALLED, utc(2028, 2, 29, 14))  # 29 February 23:00 JST
    assert (await w.run(utc(2028, 2, 28, 15) + LATER)).digests == 0
    assert (await w.run(utc(2028, 2, 29, 15) + LATER)).digests == 1
    assert await periods(leap) == [(utc(2028, 1, 31, 15), utc(2028, 2, 29, 15), 1)]


async def test_a_digest_waits_for_the_settle_delay_after_the_boundary(world):
    rule = await world.rule(utc(2026, 6, 15, 10), frequency=HOURLY)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 10, 59, 59))
    # an entry recorded just before 11:00 may still be committing at 11:00:30
    assert (await world.run(utc(2026, 6, 15, 11, 0, 30))).digests == 0
    assert (await world.run(utc(2026, 6, 15, 11, 1, 1))).digests == 1
    assert await periods(rule) == [(utc(2026, 6, 15, 10), utc(2026, 6, 15, 11), 1)]


# --- the cut ----------------------------------------------------------------------------------


async def test_first_digest_covers_only_entries_recorded_after_the_rule_was_made(world):
    early = await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 8))
    await world.entry("Mailer", INSTALLED, utc(2026, 6, 15, 10, 30))  # at the very moment
    rule = await world.rule(utc(2026, 6, 15, 10, 30))
    late = await world.entry("Dialer", INSTALLED, utc(2026, 6, 15, 11))
    await world.run(utc(2026, 6, 16) + LATER)
    n = await Notification.filter(rule_id=rule.id).first()
    assert (n.period_start, n.period_end, n.entry_count) == (
        utc(2026, 6, 15, 10, 30),
        utc(2026, 6, 16),
        1,
    )
    assert await linked(n.id) == [late.id]
    assert early.id not in await linked(n.id)


async def test_a_worker_that_was_down_sends_one_digest_for_the_whole_gap(world):
    rule = await world.rule(utc(2026, 6, 10), frequency=HOURLY)
    for hours in (1, 5, 26, 50, 71):
        await world.entry(
            "Ledger", INSTALLED, utc(2026, 6, 10) + timedelta(hours=hours, minutes=10)
        )
    # the worker comes back three days later, in the middle of an hour
    result = await world.run(utc(2026, 6, 13, 0, 30))
    assert (result.digests, result.notifications) == (1, 2)
    assert await periods(rule) == [(utc(2026, 6, 10), utc(2026, 6, 13), 5)]
    assert await cut_of(rule) == utc(2026, 6, 13)
    assert (await world.run(utc(2026, 6, 13, 0, 59))).digests == 0


async def test_an_edit_changes_only_later_digests(world):
    rule = await world.rule(utc(2026, 6, 15), type=INSTALL)
    installed = await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    await world.entry("Mailer", UNINSTALLED, utc(2026, 6, 15, 10))
    await world.run(utc(2026, 6, 16) + LATER)
    first = await Notification.filter(rule_id=rule.id).first()
    assert (first.type, await linked(first.id)) == (INSTALL, [installed.id])
    # When the admin turns it into an uninstall rule for the Mailer only (the cut stays)
    await NotificationRule.filter(id=rule.id).update(
        type=UNINSTALL, all_apps=False, updated_at=utc(2026, 6, 16, 9)
    )
    await RuleApp.create(rule=rule, app=world.apps["Mailer"])
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 16, 10))
    await world.entry("Ledger", UNINSTALLED, utc(2026, 6, 16, 11))
    mailer_gone = await world.entry("Mailer", UNINSTALLED, utc(2026, 6, 16, 12))
    await world.run(utc(2026, 6, 17) + LATER)
    # Then the next digest reports the Mailer's uninstall of that day, and never the one of
    # the day before (covered already)
    second = await Notification.filter(rule_id=rule.id, cut_at=utc(2026, 6, 16)).first()
    assert (second.type, second.entry_count, await linked(second.id)) == (
        UNINSTALL,
        1,
        [mailer_gone.id],
    )
    assert await Notification.filter(rule_id=rule.id).count() == 4  # two admins, two digests
    # and the first digest is as it was
    assert (await Notification.get(id=first.id)).type == INSTALL


async def test_a_deleted_rule_sends_nothing_more(world):
    rule = await world.rule(utc(2026, 6, 15))
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    await world.run(utc(2026, 6, 16) + LATER)
    past = await Notification.filter(rule_id=rule.id).values_list("id", flat=True)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 16, 9))
    await NotificationRule.filter(id=rule.id).delete()
    assert await world.run(utc(2026, 6, 17) + LATER) == PassResult()
    # its past digests stay, without a rule
    assert sorted(
        await Notification.filter(id__in=past, rule_id=None).values_list("id", flat=True)
    ) == sorted(past)
    assert await Notification.filter(portal_id=world.portal.id).count() == 2


async def test_a_rule_deleted_while_its_digest_is_being_made_sends_nothing(world):
    rule = await world.rule(utc(2026, 6, 15))
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))

    async def delete_it() -> None:
        await NotificationRule.filter(id=rule.id).delete()

    with faults.hooked("digest:after-claim", delete_it):
        result = await world.run(utc(2026, 6, 16) + LATER)
    assert (result.digests, result.skipped, result.errors) == (0, 1, 0)
    assert not await Notification.filter(portal_id=world.portal.id).exists()


async def test_back_dated_entries_land_in_the_period_they_were_recorded_in(world):
    rule = await world.rule(utc(2026, 6, 15))
    # reported today, but it happened a month ago
    old = await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 12), occurred=utc(2026, 5, 10))
    # happened today, but only reported tomorrow
    late = await world.entry(
        "Mailer", INSTALLED, utc(2026, 6, 16, 2), occurred=utc(2026, 6, 15, 20)
    )
    await world.run(utc(2026, 6, 16) + LATER)
    await world.run(utc(2026, 6, 17) + LATER)
    first, second = [
        await Notification.filter(rule_id=rule.id, recipient_id=world.admin.id, cut_at=c).first()
        for c in (utc(2026, 6, 15), utc(2026, 6, 16))
    ]
    assert await linked(first.id) == [old.id]
    assert await linked(second.id) == [late.id]


async def test_no_matching_entries_no_digest_but_the_cut_moves(world):
    rule = await world.rule(utc(2026, 6, 15), type=DISCONNECT, apps=["Ledger"])
    await world.entry("Ledger", RECONNECTED, utc(2026, 6, 15, 9))  # another activity
    await world.entry("Mailer", DISCONNECTED, utc(2026, 6, 15, 10))  # another app
    result = await world.run(utc(2026, 6, 16) + LATER)
    assert (result.digests, result.empty, result.notifications) == (0, 1, 0)
    assert not await Notification.filter(portal_id=world.portal.id).exists()
    assert await cut_of(rule) == utc(2026, 6, 16)
    # a rule with no entries at all moves on too
    quiet = await world.rule(utc(2026, 6, 16), frequency=WEEKLY)
    assert (await world.run(utc(2026, 6, 22) + LATER)).empty == 2
    assert await cut_of(quiet) == utc(2026, 6, 22)  # Monday


# --- recipients and entries -------------------------------------------------------------------


async def test_recipients_for_each_audience_each_person_once(world):
    outsider_portal = await f.make_portal()
    await f.make_user(outsider_portal, super_admin=True)
    try:
        a, a2, m1, m2 = world.admin, world.admin2, world.member, world.member2
        extra = await f.make_user(world.portal, "Xan Extra")
        team_one = await world.team(m1, m2)
        team_two = await world.team(m2, a)  # overlaps team one in m2
        cut = utc(2026, 6, 15)
        admins = await world.rule(cut, audience=SUPER_ADMINS)
        everyone = await world.rule(cut, audience=EVERYONE)
        specific = await world.rule(
            cut, audience=SPECIFIC, users=[m1, a2], teams=[team_one, team_two]
        )
        empty_team = await world.rule(cut, audience=SPECIFIC, teams=[await world.team()])
        await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
        result = await world.run(utc(2026, 6, 16) + LATER)

        async def recipients(rule):
            return sorted(r for r, *_ in await digests(rule))

        assert await recipients(admins) == sorted([a.id, a2.id])
        assert await recipients(everyone) == sorted([a.id, a2.id, m1.id, m2.id, extra.id])
        # m1 is named and in team one; m2 is in both teams; a is in team two; a2 is named
        assert await recipients(specific) == sorted([m1.id, a2.id, m2.id, a.id])
        assert await recipients(empty_team) == []
        assert (result.digests, result.notifications, result.empty) == (3, 2 + 5 + 4, 1)
    finally:
        await Portal.filter(id=outsider_portal.id).delete()


async def test_entry_count_and_the_newest_hundred(world):
    rule = await world.rule(utc(2026, 6, 15), audience=SPECIFIC, users=[world.member])
    start = utc(2026, 6, 15, 1)
    await AppLogEntry.bulk_create(
        [
            AppLogEntry(
                portal=world.portal,
                app=world.apps["Ledger"],
                activity=INSTALLED,
                # occurred in reverse order of recording: "newest" follows occurredAt
                occurred_at=start + timedelta(minutes=120 - i),
                recorded_at=start + timedelta(minutes=i),
            )
            for i in range(120)
        ]
    )
    await world.run(utc(2026, 6, 16) + LATER)
    n = await Notification.get(rule_id=rule.id)
    assert n.entry_count == 120
    newest = list(
        await AppLogEntry.filter(portal_id=world.portal.id, recorded_at__gte=start)
        .order_by("-occurred_at", "-id")
        .limit(100)
        .values_list("id", flat=True)
    )
    assert await linked(n.id) == newest
    assert await NotificationEntry.filter(notification_id=n.id).count() == 100


async def test_email_only_digest_is_queued_and_not_in_the_inbox(world, envelopes):
    rule = await world.rule(
        utc(2026, 6, 15), email=True, in_app=False, audience=SPECIFIC, users=[world.member]
    )
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    result = await world.run(utc(2026, 6, 16) + LATER, send_mail=False)
    n = await Notification.get(rule_id=rule.id)
    assert (result.digests, n.in_app) == (1, False)
    assert await Delivery.filter(notification_id=n.id).values_list(
        "channel", "status", "attempts", "next_attempt_at"
    ) == [(NotificationChannel.EMAIL, DeliveryStatus.PENDING, 0, utc(2026, 6, 16) + LATER)]
    # nothing is pushed live for an email-only digest
    assert [e for e in await envelopes.settled() if e.portal_id == world.portal.id] == []


INBOX = """{ viewer { notifications(first: 10) { totalCount nodes {
  id type periodStart periodEnd entryCount readAt rule { name } entries { activity app { name } } } } } }"""


async def test_in_app_digests_are_in_the_inbox_and_published(client, settings, world, envelopes):
    rule = await world.rule(utc(2026, 6, 15), audience=SPECIFIC, users=[world.member])
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    await world.entry("Mailer", REINSTALLED, utc(2026, 6, 15, 10))
    await world.run(utc(2026, 6, 16) + LATER)
    n = await Notification.get(rule_id=rule.id)
    inbox = (await data(client, INBOX, token=await token_for(settings, world.member.email)))[
        "viewer"
    ]["notifications"]
    assert inbox["totalCount"] == 1
    node = inbox["nodes"][0]
    assert node["id"] == gid("Notification", n.id)
    assert (node["type"], node["entryCount"], node["readAt"], node["rule"]) == (
        "APP_INSTALL",
        2,
        None,
        {"name": rule.name},
    )
    assert (
        datetime.fromisoformat(node["periodStart"]),
        datetime.fromisoformat(node["periodEnd"]),
    ) == (utc(2026, 6, 15), utc(2026, 6, 16))
    assert node["entries"] == [
        {"activity": "REINSTALLED", "app": {"name": "Mailer"}},
        {"activity": "INSTALLED", "app": {"name": "Ledger"}},
    ]
    # the admins are not recipients: their inboxes are empty
    other = (await data(client, INBOX, token=await token_for(settings, world.admin.email)))[
        "viewer"
    ]["notifications"]
    assert other["totalCount"] == 0
    # one envelope for the portal, after commit, naming the new notification
    mine = [e.to_json() for e in await envelopes.settled() if e.portal_id == world.portal.id]
    assert mine == [
        {
            "portalId": world.portal.id,
            "logEntries": [],
            "statusChanges": [],
            "notifications": [n.id],
        }
    ]


RECEIVED = "subscription { notificationReceived { id entryCount rule { name } } }"


async def test_recipients_subscribed_receive_the_digest_live(app, settings, world):
    rule = await world.rule(utc(2026, 6, 15), audience=SPECIFIC, users=[world.member])
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    async with uvicorn_serving(app) as base:
        async with (
            WSClient.connect(base, await token_for(settings, world.member.email)) as member,
            WSClient.connect(base, await token_for(settings, world.admin.email)) as admin,
        ):
            op = await member.subscribe(RECEIVED)
            await admin.subscribe(RECEIVED)
            await until_subscribed(app.state.hub, gid("Portal", world.portal.id), 2)
            await world.run(utc(2026, 6, 16) + LATER)
            n = await Notification.get(rule_id=rule.id)
            pushed = await member.next(op)
            assert pushed == {
                "data": {
                    "notificationReceived": {
                        "id": gid("Notification", n.id),
                        "entryCount": 1,
                        "rule": {"name": rule.name},
                    }
                }
            }
            await admin.nothing()


# --- failures and races -----------------------------------------------------------------------


async def test_a_failing_rule_does_not_stop_the_others_and_is_retried(world):
    bad = await world.rule(utc(2026, 6, 15))
    good = await world.rule(utc(2026, 6, 15), type=UNINSTALL)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    await world.entry("Ledger", UNINSTALLED, utc(2026, 6, 15, 10))
    calls = 0

    async def fail_first() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database hiccupped")

    with faults.hooked("digest:after-claim", fail_first):
        result = await world.run(utc(2026, 6, 16) + LATER)
    assert (result.digests, result.errors) == (1, 1)
    assert len(await periods(good)) == 1 and await periods(bad) == []
    # the failed job's lease was given back: the next pass makes it at once
    assert (await NotificationRule.get(id=bad.id)).lease_owner is None
    assert (await world.run(utc(2026, 6, 16) + LATER)).digests == 1
    assert await periods(bad) == [(utc(2026, 6, 15), utc(2026, 6, 16), 1)]


async def two_workers_one_held_after_claiming(world, first_at: datetime, second_at: datetime):
    """Worker A claims the job and is held right after; worker B runs meanwhile (its pass
    finishes); then A goes on. Returns both results."""
    release, held = asyncio.Event(), asyncio.Event()
    arrivals: list[str] = []

    async def hold() -> None:
        arrivals.append("held")
        if len(arrivals) == 1:
            held.set()
            await asyncio.wait_for(release.wait(), timeout=20)

    with faults.hooked("digest:after-claim", hold):
        a = asyncio.create_task(world.run(first_at, owner="worker-a"))
        await asyncio.wait_for(held.wait(), timeout=20)
        b = await world.run(second_at, owner="worker-b")
        release.set()
        return await a, b, arrivals


async def test_two_workers_at_once_make_one_set_of_notifications(world):
    rule = await world.rule(utc(2026, 6, 15), email=True)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    at = utc(2026, 6, 16) + LATER
    # Both passes start together; A claims and is held; B finds the lease held
    a, b, arrivals = await two_workers_one_held_after_claiming(world, at, at)
    assert arrivals == ["held"]
    assert (a.digests, a.notifications, b.digests, b.notifications) == (1, 2, 0, 0)
    assert len(await digests(rule)) == 2
    assert await Delivery.filter(notification__rule_id=rule.id).count() == 4


async def test_an_expired_lease_is_taken_over_and_the_slow_worker_writes_nothing(world):
    rule = await world.rule(utc(2026, 6, 15), email=True)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    at = utc(2026, 6, 16) + LATER
    # A claims and stalls past its 60 s lease; B takes the job over and makes the digest;
    # then A wakes up and tries to make it too
    a, b, arrivals = await two_workers_one_held_after_claiming(
        world, at, at + timedelta(seconds=61)
    )
    assert arrivals == ["held", "held"]
    assert (b.digests, b.notifications) == (1, 2)
    assert (a.digests, a.skipped, a.errors) == (0, 1, 0)
    assert len(await digests(rule)) == 2
    assert await Delivery.filter(notification__rule_id=rule.id).count() == 4
    assert await cut_of(rule) == utc(2026, 6, 16)


async def test_concurrent_passes_make_one_set_of_notifications(world):
    # Many passes at once on several due rules (on PostgreSQL: really concurrent)
    rules = [
        await world.rule(utc(2026, 6, 15), type=t, audience=EVERYONE, email=True, in_app=True)
        for t in (INSTALL, DISCONNECT, UNINSTALL)
    ]
    for activity in (INSTALLED, DISCONNECTED, UNINSTALLED):
        await world.entry("Ledger", activity, utc(2026, 6, 15, 9))
    at = utc(2026, 6, 16) + LATER
    results = await asyncio.gather(
        *(world.run(at, owner=f"worker-{i}", send_mail=False) for i in range(6))
    )
    assert sum(r.digests for r in results) == 3
    assert sum(r.errors for r in results) == 0
    for rule in rules:
        assert len(await digests(rule)) == 4
        assert await Delivery.filter(notification__rule_id=rule.id).count() == 8


@pytest.mark.postgres
async def test_two_workers_writing_the_same_digest_at_once_make_one(world):
    # A's lease expired while it was held; B claims; both are released together and make the
    # digest in concurrent transactions: one commits, the other finds the cut moved and
    # writes nothing
    rule = await world.rule(utc(2026, 6, 15), email=True, audience=EVERYONE)
    await world.entry("Ledger", INSTALLED, utc(2026, 6, 15, 9))
    at = utc(2026, 6, 16) + LATER
    both = asyncio.Barrier(2)
    a_claimed = asyncio.Event()

    async def hold() -> None:
        a_claimed.set()
        await asyncio.wait_for(both.wait(), timeout=20)

    with faults.hooked("digest:after-claim", hold):
        a = asyncio.create_task(world.run(at, owner="worker-a", send_mail=False))
        await asyncio.wait_for(a_claimed.wait(), timeout=20)
        b = asyncio.create_task(
            world.run(at + timedelta(seconds=61), owner="worker-b", send_mail=False)
        )
        a, b = await asyncio.gather(a, b)
    assert sorted([(a.digests, a.skipped), (b.digests, b.skipped)]) == [(0, 1), (1, 0)]
    assert a.errors == b.errors == 0
    assert len(await digests(rule)) == 4
    assert await Delivery.filter(notification__rule_id=rule.id).count() == 8


# --- the loop ---------------------------------------------------------------------------------


async def test_run_forever_survives_a_failing_pass_and_stops_when_asked(monkeypatch, settings):
    import gateway.worker as worker

    passes: list[datetime] = []

    async def fake_pass(now, _settings, _publisher, owner, **_kw):
        passes.append(now)
        if len(passes) == 1:
            raise RuntimeError("database away")
        return PassResult()

    monkeypatch.setattr(worker, "run_pass", fake_pass)
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(settings, None, stop, interval=0.05))
    await until(lambda: len(passes) >= 3)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert len(passes) >= 3
    assert all(p.tzinfo is not None for p in passes)
