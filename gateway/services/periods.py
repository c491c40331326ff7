"""Digest periods: the hour, day, ISO week or month containing an instant, in a portal's timezone
(DESIGN §1 "Digests").

A period starts where the portal's wall clock shows the start of its unit: xx:00 for an hour,
midnight for a day, Monday midnight for a week, the 1st at midnight for a month. Boundaries are
computed as wall-clock values and converted to UTC one by one (never by adding a timedelta to an
aware local time), so days are 23 or 25 hours long across a DST change, months have their
lengths, and half-hour zones (Asia/Kolkata) get their own hours. The hour that repeats when the
clocks go back is two periods (the wall clock shows its xx:00 twice); an hour the clocks skip is
no period at all; a midnight the clocks skip (zones that change at 00:00) starts its day at the
moment they jump.

Every instant is in exactly one period and consecutive periods touch: `end` of one is `start`
of the next. Results are aware datetimes in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.models.enums import NotificationFrequency as Frequency


def _to_utc(wall: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant of a naive wall-clock value in `tz`. fold=0: the first of a repeated
    time; a time in a gap maps by the offset before the jump (its start maps to the jump)."""
    return wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def _floor(frequency: Frequency, wall: datetime) -> datetime:
    """The wall-clock start of the unit containing `wall` (naive)."""
    if frequency is Frequency.HOURLY:
        return wall.replace(minute=0, second=0, microsecond=0)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency is Frequency.DAILY:
        return midnight
    if frequency is Frequency.WEEKLY:
        return midnight - timedelta(days=midnight.weekday())  # ISO weeks start on Monday
    if frequency is Frequency.MONTHLY:
        return midnight.replace(day=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def _next(frequency: Frequency, start: datetime) -> datetime:
    """The wall-clock start of the following unit (naive arithmetic: wall clocks, no offsets)."""
    if frequency is Frequency.HOURLY:
        return start + timedelta(hours=1)
    if frequency is Frequency.DAILY:
        return start + timedelta(days=1)
    if frequency is Frequency.WEEKLY:
        return start + timedelta(days=7)
    if frequency is Frequency.MONTHLY:
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    raise ValueError(f"unknown frequency {frequency!r}")


def period_containing(
    frequency: Frequency | str, tz_name: str, instant: datetime
) -> tuple[datetime, datetime]:
    """(start, end) in UTC of the period of `frequency` containing `instant` (start <= instant
    < end), aligned to the wall clock of the IANA zone `tz_name`."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    frequency = Frequency(frequency)
    tz = ZoneInfo(tz_name)
    local = instant.astimezone(tz)
    wall = _floor(frequency, local.replace(tzinfo=None))
    if frequency is Frequency.HOURLY:
        start, end = _hour_around(wall, tz, instant)
    else:
        start = _to_utc(wall, tz)
        end = _to_utc(_next(frequency, wall), tz)
    if not start <= instant < end:  # no zone in the database does this; be loud if one does
        raise AssertionError(
            f"period {start}..{end} of {frequency.value} in {tz_name} misses {instant}"
        )
    return start, end


def _hour_around(wall: datetime, tz: ZoneInfo, instant: datetime) -> tuple[datetime, datetime]:
    """The instants near `instant` at which the wall clock shows xx:00, around it.

    Both folds of nearby wall hours are tried: when the clocks go back, an hour repeats (NY:
    01:00 EDT then 01:00 EST; Antarctica/Troll repeats two), and each showing of xx:00 starts
    a period. A candidate that does not read xx:00 (a time in a gap, mapped by either offset)
    is no boundary: the period that contains the jump simply runs to the next xx:00.
    """
    candidates = set()
    for hours in range(-3, 4):
        for fold in (0, 1):
            at = _to_utc(wall + timedelta(hours=hours), tz, fold)
            shown = at.astimezone(tz)
            if shown.minute == shown.second == shown.microsecond == 0:
                candidates.add(at)
    start = max(c for c in candidates if c <= instant)
    end = min(c for c in candidates if c > instant)
    return start, end


def period_start(frequency: Frequency | str, tz_name: str, instant: datetime) -> datetime:
    """Start of the period containing `instant` = end of the last period completed by then."""
    return period_containing(frequency, tz_name, instant)[0]


def period_end(frequency: Frequency | str, tz_name: str, instant: datetime) -> datetime:
    """End of the period containing `instant`: the next boundary after it."""
    return period_containing(frequency, tz_name, instant)[1]
