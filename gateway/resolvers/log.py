"""Resolvers of the app log: the portal's, an app's, and an entry's relations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway import models as m
from gateway.context import Context
from gateway.errors import BadUserInput
from gateway.loaders import load_all, load_optional
from gateway.models.enums import AppActivity
from gateway.pagination import NEWEST_LOG_FIRST, Page, PageOf, PageRequest, nested_pages
from gateway.resolvers.inputs import decode_ids, enum_set
from gateway.services.log import LogFilter, portal_log_page


def log_filter(
    activities: list[AppActivity] | None,
    user_ids: Sequence[str] | None,
    app_ids: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> LogFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadUserInput(f"`filter.{name}` needs a timezone (ISO 8601 with Z or an offset)")
    return LogFilter(
        activities=enum_set(activities),
        user_ids=decode_ids(user_ids, "User", "filter.userIds"),
        app_ids=decode_ids(app_ids, "ConnectedApp", "filter.appIds"),
        since=since,
        until=until,
    )


def _page_of(
    ctx: Context, first: int | None, after: str | None, filter: Any
) -> tuple[LogFilter | None, PageRequest]:
    """A log field's arguments: its filter (an AppLogFilter input) and its page."""
    flt = filter.to_filter() if filter is not None else None
    return flt, PageRequest.of(first, after, NEWEST_LOG_FIRST, ctx.settings.max_page_size)


async def portal_app_logs(
    ctx: Context,
    portals: Sequence[m.Portal],
    first: int | None,
    after: str | None,
    filter: Any = None,
) -> list[Page[m.AppLogEntry]]:
    """Each portal's log page (a request reads its own portal's, so there is one)."""
    flt, request = _page_of(ctx, first, after, filter)
    return [await portal_log_page(p.id, flt, request, ctx.loaders) for p in portals]


def app_logs(
    ctx: Context,
    apps: Sequence[m.ConnectedApp],
    first: int | None,
    after: str | None,
    filter: Any = None,
) -> list[PageOf[m.AppLogEntry]]:
    """Each app's own log page, read (one windowed statement for all the apps of a page) only
    if its entries are asked for."""
    flt, request = _page_of(ctx, first, after, filter)
    loaders = ctx.loaders
    return nested_pages(
        loaders.log_page_by_app, loaders.log_count_by_app, [a.id for a in apps], request, flt
    )


async def entry_apps(ctx: Context, entries: Sequence[m.AppLogEntry]) -> list[m.ConnectedApp]:
    found: list[m.ConnectedApp] = await load_all(ctx.loaders.app_by_id, [e.app_id for e in entries])
    return found


async def entry_users(ctx: Context, entries: Sequence[m.AppLogEntry]) -> list[m.User | None]:
    return await load_optional(ctx.loaders.user_by_id, [e.user_id for e in entries])
