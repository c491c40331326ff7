"""The demo data: what the issue asks the console to be able to show, checked on the rows.

Statuses and scope states are derived here from DESIGN §1 on purpose (not through a service),
so the seed is checked against the rules rather than against code that could share its bugs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from tortoise import Tortoise
from tortoise.queryset import ValuesListQuery

from gateway import db
from gateway.demo import DemoData, seed_demo
from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    AppUsageDay,
    ConnectedApp,
    Delivery,
    GrantedScope,
    LearningResource,
    ListingScope,
    LoggedAlert,
    LoggedScopeChange,
    MarketplaceListing,
    Notification,
    NotificationEntry,
    NotificationRule,
    Portal,
    RuleApp,
    RuleTeam,
    RuleUser,
    Team,
    TeamMembership,
    User,
    __models__,
)
from gateway.models.enums import (
    ACTIVITIES_BY_TYPE,
    APP_PERMISSIONS,
    AppActivity,
    AppStatus,
    InstallLevel,
    NotificationAudience,
    Permission,
    ScopeState,
    SubscriptionTier,
)
from gateway.services import usage

MARKS = (AppActivity.DISCONNECTED, AppActivity.RECONNECTED)
INSTALLS = (AppActivity.INSTALLED, AppActivity.REINSTALLED)


# ---- derivations, straight from DESIGN §1


def derive_status(app: ConnectedApp, open_alerts: int) -> AppStatus | None:
    if app.uninstalled_at is not None or app.install_level is InstallLevel.MULTI_ACCOUNT:
        return None
    if app.disconnected:
        return AppStatus.DISCONNECTED
    if open_alerts:
        return AppStatus.ERROR
    return AppStatus.CONNECTED


def scope_states(
    scopes: list[ListingScope], granted: set[str], tier: SubscriptionTier
) -> dict[str, ScopeState]:
    states = {}
    for scope in scopes:
        above_tier = scope.required_tier.rank > tier.rank
        if scope.name in granted:
            states[scope.name] = ScopeState.NEEDS_UPGRADE if above_tier else ScopeState.GRANTED
        elif above_tier:
            states[scope.name] = ScopeState.NEEDS_UPGRADE
        else:
            states[scope.name] = ScopeState.NEEDS_REAUTHORIZATION
    return states


class PortalView:
    """A portal's apps with everything the checks derive from, loaded in a few queries."""

    def __init__(self) -> None:
        self.portal: Portal
        self.apps: dict[str, ConnectedApp] = {}
        self.scopes: dict[int, list[ListingScope]] = defaultdict(list)
        self.grants: dict[int, set[str]] = defaultdict(set)
        self.open_alerts: Counter[int] = Counter()
        self.alerts: dict[int, list[AppAlert]] = defaultdict(list)
        self.connections: dict[int, list[AppConnection]] = defaultdict(list)
        self.log: dict[int, list[AppLogEntry]] = defaultdict(list)

    @classmethod
    async def load(cls, portal_id: int) -> PortalView:
        view = cls()
        view.portal = await Portal.get(id=portal_id)
        apps = await ConnectedApp.filter(portal_id=portal_id).prefetch_related("listing")
        view.apps = {app.listing.slug: app for app in apps}
        app_ids = [app.id for app in apps]
        for scope in await ListingScope.filter(
            listing_id__in=[app.listing_id for app in apps]
        ).order_by("position"):
            view.scopes[scope.listing_id].append(scope)
        for grant in await GrantedScope.filter(app_id__in=app_ids):
            view.grants[grant.app_id].add(grant.name)
        for alert in await AppAlert.filter(app_id__in=app_ids):
            view.alerts[alert.app_id].append(alert)
            if alert.resolved_at is None:
                view.open_alerts[alert.app_id] += 1
        for conn in await AppConnection.filter(app_id__in=app_ids).order_by("connected_at", "id"):
            view.connections[conn.app_id].append(conn)
        for entry in await AppLogEntry.filter(portal_id=portal_id).order_by("occurred_at", "id"):
            view.log[entry.app_id].append(entry)
        return view

    @property
    def installed(self) -> dict[str, ConnectedApp]:
        return {slug: app for slug, app in self.apps.items() if app.uninstalled_at is None}

    def status(self, slug: str) -> AppStatus | None:
        app = self.apps[slug]
        return derive_status(app, self.open_alerts[app.id])

    def states(self, slug: str) -> dict[str, ScopeState]:
        app = self.apps[slug]
        return scope_states(self.scopes[app.listing_id], self.grants[app.id], self.portal.tier)


