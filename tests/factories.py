"""Test data built straight through the models: a portal of its own for each test that needs
one, so tests never disturb the shared demo data or each other.

`make_tenant` is the one builder of such a portal with its people, teams and installed apps;
the `make_*` functions below are its parts, for the odd row a test adds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from gateway.auth import mint_token
from gateway.ids import to_global_id
from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    ConnectedApp,
    GrantedScope,
    InstallRequest,
    ListingScope,
    MarketplaceListing,
    NotificationRule,
    Portal,
    Team,
    TeamMembership,
    User,
)
from gateway.models.enums import (
    APP_PERMISSIONS,
    AlertSeverity,
    AppActivity,
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationAudience,
    NotificationFrequency,
    NotificationType,
    Permission,
    SubscriptionTier,
)
from gateway.services import request_notes
from gateway.services.apps import within_tier
from gateway.services.envelopes import Envelope, unit_of_work
from gateway.settings import Settings

_unique = itertools.count(1)
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_unique)}"


async def make_portal(
    name: str | None = None,
    tier: SubscriptionTier = SubscriptionTier.PROFESSIONAL,
    timezone: str = "UTC",
) -> Portal:
    return await Portal.create(name=name or unique("Portal"), tier=tier, timezone=timezone)


async def make_user(
    portal: Portal,
    name: str | None = None,
    *,
    super_admin: bool = False,
    manager: bool = False,
    permissions: Sequence[Permission] = (),
) -> User:
    """A user; a manager holds the three app permissions (what "app marketplace access" was),
    anyone else `permissions`."""
    name = name or unique("User")
    held = set(APP_PERMISSIONS if manager else permissions)
    return await User.create(
        portal=portal,
        name=name,
        sort_name=name.lower(),
        email=f"{name.lower().replace(' ', '.')}@{portal.id}.test",
        is_super_admin=super_admin,
        install_apps=Permission.INSTALL_APPS in held,
        approve_scopes=Permission.APPROVE_SCOPES in held,
        uninstall_apps=Permission.UNINSTALL_APPS in held,
        manage_notifications=Permission.MANAGE_NOTIFICATIONS in held,
    )


async def make_listing(
    name: str | None = None,
    level: InstallLevel = InstallLevel.PORTAL,
    scopes: list[tuple[str, SubscriptionTier, bool]] | None = None,
    category: str = "Test fixtures",
) -> MarketplaceListing:
    name = name or unique("Listing")
    listing = await MarketplaceListing.create(
        slug=unique("listing"),
        name=name,
        sort_name=name.lower(),
        vendor="Fixture Labs",
        category=category,
        description=f"{name} for tests",
        install_level=level,
        manage_connections_url="https://social.example/manage"
        if level is InstallLevel.MULTI_ACCOUNT
        else None,
    )
    for position, (scope, tier, required) in enumerate(
        scopes or [("basic.read", SubscriptionTier.FREE, True)]
    ):
        await ListingScope.create(
            listing=listing,
            name=scope,
            description=f"{scope} access",
            required_tier=tier,
            required=required,
            position=position,
        )
    return listing


async def install(
    portal: Portal,
    listing: MarketplaceListing,
    by: User | None,
    at: datetime = T0,
    *,
    grant: list[str] | None = None,
) -> ConnectedApp:
    """An installed app with its INSTALLED entry; grants `grant`, or every scope within tier."""
    app = await ConnectedApp.create(
        portal=portal,
        listing=listing,
        name=listing.name,
        sort_name=listing.sort_name,
        install_level=listing.install_level,
        installed_at=at,
        installed_by=by,
    )
    scopes = await ListingScope.filter(listing=listing)
    names = (
        grant
        if grant is not None
        else [s.name for s in scopes if within_tier(s.required_tier, portal.tier)]
    )
    await GrantedScope.bulk_create([GrantedScope(app=app, name=n, granted_at=at) for n in names])
    await log(app, AppActivity.INSTALLED, at, by)
    return app


async def log(
    app: ConnectedApp, activity: AppActivity, at: datetime, user: User | None = None
) -> AppLogEntry:
    return await AppLogEntry.create(
        portal_id=app.portal_id,
        app=app,
        user=user,
        activity=activity,
        occurred_at=at,
        recorded_at=at,
    )


async def alert(
    app: ConnectedApp,
    code: str = "token_expired",
    at: datetime = T0,
    resolved: datetime | None = None,
) -> AppAlert:
    return await AppAlert.create(
        app=app,
        severity=AlertSeverity.ERROR,
        code=code,
        message=f"{code} happened",
        raised_at=at,
        resolved_at=resolved,
        changed_at=resolved or at,
    )


async def make_rule(
    portal: Portal,
    name: str,
    type: NotificationType,
    at: datetime,
    *,
    frequency: NotificationFrequency = NotificationFrequency.HOURLY,
    email: bool = False,
    in_app: bool = True,
) -> NotificationRule:
    """A rule for every app and the super admins, made (and its cut set) at `at`."""
    return await NotificationRule.create(
        portal=portal,
        name=name,
        sort_name=name.lower(),
        type=type,
        frequency=frequency,
        all_apps=True,
        audience=NotificationAudience.SUPER_ADMINS,
        email=email,
        in_app=in_app,
        created_at=at,
        updated_at=at,
        cut_at=at,
    )


async def connect(
    app: ConnectedApp, user: User | None, at: datetime, account: str | None = None
) -> AppConnection:
    key = AppConnection.key_for(user.id if user else None, account)
    return await AppConnection.create(
        app=app, user=user, account_name=account, connected_at=at, key=key
    )


async def make_team(portal: Portal, name: str, members: Sequence[User] = ()) -> Team:
    team = await Team.create(portal=portal, name=name, sort_name=name.lower())
    await TeamMembership.bulk_create([TeamMembership(team=team, user=u) for u in members])
    return team


async def make_request(
    portal: Portal,
    listing: MarketplaceListing,
    by: User,
    at: datetime = T0,
    *,
    status: InstallRequestStatus = InstallRequestStatus.PENDING,
    days: int = 30,
    decided_by: User | None = None,
    note: str | None = None,
    scopes: list[str] | None = None,
    account: str | None = None,
    app: ConnectedApp | None = None,
) -> InstallRequest:
    """An install request made at `at`, expiring `days` later, in `status` (decided an hour
    after it was made, unless pending)."""
    pending = status is InstallRequestStatus.PENDING
    return await InstallRequest.create(
        portal=portal,
        listing=listing,
        requested_by=by,
        justification=f"{by.name} needs {listing.name}",
        scope_list=InstallRequest.scope_text(scopes),
        account_name=account,
        status=status,
        created_at=at,
        expires_at=at + timedelta(days=days),
        decided_by=decided_by,
        decided_at=None if pending else at + timedelta(hours=1),
        decision_note=note,
        app=app,
        pending_key=InstallRequest.key_for(by.id, listing.id, account) if pending else None,
    )


class _Nowhere:
    async def publish(self, envelope: Envelope) -> None:
        return None


async def notice(
    kind: InstallRequestNotice, to: User, requests: Sequence[InstallRequest], at: datetime = T0
) -> None:
    """An INSTALL_REQUEST notification to `to`, about `requests`, as the service makes it."""
    about = requests[0].id if kind is not InstallRequestNotice.REMINDER else at.date().isoformat()
    async with unit_of_work(_Nowhere()) as changes:
        await request_notes.notify(
            changes, to.portal_id, kind, about, to.id, [r.id for r in requests], at
        )


Role = Literal["admin", "manager", "member"]


@dataclass
class Tenant:
    """A portal of its own: its people and apps by name, and (given settings) each person's
    bearer token by name."""

    portal: Portal
    people: dict[str, User]
    teams: dict[str, Team] = field(default_factory=dict)
    apps: dict[str, ConnectedApp] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None

    def token(self, name: str) -> str:
        return self.tokens[name]

    @property
    def gid(self) -> str:
        """The portal's global id, as events and subscriptions name it."""
        return to_global_id("Portal", self.portal.id)

    def app_gid(self, name: str | None = None) -> str:
        """The global id of the app of that name (without a name, of the only app)."""
        if name is None:
            (app,) = self.apps.values()
        else:
            app = self.apps[name]
        return to_global_id("ConnectedApp", app.id)

    async def add_person(self, name: str | None = None, role: Role = "member") -> User:
        """One more person, for a test that adds people as it goes (with a token, given
        settings)."""
        user = await make_user(
            self.portal, name, super_admin=role == "admin", manager=role == "manager"
        )
        self.people[user.name] = user
        if self.settings is not None:
            self.tokens[user.name] = mint_token(user, self.settings)
        return user


