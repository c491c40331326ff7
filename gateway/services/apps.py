"""Read rules of connected apps (DESIGN §1): derived status, scope states, the summary, filters.

Nothing here is stored: status and update/upgrade flags follow from the marks, alerts, grants
and the portal's tier every time they are read, so they can never disagree with each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import NamedTuple

from gateway import models as m
from gateway.loaders import Loaders, ScopeRow, load_all
from gateway.models.enums import AppStatus, InstallLevel, ScopeState, SubscriptionTier
from gateway.services import usage


class ScopeView(NamedTuple):
    """One requested scope as this portal sees it. A named tuple: a page makes hundreds, and
    a frozen dataclass costs a setattr call per field to build."""

    name: str
    description: str
    state: ScopeState
    required_tier: SubscriptionTier
    required: bool


@dataclass(frozen=True)
class AppFilter:
    statuses: frozenset[AppStatus] | None = None
    install_levels: frozenset[InstallLevel] | None = None
    search: str | None = None
    needs_attention: bool | None = None
    # Installed apps without calls in the last N UTC days (services/usage.py).
    unused_for_days: int | None = None


@dataclass(frozen=True)
class AppSummary:
    total: int
    connected: int
    disconnected: int
    errored: int
    update_available: int
    upgrade_available: int


def derive_status(app: m.ConnectedApp, has_open_alert: bool) -> AppStatus | None:
    """The status rule (DESIGN §1), from the facts it needs."""
    if app.uninstalled_at is not None or app.install_level is InstallLevel.MULTI_ACCOUNT:
        return None
    if app.disconnected:
        return AppStatus.DISCONNECTED
    if has_open_alert:
        return AppStatus.ERROR
    return AppStatus.CONNECTED


def within_tier(required_tier: SubscriptionTier, tier: SubscriptionTier) -> bool:
    """A portal on `tier` may hold a scope that needs `required_tier`."""
    return required_tier.rank <= tier.rank


def scope_state(
    scope: m.ListingScope | ScopeRow, granted: bool, tier: SubscriptionTier
) -> ScopeState:
    return state_of(scope.required_tier, granted, tier)


def state_of(required_tier: SubscriptionTier, granted: bool, tier: SubscriptionTier) -> ScopeState:
    # A scope above the tier needs an upgrade even when granted (after a downgrade).
    if not within_tier(required_tier, tier):
        return ScopeState.NEEDS_UPGRADE
    return ScopeState.GRANTED if granted else ScopeState.NEEDS_REAUTHORIZATION


@cache
def _states(tier: SubscriptionTier) -> dict[tuple[SubscriptionTier, bool], ScopeState]:
    """`state_of` on `tier`, for every required tier and grant: looked up per scope."""
    return {(t, g): state_of(t, g, tier) for t in SubscriptionTier for g in (False, True)}


def scope_views(scopes: Sequence[ScopeRow], tier: SubscriptionTier) -> list[ScopeView]:
    """An installed app's scopes, or a listing's before install: what an install would give
    (its rows say granted)."""
    states = _states(tier)
    # tuple.__new__: a named tuple's own constructor is a Python call, and a page makes 400.
    return [
        tuple.__new__(
            ScopeView, (name, description, states[required_tier, granted], required_tier, required)
        )
        for name, description, required_tier, required, granted in scopes
    ]


async def statuses(loaders: Loaders, apps: Sequence[m.ConnectedApp]) -> list[AppStatus | None]:
    """The status of apps being read: their open alerts are loaded in one batch."""
    # Loaded even where the answer can't depend on it, so a page's `alerts` share this batch.
    alerts = await load_all(loaders.open_alerts_by_app, [a.id for a in apps])
    return [derive_status(app, bool(open_)) for app, open_ in zip(apps, alerts, strict=True)]


async def current_status(app: m.ConnectedApp) -> AppStatus | None:
    """The status of an app being changed, as its row is now (inside the writer's transaction,
    so before and after a change read the same way)."""
    return derive_status(app, await has_open_alert(app.id))


async def has_open_alert(app_id: int) -> bool:
    return await m.AppAlert.filter(app_id=app_id, resolved_at=None).exists()


async def scope_lists(
    loaders: Loaders, apps: Sequence[m.ConnectedApp], tier: SubscriptionTier
) -> list[list[ScopeView]]:
    """Each app's scopes; none for an uninstalled app (its grants went with the uninstall)."""
    views, flags = _derived_scopes(loaders, tier)
    missing = [a for a in apps if a.id not in views]
    if missing:
        found = await load_all(loaders.scopes_by_app, [a.id for a in missing])
        for app, scopes in zip(missing, found, strict=True):
            # Sibling fields (the summary and the list) ask at once and share the loads: the
            # first to resume makes the views, the others find them.
            if app.id not in views:
                made = [] if app.uninstalled_at is not None else scope_views(scopes, tier)
                views[app.id] = made
                # Read three times by a page (the summary and both flags of each app).
                flags[app.id] = flags_of(made)
    return [views[a.id] for a in apps]


