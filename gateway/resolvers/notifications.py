"""Resolvers of notification rules, digests and deliveries."""

from __future__ import annotations

from collections.abc import Sequence

from gateway import models as m
from gateway.context import Context, Info
from gateway.loaders import load_all, load_optional
from gateway.pagination import BY_NAME
from gateway.services.digests import MAX_ENTRIES
from gateway.services.webhooks import host_of


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


# --- WEBHOOK and SLACK (DESIGN §6 "More channels"): batch resolvers ---------------------------


def webhook_urls(ctx: Context, rules: Sequence[m.NotificationRule]) -> list[str | None]:
    """The URL is a credential: only MANAGE_NOTIFICATIONS holders read it."""
    may = ctx.viewer.can_manage_notifications
    return [r.webhook_url if may else None for r in rules]


def slack_webhook_urls(ctx: Context, rules: Sequence[m.NotificationRule]) -> list[str | None]:
    may = ctx.viewer.can_manage_notifications
    return [r.slack_webhook_url if may else None for r in rules]


def webhook_hosts(_ctx: Context, rules: Sequence[m.NotificationRule]) -> list[str | None]:
    return [host_of(r.webhook_url) for r in rules]


async def last_deliveries(
    ctx: Context, rules: Sequence[m.NotificationRule]
) -> list[m.Delivery | None]:
    """Deliveries are for MANAGE_NOTIFICATIONS holders (super admins hold it); others see none."""
    if not ctx.viewer.can_manage_notifications:
        return [None for _ in rules]
    return await load_all(ctx.loaders.last_delivery_by_rule, [r.id for r in rules])


async def delivery_rules(
    ctx: Context, deliveries: Sequence[m.Delivery]
) -> list[m.NotificationRule | None]:
    return await load_optional(ctx.loaders.rule_by_id, [d.rule_id for d in deliveries])


async def delivery_notifications(
    ctx: Context, deliveries: Sequence[m.Delivery]
) -> list[m.Notification | None]:
    return await load_optional(
        ctx.loaders.notification_by_id, [d.notification_id for d in deliveries]
    )


async def delivery_recipients(
    ctx: Context, deliveries: Sequence[m.Delivery]
) -> list[m.User | None]:
    return await load_optional(ctx.loaders.user_by_id, [d.recipient_id for d in deliveries])
