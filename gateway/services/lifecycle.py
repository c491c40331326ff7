"""App lifecycle from the console: install, uninstall, remove a connection, reauthorize.

Rules are DESIGN §1 ("Install levels", "Who may act", "Scopes", "App log"). Each change and its
log entry commit in one transaction, and races are settled by the database: the unique keys of
apps, connections and grants, the app row's lock (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
serializes writers), and conditional updates. A refusal raises `Refused` before anything is
written, or rolls back what was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from gateway import models as m
from gateway.models.enums import AppActivity, InstallLevel, Permission, ScopeState
from gateway.services import request_notes, scope_changes, text
from gateway.services.access import may_install, require
from gateway.services.apps import current_status, scope_state
from gateway.services.envelopes import Changes, Publisher, StatusChange, unit_of_work
from gateway.services.faults import pause_point
from gateway.services.problems import (
    Problem,
    Refused,
    conflict,
    invalid,
    needs_upgrade,
    not_found,
    refuse_if,
    requires,
    retry_once_on_clash,
)
from gateway.services.scope_changes import ScopeDiff


@dataclass(frozen=True)
class Actor:
    """Who acts, in which portal, and when."""

    user: m.User
    portal: m.Portal
    now: datetime
    publisher: Publisher


async def _lock_app(app_id: int) -> m.ConnectedApp | None:
    return await m.ConnectedApp.filter(id=app_id).select_for_update().first()


async def _log(
    changes: Changes,
    actor: Actor,
    app: m.ConnectedApp,
    activity: AppActivity,
    scopes: ScopeDiff | None = None,
) -> None:
    """Log the change, with the scopes it granted and revoked when it changed grants."""
    entry = await m.AppLogEntry.create(
        portal_id=app.portal_id,
        app_id=app.id,
        user_id=actor.user.id,
        activity=activity,
        occurred_at=actor.now,
        recorded_at=actor.now,
    )
    if scopes is not None:
        await scope_changes.record(entry, scopes)
    changes.logged(app.portal_id, entry.id)


async def _grant(app: m.ConnectedApp, names: list[str], now: datetime) -> None:
    await m.GrantedScope.bulk_create(
        [m.GrantedScope(app_id=app.id, name=n, granted_at=now) for n in names]
    )


# --- what an input says by itself ----------------------------------------------------------


def _above_tier(scope: m.ListingScope, tier: m.enums.SubscriptionTier, index: int) -> Problem:
    """The refusal of a scope named in an input that this portal's tier does not allow."""
    return needs_upgrade(
        f"The scope {scope.name} needs the {scope.required_tier.value} tier; this portal has {tier.value}",
        "input",
        "scopes",
        str(index),
    )


def install_input_problems(scopes: list[str] | None, account_name: str | None) -> list[Problem]:
    """The texts of an install input that no listing could take (gateway/services/text.py).
    Resolvers report them with the input's other problems; the operations check them again, so
    no caller skips them."""
    problems = _scope_name_problems(scopes)
    if account_name is not None:
        # Surrounding whitespace is trimmed before the name is stored: the bound is on what is.
        bad = text.input_problem(account_name.strip(), text.ACCOUNT_NAME, "input", "accountName")
        problems += [bad] if bad else []
    return problems


def reauthorize_input_problems(scopes: list[str] | None) -> list[Problem]:
    return _scope_name_problems(scopes)


def _scope_name_problems(scopes: list[str] | None) -> list[Problem]:
    found = (
        text.input_problem(name, text.SCOPE_NAME, "input", "scopes", str(i))
        for i, name in enumerate(scopes or ())
    )
    return [p for p in found if p is not None]


# --- install ------------------------------------------------------------------------------


