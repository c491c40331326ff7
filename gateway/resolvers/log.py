"""Resolvers of the app log: the portal's, an app's, and an entry's relations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway import models as m
from gateway.context import Info
from gateway.errors import BadUserInput
from gateway.models.enums import AppActivity
from gateway.pagination import (
    NEWEST_LOG_FIRST,
    Page,
    PageRequest,
    page_from_rows,
    paginate_queryset,
)
from gateway.resolvers.inputs import decode_ids, enum_set
from gateway.services.log import LogFilter, portal_log


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


def _request(info: Info, first: int | None, after: str | None) -> PageRequest:
    return PageRequest.of(first, after, NEWEST_LOG_FIRST, info.context.settings.max_page_size)


async def portal_app_log(
    portal: m.Portal, info: Info, first: int | None, after: str | None, flt: LogFilter | None
) -> Page[m.AppLogEntry]:
    return await paginate_queryset(portal_log(portal.id, flt), _request(info, first, after))


async def app_log(
    app: m.ConnectedApp, info: Info, first: int | None, after: str | None, flt: LogFilter | None
) -> Page[m.AppLogEntry]:
    """An app's own log; batched across the apps of a page (one statement per page shape)."""
    request = _request(info, first, after)
    loaders = info.context.loaders
    rows = await loaders.log_page_by_app.load((app.id, request, flt))
    return page_from_rows(rows, request, lambda: loaders.log_count_by_app.load((app.id, flt)))


async def entry_app(entry: m.AppLogEntry, info: Info) -> m.ConnectedApp:
    return await info.context.loaders.app_by_id.load(entry.app_id)


async def entry_user(entry: m.AppLogEntry, info: Info) -> m.User | None:
    if entry.user_id is None:
        return None
    return await info.context.loaders.user_by_id.load(entry.user_id)
