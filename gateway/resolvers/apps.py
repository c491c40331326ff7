"""Batch resolvers of ConnectedApp, its connections and the catalogue: each takes every parent
of a field step at once and returns one value per parent (gateway/executor/batch.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gateway import models as m
from gateway.context import Context
from gateway.loaders import load_all, load_optional
from gateway.models.enums import AppStatus, InstallLevel
from gateway.pagination import OLDEST_CONNECTED_FIRST, PageOf, PageRequest, nested_pages
from gateway.services import access
from gateway.services import apps as service
from gateway.services.apps import ScopeView
from gateway.services.scope_changes import pending_changes


async def statuses(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[AppStatus | None]:
    return await service.statuses(ctx.loaders, apps)


async def alerts(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[list[m.AppAlert]]:
    found = await load_all(ctx.loaders.open_alerts_by_app, [a.id for a in apps])
    return [[] if a.uninstalled_at is not None else f for a, f in zip(apps, found, strict=True)]


async def installers(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[m.User | None]:
    return await load_optional(ctx.loaders.user_by_id, [a.installed_by_id for a in apps])


async def listings(
    ctx: Context, apps: Sequence[m.ConnectedApp]
) -> list[m.MarketplaceListing | None]:
    found: list[m.MarketplaceListing | None] = await load_all(
        ctx.loaders.listing_by_id, [a.listing_id for a in apps]
    )
    return found


async def scopes(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[list[ScopeView]]:
    return await service.scope_lists(ctx.loaders, apps, ctx.portal.tier)


async def updates_available(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[bool]:
    return [update for update, _ in await service.flags(ctx.loaders, apps, ctx.portal.tier)]


async def upgrades_available(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[bool]:
    return [upgrade for _, upgrade in await service.flags(ctx.loaders, apps, ctx.portal.tier)]


def connections(
    ctx: Context, apps: Sequence[m.ConnectedApp], first: int | None, after: str | None
) -> list[PageOf[m.AppConnection]]:
    """Each app's page of connections, read (one windowed statement for all of them) only if
    its items are asked for."""
    loaders = ctx.loaders
    request = PageRequest.of(first, after, OLDEST_CONNECTED_FIRST, ctx.settings.max_page_size)
    return nested_pages(
        loaders.connection_page_by_app,
        loaders.connection_count_by_app,
        [a.id for a in apps],
        request,
    )


async def manage_connections_urls(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[str | None]:
    multi = [a for a in apps if a.install_level is InstallLevel.MULTI_ACCOUNT]
    found = await listings(ctx, multi)
    urls = {
        a.id: listing.manage_connections_url
        for a, listing in zip(multi, found, strict=True)
        if listing
    }
    return [urls.get(a.id) for a in apps]


async def learning_resources(ctx: Context, rows: Sequence[Any]) -> list[list[m.LearningResource]]:
    """For apps or listings: the listing's own resources."""
    listing_ids = [r.listing_id if isinstance(r, m.ConnectedApp) else r.id for r in rows]
    found: list[list[m.LearningResource]] = await load_all(
        ctx.loaders.resources_by_listing, listing_ids
    )
    return found


def viewer_can_manage(ctx: Context) -> bool:
    """The old promise: the viewer may both uninstall and reauthorize apps."""
    return ctx.viewer.can_uninstall and ctx.viewer.can_approve


def viewer_can_uninstall(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[bool]:
    may = ctx.viewer.can_uninstall
    return [may and app.uninstalled_at is None for app in apps]


async def viewer_can_reauthorize(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[bool]:
    """The permission, an installed app, and something a reauthorize would do: a scope to
    grant (updateAvailable) or a grant of a scope no longer requested to drop."""
    may = ctx.viewer.can_approve
    if not may:
        return [False] * len(apps)
    pending = await pending_changes(ctx.loaders, apps, ctx.portal.tier)
    return [
        app.uninstalled_at is None and bool(diff) for app, diff in zip(apps, pending, strict=True)
    ]


async def viewer_can_install(ctx: Context, listings_: Sequence[m.MarketplaceListing]) -> list[bool]:
    """The viewer's install would be taken: the permission for its level, every required
    scope within the tier, and nothing it could only conflict with."""
    loaders, viewer = ctx.loaders, ctx.viewer
    installed = {
        a.listing_id: a.id for a in await loaders.installed_apps_by_portal.load(ctx.portal.id)
    }
    scopes = await load_all(loaders.scopes_by_listing, [listing.id for listing in listings_])
    user_apps = [
        installed[listing.id]
        for listing in listings_
        if listing.install_level is InstallLevel.USER and listing.id in installed
    ]
    connected = set()
    if user_apps:
        connected = set(
            await m.AppConnection.filter(app_id__in=user_apps, user_id=viewer.id).values_list(
                "app_id", flat=True
            )
        )
    return [
        access.may_install(viewer, listing.install_level)
        and access.within_plan(requested, ctx.portal.tier)
        and not access.already_installed(
            listing.install_level,
            listing.id in installed,
            installed.get(listing.id) in connected,
        )
        for listing, requested in zip(listings_, scopes, strict=True)
    ]


async def connection_users(
    ctx: Context, connections: Sequence[m.AppConnection]
) -> list[m.User | None]:
    return await load_optional(ctx.loaders.user_by_id, [c.user_id for c in connections])


async def requested_scopes(
    ctx: Context, listings_: Sequence[m.MarketplaceListing]
) -> list[list[ScopeView]]:
    """As this portal would get them: from its installed app if there is one, else what an
    install would give (GRANTED where the tier allows, else NEEDS_UPGRADE)."""
    loaders = ctx.loaders
    tier = ctx.portal.tier
    installed = {
        a.listing_id: a for a in await loaders.installed_apps_by_portal.load(ctx.portal.id)
    }
    apps = [installed[listing.id] for listing in listings_ if listing.id in installed]
    others = [listing.id for listing in listings_ if listing.id not in installed]
    of_apps, of_listings = await asyncio.gather(
        service.scope_lists(loaders, apps, tier), load_all(loaders.scopes_by_listing, others)
    )
    by_listing = {a.listing_id: views for a, views in zip(apps, of_apps, strict=True)}
    for listing_id, requested in zip(others, of_listings, strict=True):
        by_listing[listing_id] = service.scope_views(requested, tier)
    return [by_listing[listing.id] for listing in listings_]