def install_scopes(
    listing_scopes: list[m.ListingScope], named: list[str] | None, tier: m.enums.SubscriptionTier
) -> tuple[list[str], list[Problem]]:
    """The scopes an install grants, and what is wrong with the request."""
    problems: list[Problem] = []
    by_name = {s.name: s for s in listing_scopes}
    for s in listing_scopes:
        if s.required and scope_state(s, False, tier) is ScopeState.NEEDS_UPGRADE:
            problems.append(
                needs_upgrade(
                    f"The required scope {s.name} needs the {s.required_tier.value} tier; "
                    f"this portal has {tier.value}",
                    "input",
                    "listingId",
                )
            )
    if named is None:
        granted = [
            s.name
            for s in listing_scopes
            if scope_state(s, False, tier) is not ScopeState.NEEDS_UPGRADE
        ]
        return granted, problems
    for i, name in enumerate(named):
        scope = by_name.get(name)
        if scope is None:
            problems.append(
                invalid(f"The app does not request the scope {name!r}", "input", "scopes", str(i))
            )
        elif not scope.required and scope_state(scope, False, tier) is ScopeState.NEEDS_UPGRADE:
            problems.append(_above_tier(scope, tier, i))
    missing = [s.name for s in listing_scopes if s.required and s.name not in named]
    if missing:
        problems.append(
            invalid(f"Required scopes cannot be left out: {', '.join(missing)}", "input", "scopes")
        )
    return [s.name for s in listing_scopes if s.name in set(named)], problems


@dataclass(frozen=True)
class InstallPlan:
    """An install that passed every check made before writing: what it grants, and the
    connection it adds (None for a PORTAL app)."""

    listing: m.MarketplaceListing
    grants: list[str]
    account_name: str | None
    key: str | None

    @property
    def clash(self) -> Problem:
        """The answer when a concurrent write wins the race (a unique key refuses ours twice)."""
        if self.key is None:
            return conflict("The app is already installed", "input", "listingId")
        what = (
            "This account is already connected"
            if self.account_name
            else "You are already connected to this app"
        )
        return conflict(what, "input", "listingId")


async def plan_install(
    actor: Actor, listing_id: int, scopes: list[str] | None, account_name: str | None
) -> InstallPlan:
    """The checks of an install that need no lock: the listing, the permission, the account
    name, the scopes against the tier. Refuses with every problem found."""
    refuse_if(install_input_problems(scopes, account_name))
    listing = await m.MarketplaceListing.get_or_none(id=listing_id)
    if listing is None:
        raise Refused([not_found("listing", "input", "listingId")])
    level = listing.install_level
    problems: list[Problem] = []
    if not may_install(actor.user, level):
        problems.append(requires(Permission.INSTALL_APPS, "input", "listingId"))
    if level is InstallLevel.MULTI_ACCOUNT:
        account_name = (account_name or "").strip() or None
        if account_name is None:
            problems.append(
                invalid("An external account name is required for this app", "input", "accountName")
            )
    elif account_name is not None:
        problems.append(
            invalid("Only multi-account apps take an accountName", "input", "accountName")
        )
    listing_scopes = await m.ListingScope.filter(listing_id=listing.id).order_by("position", "id")
    grants, scope_problems = install_scopes(listing_scopes, scopes, actor.portal.tier)
    refuse_if(problems + scope_problems)
    key = (
        None
        if level is InstallLevel.PORTAL
        else m.AppConnection.key_for(actor.user.id, account_name)
    )
    return InstallPlan(listing, grants, account_name, key)


async def install_planned(changes: Changes, actor: Actor, plan: InstallPlan) -> m.ConnectedApp:
    """The writes of a planned install, inside the caller's unit of work. A PORTAL app already
    installed is refused (CONFLICT); a unique key refusing a row raises IntegrityError (the
    caller retries once: `retry_once_on_clash`). Pending install requests the install answers
    become APPROVED in the same transaction."""
    listing = plan.listing
    existing = (
        await m.ConnectedApp.filter(portal_id=actor.portal.id, listing_id=listing.id)
        .select_for_update()
        .first()
    )
    await pause_point("install:after-read")
    if existing is not None and existing.uninstalled_at is None:
        if plan.key is None:
            raise Refused([conflict("The app is already installed", "input", "listingId")])
        app = existing
    else:
        app = await _install(changes, actor, listing, existing, plan.grants)
    if plan.key is not None:
        await m.AppConnection.create(
            app_id=app.id,
            user_id=actor.user.id,
            account_name=plan.account_name,
            connected_at=actor.now,
            key=plan.key,
        )
    if listing.install_level is not InstallLevel.USER:
        await request_notes.fulfil_pending(
            changes, actor.user.id, app, plan.account_name, actor.now
        )
    return app


