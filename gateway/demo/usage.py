"""The demo's app usage (DESIGN §6 "Usage"): what the platform would have reported of each
app's calls per UTC day, from its install to the day before the anchor, only on days it was
installed.

Deterministic: every number comes from a generator seeded with the portal and the app, and
every day is an offset from the anchor. Two Acme apps show the unused-app view
(`unusedForDays: 90`): one used in its first weeks and not for months since, and one
installed long ago and never used at all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from gateway.demo.portals import ACME_NAME, DISCONNECTED_SLUG
from gateway.models import AppUsageDay
from gateway.models.enums import InstallLevel
from gateway.services.usage import day_end

# Installed 97 days before the anchor and never called: the platform never reported a day.
NEVER_USED_SLUG = DISCONNECTED_SLUG
# Used for a few weeks after its install 113 days back, then not since this many days.
LAPSED_SLUG = "quotely"
LAPSED_DAYS_AGO = 96
# Only Acme's: other portals' apps are all in use.
_ACME_ONLY = {NEVER_USED_SLUG, LAPSED_SLUG}


def usage_days(
    rng: random.Random,
    portal: str,
    slug: str,
    app_id: int,
    level: InstallLevel,
    installed: Sequence[tuple[datetime, datetime | None]],
    anchor: datetime,
    error_prone: bool,
) -> list[AppUsageDay]:
    """One app's reported days: `installed` are its install periods (start, end or None)."""
    special = portal == ACME_NAME and slug in _ACME_ONLY
    if special and slug == NEVER_USED_SLUG:
        return []
    last_day = anchor.date() - timedelta(days=1)
    if special and slug == LAPSED_SLUG:
        last_day = anchor.date() - timedelta(days=LAPSED_DAYS_AGO)
    # A portal-wide app is called by everyone's work; per-user and multi-account ones less.
    base = rng.randint(400, 2400) if level is InstallLevel.PORTAL else rng.randint(60, 600)
    error_share = rng.uniform(0.002, 0.02)
    days: set[date] = set()  # an uninstall and a reinstall may fall on one day
    for start, end in installed:
        day = start.date()
        while day <= min(last_day, (end or anchor).date()):
            days.add(day)
            day += timedelta(days=1)
    rows = []
    for day in sorted(days):
        weekend = day.weekday() >= 5
        calls = int(base * (0.25 if weekend else 1.0) * rng.uniform(0.6, 1.4))
        share = error_share
        if error_prone and (anchor.date() - day).days <= 3:
            share = rng.uniform(0.08, 0.15)  # the errors that raised its open alert
        errors = min(calls, int(calls * share + rng.random()))
        rows.append(_day(app_id, day, calls, errors, anchor))
    # The newest day tells when its last call was, as the platform does for recent days.
    if rows:
        newest = rows[-1]
        newest.last_call_at = datetime.combine(
            newest.day, time(17, rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC)
        )
        newest.used_until = newest.last_call_at
    return rows


def _day(app_id: int, day: date, calls: int, errors: int, anchor: datetime) -> AppUsageDay:
    # Reported a few minutes after the day ended (never after the anchor).
    reported = min(day_end(day) + timedelta(minutes=7), anchor)
    return AppUsageDay(
        app_id=app_id,
        day=day,
        calls=calls,
        errors=errors,
        last_call_at=None,
        used_until=day_end(day) if calls > 0 else None,
        reported_at=reported,
    )