async def make_tenant(
    settings: Settings | None = None,
    *,
    people: Mapping[str, Role] | None = None,
    tier: SubscriptionTier = SubscriptionTier.PROFESSIONAL,
    timezone: str = "UTC",
    teams: Mapping[str, Sequence[str]] | None = None,
    apps: Sequence[str | MarketplaceListing] = (),
    category: str = "Test fixtures",
    installed_at: datetime = T0,
    accounts: Mapping[str, Sequence[str]] | None = None,
) -> Tenant:
    """A portal with `people` (name → role, created in that order; default: one super admin,
    "Ada Admin"), `teams` (name → member names) and `apps` installed by the first person at
    `installed_at` with every scope the tier allows: a name makes a PORTAL listing of that
    name in `category`, a listing is installed as it is (listings are global: a module may
    share a few). `accounts` (app name → account names) connects accounts of MULTI_ACCOUNT
    apps, by the first person at `installed_at`. With `settings`, everyone gets a token, and
    so does anyone `Tenant.add_person` adds later."""
    portal = await make_portal(tier=tier, timezone=timezone)
    roles: Mapping[str, Role] = people if people is not None else {"Ada Admin": "admin"}
    tenant = Tenant(portal, {}, settings=settings)
    for name, role in roles.items():
        await tenant.add_person(name, role)
    made = tenant.people
    for team, members in (teams or {}).items():
        tenant.teams[team] = await make_team(portal, team, [made[m] for m in members])
    installer = next(iter(made.values()), None)
    for spec in apps:
        listing = spec if isinstance(spec, MarketplaceListing) else None
        if listing is None:
            listing = await make_listing(str(spec), category=category)
        tenant.apps[listing.name] = await install(portal, listing, installer, installed_at)
    for app_name, names in (accounts or {}).items():
        for account in names:
            await connect(tenant.apps[app_name], installer, installed_at, account)
    return tenant


__all__ = ["timedelta"]
