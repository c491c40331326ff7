"""App usage (DESIGN §6 "Usage"): what the platform reports of each app's calls per UTC day,
and what is read from it: `lastUsedAt`, `usage(days:)` and the `unusedForDays` filter.

- Days are UTC dates; "the last N days" are today and the N−1 days before it.
- A report of an app and day replaces the stored one unless it is older (its `occurredAt`
  before the stored report's); equal times let the later arrival win, as for marks and alerts.
- `lastUsedAt` is the newest instant any day shows the app used: the day's `lastCallAt`, else
  the day's last second when it had calls. Each row keeps that instant (`used_until`), so a
  replacing report with 0 calls takes its day out and the newest remaining one counts.
- An app is unused for N days when no day of the last N has calls and its current install
  (the first one, or the latest reinstall) began before the first of those days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from gateway import models as m
from gateway.loaders import Loaders, UsageDay, load_all
from gateway.models.enums import AppActivity
from gateway.rows import Params, converted, fetch_raw, on_postgres

# How far back a report may go (DESIGN §6): older days are history nobody reads.
MAX_DAYS_BACK = 400
# usage(days:) bounds and default (DESIGN §6).
MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 1, 90, 30
# unusedForDays bounds: a day outside the reporting horizon could never show use.
MIN_UNUSED_DAYS, MAX_UNUSED_DAYS = 1, MAX_DAYS_BACK
# A day's calls are bounded so 90 days of them still sum within GraphQL's 32-bit Int.
MAX_DAILY_CALLS = 20_000_000

_LAST_SECOND = time(23, 59, 59, tzinfo=UTC)


class DayUsage(NamedTuple):
    """One day of a window, as the API shows it (`date`: YYYY-MM-DD)."""

    date: str
    calls: int
    errors: int


@dataclass(frozen=True)
class AppUsage:
    """Sums over a window of days, and the days themselves, today first, zero-filled."""

    calls: int
    errors: int
    days: list[DayUsage]

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def utc_today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def day_end(day: date) -> datetime:
    """The instant a day with calls but no lastCallAt shows the app last used: its last second."""
    return datetime.combine(day, _LAST_SECOND)


def window_start(days: int, now: datetime) -> date:
    """The first of the last `days` UTC days (today is the last)."""
    return utc_today(now) - timedelta(days=days - 1)


def range_problem(value: int, name: str, low: int, high: int) -> str | None:
    if not low <= value <= high:
        return f"`{name}` must be between {low} and {high}, got {value}"
    return None


# --- reports ------------------------------------------------------------------------------


def report_problems(
    day: date, calls: int, errors: int, last_call_at: datetime | None, now: datetime
) -> list[str]:
    """What is wrong with a usage report, as the 400 names it (empty: nothing)."""
    problems = []
    today = utc_today(now)
    if day > today:
        problems.append(f"day {day.isoformat()} is after today ({today.isoformat()}, UTC)")
    elif day < today - timedelta(days=MAX_DAYS_BACK):
        problems.append(f"day {day.isoformat()} is more than {MAX_DAYS_BACK} days back")
    if calls < 0:
        problems.append("calls must not be negative")
    elif calls > MAX_DAILY_CALLS:
        problems.append(f"calls must be at most {MAX_DAILY_CALLS} a day")
    if errors < 0:
        problems.append("errors must not be negative")
    elif errors > calls >= 0:
        problems.append(f"errors ({errors}) must not exceed calls ({calls})")
    if last_call_at is not None:
        if utc_today(last_call_at) != day:
            problems.append(f"lastCallAt must fall on day {day.isoformat()} (UTC)")
        elif calls == 0:
            problems.append("lastCallAt needs calls above 0")
    return problems


async def record(
    app_id: int,
    day: date,
    calls: int,
    errors: int,
    last_call_at: datetime | None,
    reported_at: datetime,
) -> bool:
    """Keep a report of the app's day unless a newer one is kept; True when it was kept.
    The caller holds the app row's lock, so reports of one app decide one after the other."""
    current = await m.AppUsageDay.filter(app_id=app_id, day=day).first()
    if current is not None and reported_at < current.reported_at:
        return False
    values: dict[str, Any] = {
        "calls": calls,
        "errors": errors,
        "last_call_at": last_call_at,
        "used_until": (last_call_at or day_end(day)) if calls > 0 else None,
        "reported_at": reported_at,
    }
    if current is None:
        await m.AppUsageDay.create(app_id=app_id, day=day, **values)
    else:
        await m.AppUsageDay.filter(id=current.id).update(**values)
    return True


# --- reads --------------------------------------------------------------------------------


async def usage(
    loaders: Loaders, apps: Sequence[m.ConnectedApp], days: int, now: datetime
) -> list[AppUsage]:
    """Each app's last `days` days (one statement for all of them)."""
    today = utc_today(now)
    since = today - timedelta(days=days - 1)
    dates = [(d, d.isoformat()) for d in (today - timedelta(days=i) for i in range(days))]
    found = await load_all(loaders.usage_days_by_app, [(a.id, since) for a in apps])
    out = []
    for rows in found:
        by_day: dict[date, UsageDay] = {row.date: row for row in rows}
        window = []
        for d, text in dates:
            row = by_day.get(d)
            window.append(DayUsage(text, row.calls, row.errors) if row else DayUsage(text, 0, 0))
        out.append(AppUsage(sum(d.calls for d in window), sum(d.errors for d in window), window))
    return out


async def last_used(loaders: Loaders, apps: Sequence[m.ConnectedApp]) -> list[datetime | None]:
    found: list[datetime | None] = await load_all(loaders.last_used_by_app, [a.id for a in apps])
    return found


async def unused_among(apps: Sequence[m.ConnectedApp], days: int, now: datetime) -> set[int]:
    """The ids of `apps` unused for the last `days` days: no calls on any of them, and
    installed (or last reinstalled) before the first. Two statements, whatever the number of
    apps."""
    if not apps:
        return set()
    since = window_start(days, now)
    first_instant = datetime.combine(since, time(tzinfo=UTC))
    ids = [a.id for a in apps]
    used = set(
        await m.AppUsageDay.filter(app_id__in=ids, day__gte=since, calls__gt=0).values_list(
            "app_id", flat=True
        )
    )
    reinstalled = await _last_reinstalls(ids)
    return {
        a.id
        for a in apps
        if a.id not in used and reinstalled.get(a.id, a.installed_at) < first_instant
    }


async def _last_reinstalls(app_ids: list[int]) -> dict[int, datetime]:
    """Each app's latest REINSTALLED log entry's time: where its current install began (a
    reinstall keeps `installed_at`, the first install's)."""
    client = m.AppLogEntry._meta.db
    table = m.AppLogEntry._meta.db_table
    reinstalled = AppActivity.REINSTALLED.value
    if on_postgres(client):
        params, among, activity = Params(app_ids, reinstalled), "= ANY($1)", "$2"
    else:
        params, activity = Params(*app_ids, reinstalled), "?"
        among = f"IN ({', '.join('?' * len(app_ids))})"
    sql = (
        f'SELECT "app_id", MAX("occurred_at") FROM "{table}" '
        f'WHERE "app_id" {among} AND "activity" = {activity} GROUP BY "app_id"'
    )
    found = converted(m.AppLogEntry, ("occurred_at",), await fetch_raw(client, sql, params))
    return dict(found)
