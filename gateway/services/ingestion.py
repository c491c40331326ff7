"""Platform events (DESIGN §3 "Event ingestion"): what happens to apps outside the console.

`apply(event, publisher, now)` applies one already-authenticated, well-formed event and says
what became of it; the HTTP layer (gateway/events_http.py) turns that into a status code.

- Idempotency: the event's id is inserted into `processed_event` as the first statement of the
  same transaction as the effect. A retry finds the row and changes nothing; a concurrent
  duplicate waits on the primary key until the first one commits and then fails to insert, so
  exactly one copy applies. A refused event (unknown or uninstalled app) rolls the row back
  with everything else: nothing is stored for it, and a corrected retry is not mistaken for a
  duplicate.
- Order: marks and alerts follow `occurredAt`, not arrival. An event older than the last
  applied change of the app's mark (`ConnectedApp.mark_changed_at`) or of its alert code (the
  latest `changed_at` of that code's alerts) leaves it as it is; equal times let the later
  arrival win. A late disconnect/reconnect still belongs in the history, so it is logged at its
  own time whatever the mark.
- Usage: `app.usage` keeps the app's calls of a day (services/usage.py); it is accepted for an
  uninstalled app too, and publishes nothing (no status or log entry changes).
- Concurrency: events on one app serialize on the app row's lock (SQLite serializes writers),
  scope replacements of one listing on the listing row's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from tortoise.exceptions import IntegrityError

from gateway import models as m
from gateway.models.enums import AlertSeverity, AppActivity, SubscriptionTier
from gateway.services import usage
from gateway.services.apps import current_status
from gateway.services.envelopes import Changes, Publisher, StatusChange, unit_of_work
from gateway.services.faults import pause_point
from gateway.services.scope_changes import ScopeDiff, between, record

# Ids must be remembered at least 7 days (DESIGN §3); one more day of slack so a retry at the
# 7-day mark never races the purge.
PROCESSED_EVENT_RETENTION = timedelta(days=8)
# Purging is one indexed DELETE; once an hour per process keeps it off the hot path.
PURGE_INTERVAL = timedelta(hours=1)


class EventType(str, Enum):
    APP_DISCONNECTED = "app.disconnected"
    APP_RECONNECTED = "app.reconnected"
    APP_ERROR = "app.error"
    APP_RECOVERED = "app.recovered"
    LISTING_SCOPES_CHANGED = "listing.scopes_changed"
    APP_USAGE = "app.usage"


# Events about an app's marks and alerts (AppEvent); usage reports and listing events have
# shapes of their own.
APP_EVENT_TYPES = frozenset(
    t for t in EventType if t not in (EventType.LISTING_SCOPES_CHANGED, EventType.APP_USAGE)
)


@dataclass(frozen=True)
class AlertReport:
    """`app.error` carries all three fields; `app.recovered` at most a code."""

    code: str
    severity: AlertSeverity | None = None
    message: str | None = None


@dataclass(frozen=True)
class AppEvent:
    id: str
    type: EventType
    occurred_at: datetime
    portal_id: int
    app_id: int
    alert: AlertReport | None = None


@dataclass(frozen=True)
class ScopeSpec:
    name: str
    description: str
    required_tier: SubscriptionTier
    required: bool


@dataclass(frozen=True)
class ScopesChanged:
    """The listing's new full list of requested scopes, in the listing's order."""

    id: str
    occurred_at: datetime
    listing_id: int
    scopes: tuple[ScopeSpec, ...]
    type: EventType = EventType.LISTING_SCOPES_CHANGED


@dataclass(frozen=True)
class UsageReport:
    """An app's calls and errors of one UTC day (DESIGN §6 "Usage")."""

    id: str
    occurred_at: datetime
    portal_id: int
    app_id: int
    day: date
    calls: int
    errors: int
    last_call_at: datetime | None = None
    type: EventType = EventType.APP_USAGE


Event = AppEvent | ScopesChanged | UsageReport