async def emails_by_id() -> dict[int, str]:
    return dict(await User.all().values_list("id", "email"))


# ---- people and portals


async def test_acme_portal_users_and_teams(demo: DemoData) -> None:
    acme = await Portal.get(id=demo.acme_portal_id)
    assert (acme.name, acme.tier, acme.timezone) == (
        "Acme Demo",
        SubscriptionTier.PROFESSIONAL,
        "America/New_York",
    )
    users = {u.email: u for u in await User.filter(portal_id=acme.id)}
    flags = {e: (u.name, u.is_super_admin, u.permissions) for e, u in users.items()}
    assert flags["admin@demo.example"] == ("Avery Admin", True, tuple(Permission))
    assert flags["manager@demo.example"] == ("Morgan Manager", False, APP_PERMISSIONS)
    assert flags["member@demo.example"] == ("Casey Member", False, ())
    assert flags["member2@demo.example"] == ("Riley Member", False, ())
    others = set(users) - {
        "admin@demo.example",
        "manager@demo.example",
        "member@demo.example",
        "member2@demo.example",
    }
    assert 2 <= len(others) <= 4
    assert all(not users[e].is_super_admin for e in others)
    # and some hold one permission each, so that partial permissions can be tried
    assert {e: users[e].permissions for e in others if users[e].permissions} == {
        "jordan@demo.example": (Permission.INSTALL_APPS,),
        "taylor@demo.example": (Permission.MANAGE_NOTIFICATIONS,),
    }
    assert all(u.sort_name == u.name.lower() for u in users.values())

    teams = {t.name: t for t in await Team.filter(portal_id=acme.id)}
    assert set(teams) == {"Sales", "Marketing Ops"}
    assert all(t.sort_name == t.name.lower() for t in teams.values())
    members = defaultdict(set)
    for m in await TeamMembership.filter(team_id__in=[t.id for t in teams.values()]):
        members[m.team_id].add(m.user_id)
    sales, ops = members[teams["Sales"].id], members[teams["Marketing Ops"].id]
    assert sales and ops and sales & ops, "someone is in both teams"
    assert (sales | ops) <= {u.id for u in users.values()}
    assert demo.team_ids == {name: t.id for name, t in teams.items()}


# ---- catalogue


async def test_catalogue(demo: DemoData) -> None:
    # The session database may hold other tests' listings too: look at the demo's.
    listings = await MarketplaceListing.filter(id__in=list(demo.listing_ids.values()))
    assert len(listings) >= 22
    assert demo.listing_ids == {listing.slug: listing.id for listing in listings}
    assert all(listing.sort_name == listing.name.lower() for listing in listings)
    categories = Counter(listing.category for listing in listings)
    assert {
        "CRM",
        "Marketing",
        "Sales",
        "Productivity",
        "Social Media",
        "Customer Service",
        "Analytics",
    } <= set(categories)
    assert all(count >= 2 for count in categories.values())
    assert {listing.install_level for listing in listings} == set(InstallLevel)
    for listing in listings:
        if listing.install_level is InstallLevel.MULTI_ACCOUNT:
            assert listing.manage_connections_url == f"https://social.example/manage/{listing.slug}"
        else:
            assert listing.manage_connections_url is None
        assert listing.name and listing.vendor and len(listing.description) > 40

    scopes = defaultdict(list)
    for scope in await ListingScope.filter(listing_id__in=list(demo.listing_ids.values())).order_by(
        "position"
    ):
        scopes[scope.listing_id].append(scope)
    for listing in listings:
        requested = scopes[listing.id]
        assert 2 <= len(requested) <= 8, listing.slug
        assert [s.position for s in requested] == list(range(len(requested)))
        assert all(s.description for s in requested)
        assert any(s.required for s in requested)
    tiers = {s.required_tier for group in scopes.values() for s in group}
    assert tiers == set(SubscriptionTier)

    resources = [
        r
        for r in await LearningResource.all()
        if r.listing_id is None or r.listing_id in demo.listing_ids.values()
    ]
    general = [r for r in resources if r.listing_id is None]
    specific = [r for r in resources if r.listing_id is not None]
    assert len(general) >= 3 and len({r.listing_id for r in specific}) >= 3
    assert all(
        r.url.startswith("https://academy.example/") and r.title and r.topic for r in resources
    )
    assert {r.duration_seconds is None for r in resources} == {True, False}  # articles and videos