async def install_app(
    actor: Actor, listing_id: int, scopes: list[str] | None, account_name: str | None
) -> m.ConnectedApp:
    plan = await plan_install(actor, listing_id, scopes, account_name)

    async def work() -> m.ConnectedApp:
        async with unit_of_work(actor.publisher) as changes:
            return await install_planned(changes, actor, plan)

    return await retry_once_on_clash(work, plan.clash)


async def _install(
    changes: Changes,
    actor: Actor,
    listing: m.MarketplaceListing,
    existing: m.ConnectedApp | None,
    grants: list[str],
) -> m.ConnectedApp:
    """Install anew, or bring an uninstalled app back with its history and first installer.
    The entry tells what was granted; a reinstall's also what the app held before its
    uninstall and holds no more (its UNINSTALLED entry kept the grants it revoked)."""
    if existing is None:
        app = await m.ConnectedApp.create(
            portal_id=actor.portal.id,
            listing_id=listing.id,
            name=listing.name,
            sort_name=listing.sort_name,
            install_level=listing.install_level,
            installed_at=actor.now,
            installed_by_id=actor.user.id,
        )
        activity = AppActivity.INSTALLED
        held_before: list[str] = []
    else:
        revived = await m.ConnectedApp.filter(id=existing.id, uninstalled_at__isnull=False).update(
            uninstalled_at=None, disconnected=False, mark_changed_at=actor.now
        )
        if revived != 1:
            raise IntegrityError("revived concurrently")  # someone else reinstalled it first
        app = await m.ConnectedApp.get(id=existing.id)
        activity = AppActivity.REINSTALLED
        held_before = await scope_changes.revoked_by_last_uninstall(app.id)
    await _grant(app, grants, actor.now)
    granted = set(grants)
    diff = ScopeDiff(list(grants), [n for n in held_before if n not in granted])
    await _log(changes, actor, app, activity, diff)
    changes.status_changed(
        app.portal_id, StatusChange(app.id, None, await current_status(app), actor.now)
    )
    return app


# --- uninstall and connections --------------------------------------------------------------


async def _app_in_portal(actor: Actor, app_id: int, field: str = "appId") -> m.ConnectedApp:
    app = await m.ConnectedApp.get_or_none(id=app_id, portal_id=actor.portal.id)
    if app is None:
        raise Refused([not_found("app", "input", field)])
    return app


async def _uninstall(changes: Changes, actor: Actor, app: m.ConnectedApp) -> None:
    """Every connection goes, grants are revoked, open alerts close; the history stays, and
    the entry keeps the revoked grants (a reinstall tells what it did not grant again)."""
    previous = await current_status(app)
    # The mark restarts clear; moving its time means a delayed platform event from before
    # this change cannot set it on the reinstalled app.
    done = await m.ConnectedApp.filter(id=app.id, uninstalled_at__isnull=True).update(
        uninstalled_at=actor.now, disconnected=False, mark_changed_at=actor.now
    )
    if done != 1:
        raise Refused([conflict("The app is already uninstalled", "input", "appId")])
    await m.AppConnection.filter(app_id=app.id).delete()
    revoked: list[str] = sorted(
        await m.GrantedScope.filter(app_id=app.id).values_list("name", flat=True)  # type: ignore[arg-type]  # Tortoise types flat values_list() as tuples
    )
    await m.GrantedScope.filter(app_id=app.id).delete()
    await m.AppAlert.filter(app_id=app.id, resolved_at=None).update(
        resolved_at=actor.now, changed_at=actor.now
    )
    await _log(changes, actor, app, AppActivity.UNINSTALLED, ScopeDiff(removed=revoked))
    changes.status_changed(app.portal_id, StatusChange(app.id, previous, None, actor.now))


async def uninstall_app(actor: Actor, app_id: int) -> m.ConnectedApp:
    app = await _app_in_portal(actor, app_id)
    require(actor.user, Permission.UNINSTALL_APPS, "input", "appId")
    async with unit_of_work(actor.publisher) as changes:
        locked = await _lock_app(app.id)
        assert locked is not None
        await _uninstall(changes, actor, locked)
    return await m.ConnectedApp.get(id=app.id)


