"""Test data built straight through the models: a portal of its own for each test that needs
one, so tests never disturb the shared demo data or each other."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    ConnectedApp,
    GrantedScope,
    ListingScope,
    MarketplaceListing,
    Portal,
    User,
)
from gateway.models.enums import AlertSeverity, AppActivity, InstallLevel, SubscriptionTier

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
    portal: Portal, name: str | None = None, *, super_admin: bool = False, manager: bool = False
) -> User:
    name = name or unique("User")
    return await User.create(
        portal=portal,
        name=name,
        sort_name=name.lower(),
        email=f"{name.lower().replace(' ', '.')}@{portal.id}.test",
        is_super_admin=super_admin,
        can_manage_apps=manager,
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
        else [s.name for s in scopes if s.required_tier.rank <= portal.tier.rank]
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


async def connect(
    app: ConnectedApp, user: User | None, at: datetime, account: str | None = None
) -> AppConnection:
    key = AppConnection.key_for(user.id if user else None, account)
    return await AppConnection.create(
        app=app, user=user, account_name=account, connected_at=at, key=key
    )


__all__ = ["timedelta"]