def _derived_scopes(
    loaders: Loaders, tier: SubscriptionTier
) -> tuple[dict[int, list[ScopeView]], dict[int, tuple[bool, bool]]]:
    """The request's scope views and flags made so far for `tier`, by app id: looked up by an
    int per app, where a page's fields ask for 50 apps' several times."""
    made: tuple[dict[int, list[ScopeView]], dict[int, tuple[bool, bool]]]
    made = loaders.derived.setdefault(("scopes", tier), ({}, {}))
    return made


def flags_of(scopes: list[ScopeView]) -> tuple[bool, bool]:
    """(updateAvailable, upgradeAvailable) of an app with these scopes."""
    states = {s.state for s in scopes}
    return ScopeState.NEEDS_REAUTHORIZATION in states, ScopeState.NEEDS_UPGRADE in states


async def flags(
    loaders: Loaders, apps: Sequence[m.ConnectedApp], tier: SubscriptionTier
) -> list[tuple[bool, bool]]:
    """(updateAvailable, upgradeAvailable) of each app."""
    await scope_lists(loaders, apps, tier)  # works them out with the scopes
    _views, made = _derived_scopes(loaders, tier)
    return [made[a.id] for a in apps]


class _Facts(NamedTuple):
    app: m.ConnectedApp
    status: AppStatus | None
    update: bool
    upgrade: bool
    # An open alert nobody has acknowledged: what makes an ERROR app need attention.
    unacknowledged: bool

    @property
    def needs_attention(self) -> bool:
        """DISCONNECTED, ERROR with an unacknowledged alert, or a scope to reauthorize or
        upgrade (DESIGN §1, §6)."""
        return (
            self.status is AppStatus.DISCONNECTED
            or (self.status is AppStatus.ERROR and self.unacknowledged)
            or self.update
            or self.upgrade
        )


async def _facts(loaders: Loaders, portal: m.Portal) -> list[_Facts]:
    """What the list's filters and the summary read of each installed app, worked out once
    per request: the summary and the list ask for it at once, and the first to ask makes it
    while the other waits for its future."""
    key = ("facts", portal.id)
    made: asyncio.Future[list[_Facts]] | None = loaders.derived.get(key)
    if made is not None:
        return await made
    made = loaders.derived[key] = asyncio.get_running_loop().create_future()
    try:
        apps = await loaders.installed_apps_by_portal.load(portal.id)
        alerts, pairs = await asyncio.gather(
            load_all(loaders.open_alerts_by_app, [a.id for a in apps]),
            flags(loaders, apps, portal.tier),
        )
        facts = [
            _Facts(
                app,
                derive_status(app, bool(open_)),
                update,
                upgrade,
                any(a.acknowledged_at is None for a in open_),
            )
            for app, open_, (update, upgrade) in zip(apps, alerts, pairs, strict=True)
        ]
    except BaseException as exc:
        loaders.derived.pop(key, None)  # the next to ask tries again, as after a loader's failure
        if isinstance(exc, Exception):
            made.set_exception(exc)
            made.exception()  # retrieved here: only a waiting caller re-raises it
        else:
            made.cancel()
        raise
    made.set_result(facts)
    return facts


async def list_apps(
    loaders: Loaders, portal: m.Portal, flt: AppFilter, now: datetime
) -> list[m.ConnectedApp]:
    """The portal's installed apps matching `flt`, by name (`now` tells the UTC days of
    `unused_for_days`).

    Filtered in memory over one snapshot: status is derived, so it has no column to index, and
    a portal's installed apps are few (tens to hundreds); the snapshot costs a fixed number
    of batched queries, shared with the summary and the fields of the page.
    """
    search = flt.search.lower() if flt.search else None
    facts = await _facts(loaders, portal)
    unused: set[int] | None = None
    if flt.unused_for_days is not None:
        unused = await usage.unused_among([f.app for f in facts], flt.unused_for_days, now)
    out = []
    for f in facts:
        if flt.statuses is not None and f.status not in flt.statuses:
            continue
        if flt.install_levels is not None and f.app.install_level not in flt.install_levels:
            continue
        if search and search not in f.app.sort_name:
            continue
        if flt.needs_attention is not None and f.needs_attention != flt.needs_attention:
            continue
        if unused is not None and f.app.id not in unused:
            continue
        out.append(f.app)
    return out


async def summary(loaders: Loaders, portal: m.Portal) -> AppSummary:
    """Counts over installed apps other than MULTI_ACCOUNT (they show no status)."""
    facts = [f for f in await _facts(loaders, portal) if f.status is not None]
    return AppSummary(
        total=len(facts),
        connected=sum(f.status is AppStatus.CONNECTED for f in facts),
        disconnected=sum(f.status is AppStatus.DISCONNECTED for f in facts),
        errored=sum(f.status is AppStatus.ERROR for f in facts),
        update_available=sum(f.update for f in facts),
        upgrade_available=sum(f.upgrade for f in facts),
    )