async def remove_connection(actor: Actor, connection_id: int) -> tuple[m.ConnectedApp, int]:
    connection = await m.AppConnection.get_or_none(id=connection_id).select_related("app")
    if connection is None or connection.app.portal_id != actor.portal.id:
        raise Refused([not_found("connection", "input", "connectionId")])
    own = connection.user_id == actor.user.id and connection.app.install_level is InstallLevel.USER
    if not own:
        require(actor.user, Permission.UNINSTALL_APPS, "input", "connectionId")
    async with unit_of_work(actor.publisher) as changes:
        app = await _lock_app(connection.app_id)
        assert app is not None
        if await m.AppConnection.filter(id=connection.id).delete() != 1:
            raise Refused([not_found("connection", "input", "connectionId")])
        if not await m.AppConnection.filter(app_id=app.id).exists():
            await _uninstall(changes, actor, app)  # the last connection takes the app with it
    return await m.ConnectedApp.get(id=app.id), connection.id


# --- reauthorize --------------------------------------------------------------------------


async def reauthorize_app(actor: Actor, app_id: int, scopes: list[str] | None) -> m.ConnectedApp:
    refuse_if(reauthorize_input_problems(scopes))
    app = await _app_in_portal(actor, app_id)
    require(actor.user, Permission.APPROVE_SCOPES, "input", "appId")
    if app.uninstalled_at is not None:
        raise Refused(
            [conflict("The app is uninstalled; install it again instead", "input", "appId")]
        )

    async def work() -> m.ConnectedApp:
        async with unit_of_work(actor.publisher) as changes:
            locked = await _lock_app(app.id)
            assert locked is not None and locked.uninstalled_at is None
            requested = await m.ListingScope.filter(listing_id=locked.listing_id).order_by(
                "position", "id"
            )
            granted: set[str] = set(
                await m.GrantedScope.filter(app_id=locked.id).values_list("name", flat=True)  # type: ignore[arg-type]  # Tortoise types flat values_list() as tuples
            )
            # Grants of scopes the listing no longer requests go with any reauthorize.
            to_drop = scope_changes.stale_grants((s.name for s in requested), granted)
            to_grant = _reauthorizable(requested, granted, scopes, actor.portal.tier, to_drop)
            await _grant(locked, to_grant, actor.now)
            if to_drop:
                await m.GrantedScope.filter(app_id=locked.id, name__in=to_drop).delete()
            diff = ScopeDiff(to_grant, to_drop)
            await _log(changes, actor, locked, AppActivity.REAUTHORIZED, diff)
            return locked

    return await retry_once_on_clash(
        work, conflict("The scopes were granted meanwhile", "input", "scopes")
    )


def _reauthorizable(
    requested: list[m.ListingScope],
    granted: set[str],
    named: list[str] | None,
    tier: m.enums.SubscriptionTier,
    to_drop: list[str],
) -> list[str]:
    """The scopes to grant: every NEEDS_REAUTHORIZATION one, or the ones named. With none
    named, there must be something to do: a scope to grant or a grant to drop."""
    states = {s.name: (s, scope_state(s, s.name in granted, tier)) for s in requested}
    if named is None:
        todo = [n for n, (_s, st) in states.items() if st is ScopeState.NEEDS_REAUTHORIZATION]
        if not todo and not to_drop:
            raise Refused([invalid("No scope of this app needs reauthorization", "input", "appId")])
        return todo
    problems: list[Problem] = []
    for i, name in enumerate(named):
        if name not in states:
            problems.append(
                invalid(f"The app does not request the scope {name!r}", "input", "scopes", str(i))
            )
            continue
        scope, state = states[name]
        if state is ScopeState.GRANTED:
            problems.append(
                invalid(f"The scope {name} is already granted", "input", "scopes", str(i))
            )
        elif state is ScopeState.NEEDS_UPGRADE:
            problems.append(_above_tier(scope, tier, i))
    if not named:
        problems.append(invalid("Name at least one scope, or leave scopes out", "input", "scopes"))
    refuse_if(problems)
    return list(dict.fromkeys(named))
