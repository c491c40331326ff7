"""Batch resolvers of alerts and of the log entries that announce them (DESIGN §6 "Errors in
the log, alerts acknowledged, told once")."""

from __future__ import annotations

from collections.abc import Sequence

from gateway import models as m
from gateway.context import Context
from gateway.loaders import load_all, load_optional
from gateway.services.access import may_acknowledge


async def acknowledgers(ctx: Context, alerts: Sequence[m.AppAlert]) -> list[m.User | None]:
    return await load_optional(ctx.loaders.user_by_id, [a.acknowledged_by_id for a in alerts])


def viewer_can_acknowledge(ctx: Context, alerts: Sequence[m.AppAlert]) -> list[bool]:
    """The permission, and an open alert nobody has acknowledged yet."""
    may = may_acknowledge(ctx.viewer)
    return [may and a.resolved_at is None and a.acknowledged_at is None for a in alerts]


async def entry_alert_reasons(
    ctx: Context, entries: Sequence[m.AppLogEntry]
) -> list[m.LoggedAlert | None]:
    """The reason an ERROR_RAISED/ERROR_RESOLVED entry announces, as it was then."""
    found: list[list[m.LoggedAlert]] = await load_all(
        ctx.loaders.logged_alert_by_entry, [e.id for e in entries]
    )
    return [rows[0] if rows else None for rows in found]


async def entry_alerts(ctx: Context, entries: Sequence[m.AppLogEntry]) -> list[m.AppAlert | None]:
    """The alert itself, as it is now."""
    logged = await entry_alert_reasons(ctx, entries)
    return await load_optional(
        ctx.loaders.alert_by_id, [row.alert_id if row else None for row in logged]
    )
