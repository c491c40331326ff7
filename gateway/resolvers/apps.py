"""Resolvers of ConnectedApp, its connections and the catalogue."""

from __future__ import annotations

from typing import Any

from gateway import models as m
from gateway.context import Info
from gateway.models.enums import AppStatus
from gateway.pagination import OLDEST_CONNECTED_FIRST, Page, PageRequest, page_from_rows
from gateway.services import apps as service
from gateway.services.apps import ScopeView


async def status(app: m.ConnectedApp, info: Info) -> AppStatus | None:
    return await service.status(info.context.loaders, app)


async def alerts(app: m.ConnectedApp, info: Info) -> list[m.AppAlert]:
    if app.uninstalled_at is not None:
        return []
    return await info.context.loaders.open_alerts_by_app.load(app.id)


async def installed_by(app: m.ConnectedApp, info: Info) -> m.User | None:
    if app.installed_by_id is None:
        return None
    return await info.context.loaders.user_by_id.load(app.installed_by_id)


async def listing(app: m.ConnectedApp, info: Info) -> m.MarketplaceListing:
    return await info.context.loaders.listing_by_id.load(app.listing_id)


async def scopes(app: m.ConnectedApp, info: Info) -> list[ScopeView]:
    if app.uninstalled_at is not None:
        return []  # grants were revoked with the uninstall
    return await service.scopes(info.context.loaders, app, info.context.portal.tier)


async def update_available(app: m.ConnectedApp, info: Info) -> bool:
    if app.uninstalled_at is not None:
        return False
    return (await service.flags(info.context.loaders, app, info.context.portal.tier))[0]


async def upgrade_available(app: m.ConnectedApp, info: Info) -> bool:
    if app.uninstalled_at is not None:
        return False
    return (await service.flags(info.context.loaders, app, info.context.portal.tier))[1]


async def connections(
    app: m.ConnectedApp, info: Info, first: int | None, after: str | None
) -> Page[m.AppConnection]:
    loaders = info.context.loaders
    request = PageRequest.of(
        first, after, OLDEST_CONNECTED_FIRST, info.context.settings.max_page_size
    )
    rows = await loaders.connection_page_by_app.load((app.id, request, None))
    return page_from_rows(
        rows, request, lambda: loaders.connection_count_by_app.load((app.id, None))
    )


async def manage_connections_url(app: m.ConnectedApp, info: Info) -> str | None:
    if app.install_level is not m.enums.InstallLevel.MULTI_ACCOUNT:
        return None
    return (await listing(app, info)).manage_connections_url


async def learning_resources(row: Any, info: Info) -> list[m.LearningResource]:
    """For an app or a listing: the listing's own resources."""
    listing_id = row.listing_id if isinstance(row, m.ConnectedApp) else row.id
    return await info.context.loaders.resources_by_listing.load(listing_id)


def viewer_can_manage(info: Info) -> bool:
    return info.context.viewer.can_manage


async def connection_user(conn: m.AppConnection, info: Info) -> m.User | None:
    if conn.user_id is None:
        return None
    return await info.context.loaders.user_by_id.load(conn.user_id)


async def requested_scopes(listing_row: m.MarketplaceListing, info: Info) -> list[ScopeView]:
    """As this portal would get them: from its installed app if there is one, else what an
    install would give (GRANTED where the tier allows, else NEEDS_UPGRADE)."""
    loaders = info.context.loaders
    tier = info.context.portal.tier
    for app in await loaders.installed_apps_by_portal.load(info.context.portal.id):
        if app.listing_id == listing_row.id:
            return await service.scopes(loaders, app, tier)
    return service.scope_views(await loaders.scopes_by_listing.load(listing_row.id), None, tier)