async def test_marketplace_has_listings_not_installed_in_acme(demo: DemoData) -> None:
    installed = set(
        await ConnectedApp.filter(portal_id=demo.acme_portal_id).values_list(
            "listing_id", flat=True
        )
    )
    never = set(demo.listing_ids.values()) - installed
    assert len(never) >= 5
    assert len(demo.listing_ids) >= 20


# ---- Acme's apps


async def test_acme_apps_cover_every_status_and_level(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    assert len(view.installed) >= 12
    assert demo.app_ids == {slug: app.id for slug, app in view.apps.items()}
    statuses = Counter(view.status(slug) for slug in view.installed)
    assert {AppStatus.CONNECTED, AppStatus.DISCONNECTED, AppStatus.ERROR, None} <= set(statuses)
    assert statuses[AppStatus.CONNECTED] >= 5
    assert {app.install_level for app in view.installed.values()} == set(InstallLevel)
    assert Counter(app.install_level for app in view.installed.values())[InstallLevel.PORTAL] >= 6

    assert view.status(demo.disconnected_slug) is AppStatus.DISCONNECTED
    assert view.apps[demo.disconnected_slug].mark_changed_at is not None
    assert view.status(demo.error_slug) is AppStatus.ERROR
    assert view.apps[demo.multi_account_slug].install_level is InstallLevel.MULTI_ACCOUNT
    assert view.status(demo.multi_account_slug) is None

    for slug, app in view.apps.items():
        listing = app.listing
        assert (app.name, app.sort_name, app.install_level) == (
            listing.name,
            listing.name.lower(),
            listing.install_level,
        ), slug


async def test_acme_alerts(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    error_app = view.apps[demo.error_slug]
    open_alerts = [a for a in view.alerts[error_app.id] if a.resolved_at is None]
    assert len(open_alerts) == 1 and open_alerts[0].raised_at < demo.anchor
    assert open_alerts[0].code and open_alerts[0].message
    # Only the ERROR app has an open alert; resolved ones sit in other apps' history.
    assert [app.id for app in view.apps.values() if view.open_alerts[app.id]] == [error_app.id]
    resolved_on = {
        a.app_id for alerts in view.alerts.values() for a in alerts if a.resolved_at is not None
    }
    assert len(resolved_on - {error_app.id}) >= 2
    for alerts in view.alerts.values():
        for alert in alerts:
            if alert.resolved_at is not None:
                assert alert.raised_at < alert.resolved_at < demo.anchor
                assert alert.changed_at == alert.resolved_at


async def test_acme_scope_states(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    reauth = view.states(demo.needs_reauth_slug)
    assert ScopeState.NEEDS_REAUTHORIZATION in reauth.values()
    assert ScopeState.NEEDS_UPGRADE not in reauth.values()
    upgrade = view.states(demo.needs_upgrade_slug)
    assert ScopeState.NEEDS_UPGRADE in upgrade.values()
    assert ScopeState.NEEDS_REAUTHORIZATION not in upgrade.values()
    upgrade_scopes = [
        s
        for s in view.scopes[view.apps[demo.needs_upgrade_slug].listing_id]
        if upgrade[s.name] is ScopeState.NEEDS_UPGRADE
    ]
    assert all(
        s.required_tier is SubscriptionTier.ENTERPRISE and not s.required for s in upgrade_scopes
    )

    # Every other installed app is plain: all its requested scopes granted.
    special = {demo.needs_reauth_slug, demo.needs_upgrade_slug}
    for slug in set(view.installed) - special:
        assert set(view.states(slug).values()) == {ScopeState.GRANTED}, slug
    # The uninstalled app holds no grants.
    assert not view.grants[view.apps[demo.uninstalled_slug].id]


async def test_installed_listings_need_no_required_scope_above_the_tier(demo: DemoData) -> None:
    for portal_id in (demo.acme_portal_id, demo.globex_portal_id):
        view = await PortalView.load(portal_id)
        for slug, app in view.apps.items():
            for scope in view.scopes[app.listing_id]:
                if scope.required:
                    assert scope.required_tier.rank <= view.portal.tier.rank, (slug, scope.name)
            requested = {s.name for s in view.scopes[app.listing_id]}
            assert view.grants[app.id] <= requested, slug


async def test_user_level_app_connections(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    app = view.apps[demo.user_level_slug]
    assert app.install_level is InstallLevel.USER
    connections = view.connections[app.id]
    assert len(connections) >= 2
    assert len({c.user_id for c in connections}) == len(connections)
    assert all(c.user_id is not None and c.account_name is None for c in connections)
    first = connections[0]
    assert app.installed_by_id == first.user_id
    assert first.connected_at == app.installed_at
    assert all(c.connected_at > first.connected_at for c in connections[1:])
    assert all(c.connected_at < demo.anchor for c in connections)
    # The USER app with uninstall cycles keeps its first installer even though other people
    # use it now; its oldest connection is the last reinstall.
    for slug, other in view.installed.items():
        if other.install_level is InstallLevel.USER:
            installs = [e for e in view.log[other.id] if e.activity in INSTALLS]
            conns = view.connections[other.id]
            assert conns, slug
            assert (conns[0].connected_at, conns[0].user_id) == (
                installs[-1].occurred_at,
                installs[-1].user_id,
            ), slug
            assert other.installed_by_id == installs[0].user_id


async def test_multi_account_app(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    app = view.apps[demo.multi_account_slug]
    assert app.install_level is InstallLevel.MULTI_ACCOUNT
    assert app.listing.manage_connections_url == f"https://social.example/manage/{app.listing.slug}"
    accounts = view.connections[app.id]
    assert len(accounts) >= 2
    assert all(a.account_name and a.user_id is not None for a in accounts)
    assert len({a.account_name for a in accounts}) == len(accounts)
    assert app.installed_by_id == accounts[0].user_id
    assert accounts[0].connected_at == app.installed_at
    managers = {
        user.id
        for user in await User.filter(portal_id=demo.acme_portal_id)
        if user.holds(Permission.INSTALL_APPS)
    }
    assert {a.user_id for a in accounts} <= managers  # adding an account needs the permission


async def test_acme_usage_shows_used_lapsed_and_never_used_apps(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    installed = list(view.installed.values())
    # Seen at the anchor, the 90-day unused view lists exactly the lapsed and the never-used app
    unused = await usage.unused_among(installed, 90, demo.anchor)
    slug_of = {app.id: slug for slug, app in view.apps.items()}
    assert sorted(slug_of[i] for i in unused) == sorted([demo.never_used_slug, demo.lapsed_slug])
    never = view.apps[demo.never_used_slug]
    assert never.installed_at < demo.anchor - timedelta(days=90)
    assert not await AppUsageDay.filter(app_id=never.id).exists()
    # Every other installed app was used yesterday (the anchor's), each day with errors <= calls
    yesterday = demo.anchor.date() - timedelta(days=1)
    for slug, app in view.installed.items():
        rows = await AppUsageDay.filter(app_id=app.id).order_by("day")
        assert all(0 <= r.errors <= r.calls for r in rows), slug
        if slug in (demo.never_used_slug, demo.lapsed_slug):
            continue
        assert rows[-1].day == yesterday and rows[-1].calls > 0, slug
        assert rows[-1].last_call_at is not None and rows[-1].last_call_at.date() == yesterday
    lapsed = await AppUsageDay.filter(app_id=view.apps[demo.lapsed_slug].id).order_by("-day")
    assert lapsed and (demo.anchor.date() - lapsed[0].day).days > 90
    # The uninstalled app's usage is kept, up to its uninstall
    gone = view.apps[demo.uninstalled_slug]
    kept = await AppUsageDay.filter(app_id=gone.id).order_by("-day")
    assert gone.uninstalled_at is not None
    assert kept and kept[0].day == gone.uninstalled_at.date()
    # The error-raising app's last days show the errors behind its open alert
    recent = await AppUsageDay.filter(app_id=view.apps[demo.error_slug].id, day=yesterday).get()
    assert recent.errors / recent.calls >= 0.05


async def test_uninstalled_and_reinstalled_apps(demo: DemoData) -> None:
    view = await PortalView.load(demo.acme_portal_id)
    gone = view.apps[demo.uninstalled_slug]
    assert gone.uninstalled_at is not None and gone.uninstalled_at < demo.anchor
    assert view.status(demo.uninstalled_slug) is None
    assert not view.connections[gone.id] and not view.grants[gone.id]
    assert not [a for a in view.alerts[gone.id] if a.resolved_at is None]
    history = view.log[gone.id]
    assert history[0].activity is AppActivity.INSTALLED
    assert history[-1].activity is AppActivity.UNINSTALLED
    assert history[-1].occurred_at == gone.uninstalled_at

    back = view.apps[demo.reinstalled_slug]
    assert back.uninstalled_at is None
    history = view.log[back.id]
    activities = [e.activity for e in history]
    assert AppActivity.REINSTALLED in activities
    first_reinstall = activities.index(AppActivity.REINSTALLED)
    assert activities[first_reinstall - 1] is AppActivity.UNINSTALLED
    assert (back.installed_at, back.installed_by_id) == (history[0].occurred_at, history[0].user_id)
    assert history[first_reinstall].occurred_at > back.installed_at


# ---- the log


async def test_acme_log_volume_and_spread(demo: DemoData) -> None:
    entries = await AppLogEntry.filter(portal_id=demo.acme_portal_id)
    assert len(entries) >= 500
    since = demo.anchor - timedelta(days=120)
    assert all(since <= e.occurred_at < demo.anchor for e in entries)
    assert all(e.recorded_at == e.occurred_at for e in entries)
    assert len({e.occurred_at for e in entries}) == len(entries), "occurredAt is unambiguous"
    assert {e.activity for e in entries} == set(AppActivity)
    users = Counter(e.user_id for e in entries if e.user_id is not None)
    assert len(users) >= 5
    assert sum(users.values()) >= len(entries) // 3
    apps = Counter(e.app_id for e in entries)
    assert len(apps) >= 12 and max(apps.values()) < len(entries) // 4
    acme_apps = set(demo.app_ids.values())
    assert set(apps) <= acme_apps
    acme_users = set(await User.filter(portal_id=demo.acme_portal_id).values_list("id", flat=True))
    assert set(users) <= acme_users
    # Ids grow with occurredAt, as they would have if the events had been recorded live.
    by_time = sorted(entries, key=lambda e: e.occurred_at)
    assert [e.id for e in by_time] == sorted(e.id for e in entries)


async def test_histories_are_consistent_with_app_state(demo: DemoData) -> None:
    for portal_id in (demo.acme_portal_id, demo.globex_portal_id):
        view = await PortalView.load(portal_id)
        for slug, app in view.apps.items():
            history = view.log[app.id]
            assert history, slug
            first = history[0]
            assert first.activity is AppActivity.INSTALLED, slug
            assert (first.occurred_at, first.user_id) == (app.installed_at, app.installed_by_id)
            assert all(e.activity is not AppActivity.INSTALLED for e in history[1:]), slug
            marks = [e for e in history if e.activity in MARKS]
            for index, mark in enumerate(marks):
                expected = AppActivity.DISCONNECTED if index % 2 == 0 else AppActivity.RECONNECTED
                assert mark.activity is expected, (slug, index)
            disconnected = bool(marks) and marks[-1].activity is AppActivity.DISCONNECTED
            assert app.disconnected == disconnected, slug
            assert app.mark_changed_at == (marks[-1].occurred_at if marks else None), slug
            installed = True
            for previous, entry in itertools.pairwise(history):
                if previous.activity is AppActivity.UNINSTALLED:
                    assert entry.activity is AppActivity.REINSTALLED, slug
                if entry.activity is AppActivity.REINSTALLED:
                    assert previous.activity is AppActivity.UNINSTALLED, slug
                installed = entry.activity is not AppActivity.UNINSTALLED
            assert installed == (app.uninstalled_at is None), slug
            # Platform reports name nobody; people act only where they may.
            assert all(e.user_id is None for e in history if e.activity is AppActivity.DISCONNECTED)


async def test_scope_changes_in_the_log_agree_with_the_grants(demo: DemoData) -> None:
    changed_listing = 0
    for portal_id in (demo.acme_portal_id, demo.globex_portal_id):
        view = await PortalView.load(portal_id)
        for slug, app in view.apps.items():
            history = view.log[app.id]
            kept = await LoggedScopeChange.filter(entry__app_id=app.id)
            changes = {row.entry_id: (row.added, row.removed) for row in kept}
            granted: list[str] = []
            for entry in history:
                # Each (re)install tells the grants it made; each uninstall revokes them all.
                if entry.activity in (AppActivity.INSTALLED, AppActivity.REINSTALLED):
                    granted, removed = changes[entry.id]
                    assert removed == [] and granted, slug
                elif entry.activity is AppActivity.UNINSTALLED:
                    assert changes[entry.id] == ([], sorted(granted)), slug
                elif entry.activity is AppActivity.SCOPES_CHANGED:
                    assert entry.user_id is None and changes[entry.id] == (
                        ["conversations.write"],
                        [],
                    )
                    changed_listing += 1
                else:
                    assert entry.id not in changes, (slug, entry.activity)
            if app.uninstalled_at is None:
                assert set(granted) == view.grants[app.id], slug
    # TeamChat's listing changed its request while Acme and Globex had it installed
    assert changed_listing == 2


async def test_every_alert_is_raised_and_resolved_in_the_log_with_its_reason(
    demo: DemoData,
) -> None:
    alerts = await AppAlert.filter(app__portal_id__in=[demo.acme_portal_id, demo.globex_portal_id])
    assert any(a.resolved_at is None for a in alerts) and any(a.resolved_at for a in alerts)
    for alert in alerts:
        logged = await LoggedAlert.filter(alert_id=alert.id).select_related("entry")
        told = sorted((row.entry.occurred_at, row.entry.activity) for row in logged)
        expected = [(alert.raised_at, AppActivity.ERROR_RAISED)]
        if alert.resolved_at is not None:
            expected.append((alert.resolved_at, AppActivity.ERROR_RESOLVED))
        assert told == expected, alert.code
        assert {(r.severity, r.code, r.message) for r in logged} == {
            (alert.severity, alert.code, alert.message)
        }
        assert all(r.entry.app_id == alert.app_id and r.entry.user_id is None for r in logged)


async def test_notification_rules(demo: DemoData) -> None:
    rules = await NotificationRule.filter(portal_id=demo.acme_portal_id).order_by("id")
    assert len(rules) == 3
    assert demo.rule_ids == {r.name: r.id for r in rules}
    assert len({r.type for r in rules}) == 3
    assert len({r.frequency for r in rules}) == 3
    assert len({r.audience for r in rules}) == 3
    admin_id = demo.user_ids["admin@demo.example"]
    for rule in rules:
        assert rule.sort_name == rule.name.lower()
        assert rule.created_by_id == admin_id
        assert rule.created_at <= rule.updated_at < demo.anchor
        assert rule.cut_at == demo.anchor
        assert rule.channels
    specific = next(r for r in rules if r.audience is NotificationAudience.SPECIFIC)
    assert await RuleUser.filter(rule_id=specific.id).count() >= 1
    assert await RuleTeam.filter(rule_id=specific.id).count() >= 1
    selective = [r for r in rules if not r.all_apps]
    assert selective
    for rule in selective:
        app_ids = await RuleApp.filter(rule_id=rule.id).values_list("app_id", flat=True)
        assert app_ids and set(app_ids) <= set(demo.app_ids.values())
    assert {r.in_app for r in rules} == {True, False} and any(r.email for r in rules)


async def _id_set(query: ValuesListQuery[Any]) -> set[int]:
    """The ids a one-field `values_list(..., flat=True)` query gives (Tortoise types every
    values_list result as rows of tuples)."""
    return set(cast(list[int], await query))


async def _recipients(rule: NotificationRule) -> set[int]:
    users = User.filter(portal_id=rule.portal_id)
    if rule.audience is NotificationAudience.SUPER_ADMINS:
        return await _id_set(users.filter(is_super_admin=True).values_list("id", flat=True))
    if rule.audience is NotificationAudience.EVERYONE:
        return await _id_set(users.values_list("id", flat=True))
    ids = await _id_set(RuleUser.filter(rule_id=rule.id).values_list("user_id", flat=True))
    teams = await RuleTeam.filter(rule_id=rule.id).values_list("team_id", flat=True)
    ids |= await _id_set(TeamMembership.filter(team_id__in=teams).values_list("user_id", flat=True))
    return ids


async def test_notifications_in_the_inboxes(demo: DemoData) -> None:
    for email in ("admin@demo.example", "member@demo.example"):
        inbox = await Notification.filter(recipient_id=demo.user_ids[email], in_app=True)
        assert {n.read_at is None for n in inbox} == {True, False}, email

    for portal_id in (demo.acme_portal_id, demo.globex_portal_id):
        rules = {r.id: r for r in await NotificationRule.filter(portal_id=portal_id)}
        notifications = await Notification.filter(portal_id=portal_id)
        assert notifications
        for n in notifications:
            assert n.rule_id is not None
            rule = rules[n.rule_id]
            assert n.type is rule.type and n.in_app and rule.in_app
            assert n.recipient_id in await _recipients(rule)
            assert rule.created_at <= n.period_start < n.period_end <= n.created_at < demo.anchor
            if n.read_at is not None:
                assert n.created_at < n.read_at < demo.anchor
            linked = await NotificationEntry.filter(notification_id=n.id).values_list(
                "entry_id", flat=True
            )
            entries = await AppLogEntry.filter(id__in=linked)
            assert n.entry_count == len(entries) == len(linked)
            assert 1 <= n.entry_count <= 100
            allowed_apps = set(
                await RuleApp.filter(rule_id=rule.id).values_list("app_id", flat=True)
            )
            for entry in entries:
                assert entry.portal_id == portal_id
                assert entry.activity in ACTIVITIES_BY_TYPE[rule.type]
                assert n.period_start <= entry.recorded_at < n.period_end
                assert rule.all_apps or entry.app_id in allowed_apps
            # A digest covers every matching entry of its period.
            matching = AppLogEntry.filter(
                portal_id=portal_id,
                activity__in=list(ACTIVITIES_BY_TYPE[rule.type]),
                recorded_at__gte=n.period_start,
                recorded_at__lt=n.period_end,
            )
            if not rule.all_apps:
                matching = matching.filter(app_id__in=list(allowed_apps))
            assert await matching.count() == n.entry_count
        email_rules = {r.id for r in rules.values() if r.email}
        for delivery in await Delivery.filter(portal_id=portal_id).prefetch_related("notification"):
            assert delivery.notification is not None  # the demo has no webhook or Slack rule
            assert delivery.notification.rule_id in email_rules
            assert delivery.recipient_id == delivery.notification.recipient_id


# ---- Globex and isolation


async def test_globex(demo: DemoData) -> None:
    globex = await Portal.get(id=demo.globex_portal_id)
    assert (globex.name, globex.tier, globex.timezone) == (
        "Globex",
        SubscriptionTier.STARTER,
        "Europe/Berlin",
    )
    users = {u.email: u for u in await User.filter(portal_id=globex.id)}
    assert users["admin@globex.example"].is_super_admin
    assert len(users) == 2
    view = await PortalView.load(globex.id)
    assert 3 <= len(view.installed) <= 4
    assert demo.globex_app_ids == {slug: app.id for slug, app in view.apps.items()}
    assert len(set(view.apps) & set(demo.app_ids)) >= 2, "some listings are installed in both"
    entries = await AppLogEntry.filter(portal_id=globex.id)
    assert 20 <= len(entries) <= 40
    assert {e.app_id for e in entries} <= set(demo.globex_app_ids.values())
    assert {e.user_id for e in entries} - {None} <= {u.id for u in users.values()}
    assert await NotificationRule.filter(portal_id=globex.id).count() == 1
    assert demo.globex_rule_ids

    # Nothing of one portal points into the other.
    globex_users = {u.id for u in users.values()}
    for app in view.apps.values():
        assert app.installed_by_id in globex_users
        assert {conn.user_id for conn in view.connections[app.id]} <= globex_users
    recipients = await Notification.filter(portal_id=globex.id).values_list(
        "recipient_id", flat=True
    )
    assert recipients and set(recipients) <= globex_users


# ---- idempotency and determinism


async def count_rows() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in __models__}


async def test_seeding_again_writes_nothing(demo: DemoData) -> None:
    before = await count_rows()
    again = await seed_demo(anchor=demo.anchor + timedelta(days=3))
    assert again == demo  # the first seed's anchor, not the new one
    assert await count_rows() == before


async def dump(with_ids: bool) -> dict[str, Any]:
    """The rows that matter, by natural keys (and by ids when asked), both portals."""
    emails = await emails_by_id()
    portals = dict(await Portal.filter(name__in=["Acme Demo", "Globex"]).values_list("id", "name"))
    out: dict[str, Any] = {}
    for portal_id, name in sorted(portals.items(), key=lambda item: item[1]):
        view = await PortalView.load(portal_id)
        slug_of = {app.id: slug for slug, app in view.apps.items()}
        out[f"{name}/apps"] = sorted(
            (
                slug,
                app.installed_at.isoformat(),
                str(view.status(slug)),
                emails.get(app.installed_by_id or 0),
                str(app.uninstalled_at),
                sorted(view.grants[app.id]),
                [
                    (emails.get(c.user_id or 0), c.account_name, c.connected_at.isoformat())
                    for c in view.connections[app.id]
                ],
            )
            + ((app.id,) if with_ids else ())
            for slug, app in view.apps.items()
        )
        out[f"{name}/log"] = [
            (
                slug_of[e.app_id],
                e.activity.value,
                e.occurred_at.isoformat(),
                emails.get(e.user_id or 0),
            )
            + ((e.id,) if with_ids else ())
            for e in await AppLogEntry.filter(portal_id=portal_id).order_by("occurred_at", "id")
        ]
        out[f"{name}/inbox"] = sorted(
            (
                emails[n.recipient_id],
                n.type.value,
                n.period_start.isoformat(),
                n.entry_count,
                str(n.read_at),
            )
            for n in await Notification.filter(portal_id=portal_id)
        )
    return out


# Each fresh seed runs in its own process: Tortoise binds the models to one backend's SQL
# dialect, so a second, isolated SQLite context inside a PostgreSQL test session would leave
# the models speaking SQLite to PostgreSQL (see STACK-NOTES). This file is also that script.


async def seed_in_subprocess(path: Path, anchor: datetime | None) -> dict[str, Any]:
    """Seed a fresh SQLite file in a new process, as a first start would; its JSON dump."""
    args = [sys.executable, __file__, str(path), anchor.isoformat() if anchor else ""]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    result = json.loads(out)
    assert result.pop("seconds") < 2.0, "seeding must stay fast"
    return result


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


async def test_same_anchor_same_data(demo: DemoData, tmp_path: Path) -> None:
    # conftest seeds the session database at its ANCHOR; demo.anchor is that anchor.
    first, second = await asyncio.gather(
        seed_in_subprocess(tmp_path / "one.sqlite3", demo.anchor),
        seed_in_subprocess(tmp_path / "two.sqlite3", demo.anchor),
    )
    # Fresh databases: the same rows with the same ids.
    assert first == second
    # The session database (SQLite or PostgreSQL, maybe with other tests' rows around the demo)
    # holds the same rows under their natural keys.
    assert first["demo"]["anchor"] == str(demo.anchor)
    assert as_json(await dump(with_ids=False)) == first["rows"]
    assert len(first["rows"]["Acme Demo/log"]) >= 500


async def test_default_anchor_is_now_in_whole_seconds(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    seeded = await seed_in_subprocess(tmp_path / "now.sqlite3", None)
    after = datetime.now(UTC)
    anchor = datetime.fromisoformat(seeded["demo"]["anchor"])
    assert before <= anchor <= after
    assert anchor.microsecond == 0 and anchor.utcoffset() == timedelta(0)


async def _seed_fresh_and_dump(path: str, anchor: str) -> None:
    await Tortoise.init(config=db.tortoise_config(f"sqlite://{path}"))
    try:
        await Tortoise.generate_schemas()
        started = time.perf_counter()
        data = await seed_demo(anchor=datetime.fromisoformat(anchor) if anchor else None)
        seconds = time.perf_counter() - started
        rows, ids = await dump(with_ids=False), await dump(with_ids=True)
        result = {"demo": dataclasses.asdict(data), "rows": rows, "ids": ids, "seconds": seconds}
        print(json.dumps(result, default=str))
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(_seed_fresh_and_dump(sys.argv[1], sys.argv[2]))
