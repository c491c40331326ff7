"""Scope changes (DESIGN §6 "Scope changes"): what a change of an app's grants, or of its
listing's request, added and removed, kept beside the change's log entry; and what a reauthorize
would do now.

Names keep the order they are shown in: added ones in the listing's order (or the grants'), and
removed ones in the order they had (the old request's), or by name where they had none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway import models as m
from gateway.loaders import Loaders, load_all
from gateway.models.enums import AppActivity, ScopeState, SubscriptionTier
from gateway.services.apps import ScopeView, scope_lists


@dataclass(frozen=True)
class ScopeDiff:
    """Scope names added and removed (the GraphQL type ScopeChanges)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def between(before: Sequence[str], after: Sequence[str]) -> ScopeDiff:
    """From the names `before` to the names `after`: the new ones in `after`'s order, the gone
    ones in `before`'s."""
    old, new = set(before), set(after)
    return ScopeDiff(
        added=list(dict.fromkeys(n for n in after if n not in old)),
        removed=list(dict.fromkeys(n for n in before if n not in new)),
    )


def stale_grants(requested: Iterable[str], granted: Iterable[str]) -> list[str]:
    """Granted names the listing no longer requests, by name: a reauthorize drops them."""
    wanted = set(requested)
    return sorted(n for n in set(granted) if n not in wanted)


def pending(scopes: Sequence[ScopeView], granted: Iterable[str]) -> ScopeDiff:
    """What reauthorizing an installed app would do now: grant every NEEDS_REAUTHORIZATION
    scope (in the listing's order) and drop the grants the listing no longer requests."""
    return ScopeDiff(
        added=[s.name for s in scopes if s.state is ScopeState.NEEDS_REAUTHORIZATION],
        removed=stale_grants((s.name for s in scopes), granted),
    )


async def pending_changes(
    loaders: Loaders, apps: Sequence[m.ConnectedApp], tier: SubscriptionTier
) -> list[ScopeDiff]:
    """`pending` of each app, in two batched reads for any number of apps (the scopes with
    their grants, shared with the page's `scopes` and flags, and the grants' names); nothing
    for an uninstalled app, which holds no grants and cannot be reauthorized."""
    installed = [a for a in apps if a.uninstalled_at is None]
    views, grants = await asyncio.gather(
        scope_lists(loaders, installed, tier),
        load_all(loaders.grant_names_by_app, [a.id for a in installed]),
    )
    found = {a.id: pending(v, g) for a, v, g in zip(installed, views, grants, strict=True)}
    return [found.get(a.id, ScopeDiff()) for a in apps]


async def record(entry: m.AppLogEntry, diff: ScopeDiff) -> None:
    """Keep `diff` with the entry that announces it (in the entry's transaction)."""
    await m.LoggedScopeChange.create(entry_id=entry.id, added=diff.added, removed=diff.removed)


async def revoked_by_last_uninstall(app_id: int) -> list[str]:
    """The grants the app's latest uninstall revoked, as its UNINSTALLED entry keeps them
    (none known for an uninstall made before scope changes were kept)."""
    row = (
        await m.LoggedScopeChange.filter(
            entry__app_id=app_id, entry__activity=AppActivity.UNINSTALLED
        )
        .order_by("-entry_id")
        .first()
    )
    return list(row.removed) if row is not None else []
