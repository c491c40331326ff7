"""`node` and `nodes`: any object by global id, or null when the viewer may not see it.

A foreign object, a wrong type, garbage and a missing row all give the same null, so ids
reveal nothing about other portals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.context import Context, Info
from gateway.errors import BadUserInput
from gateway.ids import from_global_id
from gateway.services.install_requests import may_see


async def _in_portal(ctx: Context, row: Any) -> bool:
    return row.portal_id == ctx.portal.id


async def _app_in_portal(ctx: Context, row: Any) -> bool:
    app = await ctx.loaders.app_by_id.load(row.app_id)
    return app is not None and app.portal_id == ctx.portal.id


async def _own(ctx: Context, row: Any) -> bool:
    return row.recipient_id == ctx.viewer.id


async def _manages_notifications_in_portal(ctx: Context, row: Any) -> bool:
    return ctx.viewer.can_manage_notifications and row.portal_id == ctx.portal.id


async def _request_visible(ctx: Context, row: Any) -> bool:
    return may_see(ctx.viewer, row)


async def _everyone(_ctx: Context, _row: Any) -> bool:
    return True


async def _this_portal(ctx: Context, row: Any) -> bool:
    return row.id == ctx.portal.id


Visible = Callable[[Context, Any], Awaitable[bool]]

# GraphQL type name -> (loader attribute, who may see it).
NODE_TYPES: dict[str, tuple[str, Visible]] = {
    "Portal": ("portal_by_id", _this_portal),
    "User": ("user_by_id", _in_portal),
    "Team": ("team_by_id", _in_portal),
    "ConnectedApp": ("app_by_id", _in_portal),
    "AppConnection": ("connection_by_id", _app_in_portal),
    "AppAlert": ("alert_by_id", _app_in_portal),
    "AppLogEntry": ("log_entry_by_id", _in_portal),
    "NotificationRule": ("rule_by_id", _in_portal),
    "Notification": ("notification_by_id", _own),
    "Delivery": ("delivery_by_id", _manages_notifications_in_portal),
    "MarketplaceListing": ("listing_by_id", _everyone),
    "LearningResource": ("learning_resource_by_id", _everyone),
    "InstallRequest": ("install_request_by_id", _request_visible),
}


async def node(info: Info, global_id: str) -> Any | None:
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] not in NODE_TYPES:
        return None
    loader_name, visible = NODE_TYPES[parsed[0]]
    ctx = info.context
    row = await getattr(ctx.loaders, loader_name).load(parsed[1])
    if row is None or not await visible(ctx, row):
        return None
    return row


async def nodes(info: Info, ids: Sequence[str]) -> list[Any | None]:
    limit = info.context.settings.max_node_ids
    if len(ids) > limit:
        raise BadUserInput(f"`ids` takes at most {limit} ids, got {len(ids)}", argument="ids")
    return list(await asyncio.gather(*(node(info, i) for i in ids)))
