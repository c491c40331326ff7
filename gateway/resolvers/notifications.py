"""Resolvers of notification rules, digests and deliveries."""

from __future__ import annotations

from gateway import models as m
from gateway.context import Info
from gateway.pagination import BY_NAME
from gateway.services.digests import MAX_ENTRIES


async def rule_apps(rule: m.NotificationRule, info: Info) -> list[m.ConnectedApp]:
    loaders = info.context.loaders
    links = await loaders.rule_apps_by_rule.load(rule.id)
    apps = await loaders.app_by_id.load_many([link.app_id for link in links])
    return sorted((a for a in apps if a is not None), key=BY_NAME.key)


async def rule_users(rule: m.NotificationRule, info: Info) -> list[m.User]:
    loaders = info.context.loaders
    links = await loaders.rule_users_by_rule.load(rule.id)
    users = await loaders.user_by_id.load_many([link.user_id for link in links])
    return sorted((u for u in users if u is not None), key=BY_NAME.key)


async def rule_teams(rule: m.NotificationRule, info: Info) -> list[m.Team]:
    loaders = info.context.loaders
    links = await loaders.rule_teams_by_rule.load(rule.id)
    teams = await loaders.team_by_id.load_many([link.team_id for link in links])
    return sorted((t for t in teams if t is not None), key=BY_NAME.key)


async def user_by_id(user_id: int | None, info: Info) -> m.User | None:
    if user_id is None:
        return None
    return await info.context.loaders.user_by_id.load(user_id)


async def notification_rule(n: m.Notification, info: Info) -> m.NotificationRule | None:
    if n.rule_id is None:
        return None  # the rule was deleted; its past digests stay
    return await info.context.loaders.rule_by_id.load(n.rule_id)


async def notification_entries(n: m.Notification, info: Info) -> list[m.AppLogEntry]:
    """The digest's newest entries (at most `MAX_ENTRIES`), newest first."""
    loaders = info.context.loaders
    links = await loaders.entries_by_notification.load(n.id)
    entries = await loaders.log_entry_by_id.load_many([link.entry_id for link in links])
    present = [e for e in entries if e is not None]
    return sorted(present, key=lambda e: (e.occurred_at, e.id), reverse=True)[:MAX_ENTRIES]


async def delivery_notification(d: m.Delivery, info: Info) -> m.Notification:
    return await info.context.loaders.notification_by_id.load(d.notification_id)
