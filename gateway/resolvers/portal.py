"""Resolvers of Portal's lists, the viewer and the people directory."""

from __future__ import annotations

from collections.abc import Sequence

from gateway import clock
from gateway import models as m
from gateway.context import Context, Info
from gateway.loaders import load_optional
from gateway.models.enums import DeliveryStatus
from gateway.pagination import (
    BY_NAME,
    NEWEST_CREATED_FIRST,
    Order,
    Page,
    PageRequest,
    page_size,
    paginate_list,
    paginate_queryset,
)
from gateway.resolvers.inputs import text_argument
from gateway.resolvers.usage import checked_days
from gateway.services import apps as app_service
from gateway.services import catalogue
from gateway.services import deliveries as delivery_service
from gateway.services import inbox as inbox_service
from gateway.services import permissions as permission_service
from gateway.services import usage as usage_service
from gateway.services.apps import AppFilter, AppSummary


def _request(
    info: Info, first: int | None, after: str | None, order: Order = BY_NAME
) -> PageRequest:
    return PageRequest.of(first, after, order, info.context.settings.max_page_size)


async def app_summary(portal: m.Portal, info: Info) -> AppSummary:
    return await app_service.summary(info.context.loaders, portal)


async def connected_apps(
    portal: m.Portal, info: Info, first: int | None, after: str | None, flt: AppFilter
) -> Page[m.ConnectedApp]:
    request = _request(info, first, after)
    text_argument(flt.search, "filter.search")
    if flt.unused_for_days is not None:
        checked_days(
            flt.unused_for_days,
            "filter.unusedForDays",
            usage_service.MIN_UNUSED_DAYS,
            usage_service.MAX_UNUSED_DAYS,
        )
    found = await app_service.list_apps(info.context.loaders, portal, flt, clock.utc_now())
    return paginate_list(found, request)


async def marketplace(
    portal: m.Portal,
    info: Info,
    first: int | None,
    after: str | None,
    search: str | None,
    category: str | None,
) -> Page[m.MarketplaceListing]:
    request = _request(info, first, after)
    search, category = text_argument(search, "search"), text_argument(category, "category")
    return await paginate_queryset(
        catalogue.installable_listings(portal.id, search, category), request
    )


async def learning_resources(info: Info, first: int | None) -> list[m.LearningResource]:
    size = page_size(first, info.context.settings.max_page_size)
    return await catalogue.general_resources(size)


async def users(
    portal: m.Portal, info: Info, first: int | None, after: str | None, search: str | None
) -> Page[m.User]:
    search = text_argument(search, "search")
    qs = m.User.filter(portal_id=portal.id)
    if search:
        qs = qs.filter(name__icontains=search)
    return await paginate_queryset(qs, _request(info, first, after))


async def teams(portal: m.Portal, info: Info, first: int | None, after: str | None) -> Page[m.Team]:
    return await paginate_queryset(m.Team.filter(portal_id=portal.id), _request(info, first, after))


async def team_members(
    team: m.Team, info: Info, first: int | None, after: str | None
) -> Page[m.User]:
    """Members by name. A team is small, so its members are paged in memory after two
    batched loads (memberships, then users), whatever the number of teams on the page."""
    request = _request(info, first, after)
    loaders = info.context.loaders
    memberships = await loaders.memberships_by_team.load(team.id)
    members = await loaders.user_by_id.load_many([ms.user_id for ms in memberships])
    ordered = sorted((u for u in members if u is not None), key=BY_NAME.key)
    return paginate_list(ordered, request)


async def permission_setters(ctx: Context, users: Sequence[m.User]) -> list[m.User | None]:
    """Who last set each user's permissions (null: never set, or that person is gone)."""
    return await load_optional(ctx.loaders.user_by_id, [u.permissions_changed_by_id for u in users])


def viewer_can_set_permissions(ctx: Context, users: Sequence[m.User]) -> list[bool]:
    return [permission_service.refusal(ctx.viewer, u) is None for u in users]


async def user_teams(user: m.User, info: Info) -> list[m.Team]:
    loaders = info.context.loaders
    memberships = await loaders.memberships_by_user.load(user.id)
    teams_ = await loaders.team_by_id.load_many([ms.team_id for ms in memberships])
    return sorted((t for t in teams_ if t is not None), key=BY_NAME.key)


async def notification_rules(
    portal: m.Portal, info: Info, first: int | None, after: str | None
) -> Page[m.NotificationRule]:
    qs = m.NotificationRule.filter(portal_id=portal.id)
    return await paginate_queryset(qs, _request(info, first, after))


async def deliveries(
    portal: m.Portal,
    info: Info,
    first: int | None,
    after: str | None,
    status: DeliveryStatus | None,
) -> Page[m.Delivery]:
    request = _request(info, first, after, NEWEST_CREATED_FIRST)
    qs = delivery_service.visible_deliveries(portal.id, info.context.viewer, status)
    return await paginate_queryset(qs, request)


async def inbox(
    info: Info, first: int | None, after: str | None, unread_only: bool | None
) -> Page[m.Notification]:
    request = _request(info, first, after, NEWEST_CREATED_FIRST)
    qs = inbox_service.inbox(info.context.viewer.id, bool(unread_only))
    return await paginate_queryset(qs, request)
