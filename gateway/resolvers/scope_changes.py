"""Batch resolvers of scope changes (DESIGN §6 "Scope changes"): what a log entry's change
added and removed, and what reauthorizing an app would do now."""

from __future__ import annotations

from collections.abc import Sequence

from gateway import models as m
from gateway.context import Context
from gateway.loaders import load_all
from gateway.services.scope_changes import ScopeDiff, pending_changes


async def entry_scope_changes(
    ctx: Context, entries: Sequence[m.AppLogEntry]
) -> list[ScopeDiff | None]:
    """The scopes an entry's change added and removed, as kept with it; null for entries
    that changed no grants or request (and for those logged before changes were kept)."""
    found: list[list[m.LoggedScopeChange]] = await load_all(
        ctx.loaders.scope_change_by_entry, [e.id for e in entries]
    )
    return [
        ScopeDiff(list(rows[0].added), list(rows[0].removed)) if rows else None for rows in found
    ]


async def pending_scope_changes(ctx: Context, apps: Sequence[m.ConnectedApp]) -> list[ScopeDiff]:
    return await pending_changes(ctx.loaders, apps, ctx.portal.tier)