class Outcome(str, Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN_PORTAL = "unknown_portal"
    # Also for an app of another portal: ids reveal nothing about other tenants.
    UNKNOWN_APP = "unknown_app"
    UNKNOWN_LISTING = "unknown_listing"
    UNINSTALLED = "uninstalled"


class _Stop(Exception):
    """Raised inside the unit of work to roll it back (the processed id included)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


async def apply(event: Event, publisher: Publisher, now: datetime) -> Outcome:
    """Apply one event exactly once; envelopes are published after the commit."""
    try:
        async with unit_of_work(publisher) as changes:
            if not await _claim(event.id, now):
                raise _Stop(Outcome.DUPLICATE)
            await pause_point("ingest:after-claim")
            if isinstance(event, ScopesChanged):
                await _replace_scopes(changes, event, now)
            elif isinstance(event, UsageReport):
                await _record_usage(event)
            else:
                await _apply_to_app(changes, event, now)
    except _Stop as stop:
        return stop.outcome
    return Outcome.APPLIED


async def _claim(event_id: str, now: datetime) -> bool:
    """Record the id; False when it is there already (committed, or committing concurrently:
    PostgreSQL holds this insert until the other transaction ends, then refuses it)."""
    try:
        await m.ProcessedEvent.create(id=event_id, received_at=now)
    except IntegrityError:
        return False
    return True


async def purge_processed(now: datetime) -> int:
    """Forget ids older than the retention; returns how many were deleted."""
    return await m.ProcessedEvent.filter(received_at__lt=now - PROCESSED_EVENT_RETENTION).delete()


class Purger:
    """Runs `purge_processed` at most once per `PURGE_INTERVAL` (one per process; several
    processes purging at once only delete the same old rows)."""

    def __init__(self, interval: timedelta = PURGE_INTERVAL) -> None:
        self.interval = interval
        self._next: datetime | None = None

    async def maybe_purge(self, now: datetime) -> int | None:
        if self._next is not None and now < self._next:
            return None
        self._next = now + self.interval
        return await purge_processed(now)


# --- app events ---------------------------------------------------------------------------


def _older(occurred_at: datetime, last_change: datetime | None) -> bool:
    # Strictly older: at equal times the later arrival wins.
    return last_change is not None and occurred_at < last_change


async def _apply_to_app(changes: Changes, event: AppEvent, now: datetime) -> None:
    if not await m.Portal.exists(id=event.portal_id):
        raise _Stop(Outcome.UNKNOWN_PORTAL)
    # Locked so concurrent events of this app decide one after the other on fresh rows.
    app = (
        await m.ConnectedApp.filter(id=event.app_id, portal_id=event.portal_id)
        .select_for_update()
        .first()
    )
    if app is None:
        raise _Stop(Outcome.UNKNOWN_APP)
    if app.uninstalled_at is not None:
        raise _Stop(Outcome.UNINSTALLED)
    before = await current_status(app)
    if event.type in (EventType.APP_DISCONNECTED, EventType.APP_RECONNECTED):
        await _set_mark(changes, app, event, now)
        alert_id = None
    elif event.type is EventType.APP_ERROR:
        alert_id = await _raise_alert(changes, app, event, now)
    else:
        alert_id = await _recover(changes, app, event, now)
    after = await current_status(app)
    changes.status_changed(
        app.portal_id, StatusChange(app.id, before, after, event.occurred_at, alert_id)
    )


async def _set_mark(changes: Changes, app: m.ConnectedApp, event: AppEvent, now: datetime) -> None:
    disconnect = event.type is EventType.APP_DISCONNECTED
    activity = AppActivity.DISCONNECTED if disconnect else AppActivity.RECONNECTED
    if _older(event.occurred_at, app.mark_changed_at):
        # The mark already reflects something newer, but the history still gets the report.
        await _log(changes, app, activity, event.occurred_at, now)
        return
    flips = app.disconnected != disconnect
    # The time moves even when the mark stays: it is the newest known state, and an event
    # older than it must not undo it.
    app.disconnected, app.mark_changed_at = disconnect, event.occurred_at
    await m.ConnectedApp.filter(id=app.id).update(
        disconnected=disconnect, mark_changed_at=event.occurred_at
    )
    if flips:
        await _log(changes, app, activity, event.occurred_at, now)


async def _log(
    changes: Changes,
    app: m.ConnectedApp,
    activity: AppActivity,
    occurred_at: datetime,
    now: datetime,
    alert: m.AppAlert | None = None,
    scopes: ScopeDiff | None = None,
) -> None:
    """Log what the platform reported (no user: the platform, not a person, reported it);
    an alert's entry keeps the reason as it is now, since the alert's message may change, and
    a listing's change keeps the scope names it added and removed."""
    entry = await m.AppLogEntry.create(
        portal_id=app.portal_id,
        app_id=app.id,
        user_id=None,
        activity=activity,
        occurred_at=occurred_at,
        recorded_at=now,
    )
    if alert is not None:
        await m.LoggedAlert.create(
            entry_id=entry.id,
            alert_id=alert.id,
            severity=alert.severity,
            code=alert.code,
            message=alert.message,
        )
    if scopes is not None:
        await record(entry, scopes)
    changes.logged(app.portal_id, entry.id)


async def _last_alert_change(app_id: int, code: str) -> datetime | None:
    """The latest applied change of this code's alerts (an uninstall's resolution counts)."""
    newest = (
        await m.AppAlert.filter(app_id=app_id, code=code).order_by("-changed_at", "-id").first()
    )
    return newest.changed_at if newest else None


def reason_changed(alert: m.AppAlert, severity: AlertSeverity, message: str) -> bool:
    """A report of an open alert's code changes its reason with another message or a higher
    severity; the same message at the same or a lower severity is the same problem, told
    already (DESIGN §6 "Errors in the log")."""
    return message != alert.message or severity.rank > alert.severity.rank


async def _raise_alert(
    changes: Changes, app: m.ConnectedApp, event: AppEvent, now: datetime
) -> int | None:
    """Open the code's alert, or update the open one; the alert's id, None when stale. An
    alert opened, or its reason changed, is logged ERROR_RAISED, and a changed reason clears
    the alert's acknowledgement (what was acknowledged is not what is wrong now)."""
    report = event.alert
    assert report is not None and report.severity is not None and report.message is not None
    if _older(event.occurred_at, await _last_alert_change(app.id, report.code)):
        return None
    current = (
        await m.AppAlert.filter(app_id=app.id, code=report.code, resolved_at=None)
        .order_by("-id")
        .first()
    )
    if current is None:
        created = await m.AppAlert.create(
            app_id=app.id,
            severity=report.severity,
            code=report.code,
            message=report.message,
            raised_at=event.occurred_at,
            changed_at=event.occurred_at,
        )
        await _log(changes, app, AppActivity.ERROR_RAISED, event.occurred_at, now, created)
        return created.id
    changed = reason_changed(current, report.severity, report.message)
    current.severity, current.message = report.severity, report.message
    # raised_at stays: the problem has been there since it was first raised.
    update: dict[str, object] = {
        "severity": report.severity,
        "message": report.message,
        "changed_at": event.occurred_at,
    }
    if changed:
        update |= {"acknowledged_at": None, "acknowledged_by_id": None, "acknowledge_note": None}
    await m.AppAlert.filter(id=current.id).update(**update)
    if changed:
        await _log(changes, app, AppActivity.ERROR_RAISED, event.occurred_at, now, current)
    return current.id


async def _recover(
    changes: Changes, app: m.ConnectedApp, event: AppEvent, now: datetime
) -> int | None:
    """Resolve the code's open alert, or every open one, each logged ERROR_RESOLVED; the
    newest resolved alert's id."""
    open_alerts = m.AppAlert.filter(app_id=app.id, resolved_at=None)
    if event.alert is not None:
        open_alerts = open_alerts.filter(code=event.alert.code)
    resolved: int | None = None
    # Oldest first, so the one reported on a status change is the newest, the one the console
    # lists first.
    for alert in await open_alerts.order_by("raised_at", "id"):
        if _older(event.occurred_at, await _last_alert_change(app.id, alert.code)):
            continue
        await m.AppAlert.filter(id=alert.id).update(
            resolved_at=event.occurred_at, changed_at=event.occurred_at
        )
        await _log(changes, app, AppActivity.ERROR_RESOLVED, event.occurred_at, now, alert)
        resolved = alert.id
    return resolved


# --- usage reports ------------------------------------------------------------------------


async def _record_usage(event: UsageReport) -> None:
    """Keep the day's report unless a newer one is kept (an older one is still applied: its
    id is remembered and it answers 202, having changed nothing). An uninstalled app's usage
    is kept too: the platform reports what happened, and the app may come back (DESIGN §6)."""
    if not await m.Portal.exists(id=event.portal_id):
        raise _Stop(Outcome.UNKNOWN_PORTAL)
    # Locked so two reports of one app's day decide one after the other.
    app = (
        await m.ConnectedApp.filter(id=event.app_id, portal_id=event.portal_id)
        .select_for_update()
        .first()
    )
    if app is None:
        raise _Stop(Outcome.UNKNOWN_APP)
    await usage.record(
        app.id, event.day, event.calls, event.errors, event.last_call_at, event.occurred_at
    )


# --- listing events -----------------------------------------------------------------------


async def _replace_scopes(changes: Changes, event: ScopesChanged, now: datetime) -> None:
    """Replace the listing's requested scopes; no status changes (DESIGN §3), as each
    portal's scope states are derived when read. When the requested names change, every
    installed app of the listing gets a SCOPES_CHANGED entry with the names added and removed
    (DESIGN §6); a change of only tiers or `required` logs nothing.

    Grants stay as they are: a scope that leaves the list and comes back shows what the
    portal actually granted (a reauthorize drops grants the list no longer has)."""
    # Locked so two replacements of one listing don't interleave their delete and insert.
    listing = await m.MarketplaceListing.filter(id=event.listing_id).select_for_update().first()
    if listing is None:
        raise _Stop(Outcome.UNKNOWN_LISTING)
    requested = m.ListingScope.filter(listing_id=listing.id).order_by("position", "id")
    before: list[str] = await requested.values_list("name", flat=True)  # type: ignore[assignment]  # Tortoise types flat values_list() as tuples
    diff = between(before, [s.name for s in event.scopes])
    if diff:
        # In a fixed order (PostgreSQL's scan order follows where updates left the rows), so
        # the entries' ids, and the portals' envelopes, come in the apps' order.
        apps = await m.ConnectedApp.filter(
            listing_id=listing.id, uninstalled_at__isnull=True
        ).order_by("id")
        for app in apps:
            await _log(
                changes, app, AppActivity.SCOPES_CHANGED, event.occurred_at, now, scopes=diff
            )
    await m.ListingScope.filter(listing_id=listing.id).delete()
    if not event.scopes:
        return
    await m.ListingScope.bulk_create(
        [
            m.ListingScope(
                listing_id=listing.id,
                name=s.name,
                description=s.description,
                required_tier=s.required_tier,
                required=s.required,
                position=position,
            )
            for position, s in enumerate(event.scopes)
        ]
    )
