"""Digest periods in a portal's timezone: each frequency, DST changes, month and year ends, ISO
weeks, and zones whose offset is not a whole number of hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.models.enums import NotificationFrequency as F
from gateway.services.periods import period_containing, period_end, period_start

# Runs no GraphQL: one executor is enough (tests/conftest.py).
pytestmark = pytest.mark.one_executor

NY = "America/New_York"
H = timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def periods_between(
    frequency: F, tz: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The consecutive periods from the one containing `start` to the one containing `end`."""
    out = [period_containing(frequency, tz, start)]
    while out[-1][1] <= end:
        out.append(period_containing(frequency, tz, out[-1][1]))
    return out


# --- each frequency ------------------------------------------------------------------------


def test_hourly_is_the_clock_hour():
    assert period_containing(F.HOURLY, "UTC", utc(2026, 6, 15, 9, 59, 59)) == (
        utc(2026, 6, 15, 9),
        utc(2026, 6, 15, 10),
    )


def test_daily_runs_from_local_midnight_to_local_midnight():
    # 2026-06-15 in New York (EDT, UTC-4)
    assert period_containing(F.DAILY, NY, utc(2026, 6, 15, 3, 59)) == (
        utc(2026, 6, 14, 4),
        utc(2026, 6, 15, 4),
    )
    assert period_containing(F.DAILY, NY, utc(2026, 6, 15, 4)) == (
        utc(2026, 6, 15, 4),
        utc(2026, 6, 16, 4),
    )


def test_weekly_is_the_iso_week_from_monday_local_midnight():
    # Wednesday 17 June 2026 in Berlin (CEST, UTC+2): Monday 15 June 00:00 to Monday 22 June 00:00
    assert period_containing(F.WEEKLY, "Europe/Berlin", utc(2026, 6, 17, 12)) == (
        utc(2026, 6, 14, 22),
        utc(2026, 6, 21, 22),
    )
    # Sunday 23:59 local is still that week; Monday 00:00 local starts the next
    assert period_start(F.WEEKLY, "Europe/Berlin", utc(2026, 6, 21, 21, 59)) == utc(2026, 6, 14, 22)
    assert period_start(F.WEEKLY, "Europe/Berlin", utc(2026, 6, 21, 22)) == utc(2026, 6, 21, 22)


def test_monthly_is_the_calendar_month_from_the_first_local_midnight():
    assert period_containing(F.MONTHLY, "UTC", utc(2026, 6, 15)) == (
        utc(2026, 6, 1),
        utc(2026, 7, 1),
    )
    # 31 January 16:00 UTC is already 1 February in Tokyo (UTC+9)
    assert period_containing(F.MONTHLY, "Asia/Tokyo", utc(2026, 1, 31, 16)) == (
        utc(2026, 1, 31, 15),
        utc(2026, 2, 28, 15),
    )
    assert period_containing(F.MONTHLY, "Asia/Tokyo", utc(2026, 1, 31, 14, 59)) == (
        utc(2025, 12, 31, 15),
        utc(2026, 1, 31, 15),
    )


def test_start_is_inclusive_and_end_exclusive():
    start, end = period_containing(F.DAILY, "UTC", utc(2026, 6, 15))
    assert start == utc(2026, 6, 15)
    assert period_start(F.DAILY, "UTC", end) == end
    assert period_end(F.DAILY, "UTC", end - timedelta(microseconds=1)) == end


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError):
        period_containing(F.DAILY, "UTC", datetime(2026, 6, 15))


# --- DST changes (US: 8 March and 1 November 2026) ----------------------------------------


def test_spring_forward_day_has_23_hours():
    start, end = period_containing(F.DAILY, NY, utc(2026, 3, 8, 12))
    assert (start, end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))  # midnight EST to midnight EDT
    assert end - start == 23 * H


def test_fall_back_day_has_25_hours():
    start, end = period_containing(F.DAILY, NY, utc(2026, 11, 1, 12))
    assert (start, end) == (
        utc(2026, 11, 1, 4),
        utc(2026, 11, 2, 5),
    )  # midnight EDT to midnight EST
    assert end - start == 25 * H


def test_hourly_on_the_spring_forward_day_skips_the_missing_hour():
    hours = periods_between(F.HOURLY, NY, utc(2026, 3, 8, 5), utc(2026, 3, 9, 3, 59))
    assert len(hours) == 23
    # 01:00 EST, then 03:00 EDT: 02:00 never shows on the clock
    assert hours[1] == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))
    assert hours[2] == (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))
    assert period_containing(F.HOURLY, NY, utc(2026, 3, 8, 7, 30)) == (
        utc(2026, 3, 8, 7),
        utc(2026, 3, 8, 8),
    )


def test_hourly_on_the_fall_back_day_has_the_repeated_hour_twice():
    hours = periods_between(F.HOURLY, NY, utc(2026, 11, 1, 4), utc(2026, 11, 2, 4, 59))
    assert len(hours) == 25
    # 01:00 EDT and 01:00 EST are two periods of one hour each, then 02:00 EST
    assert period_containing(F.HOURLY, NY, utc(2026, 11, 1, 5, 30)) == (
        utc(2026, 11, 1, 5),
        utc(2026, 11, 1, 6),
    )
    assert period_containing(F.HOURLY, NY, utc(2026, 11, 1, 6, 30)) == (
        utc(2026, 11, 1, 6),
        utc(2026, 11, 1, 7),
    )
    assert period_containing(F.HOURLY, NY, utc(2026, 11, 1, 7, 30)) == (
        utc(2026, 11, 1, 7),
        utc(2026, 11, 1, 8),
    )
    assert all(end - start == H for start, end in hours)


def test_a_week_across_a_dst_change_has_167_hours():
    # Europe/Berlin moves to CEST on Sunday 29 March 2026
    start, end = period_containing(F.WEEKLY, "Europe/Berlin", utc(2026, 3, 25))
    assert (start, end) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))
    assert end - start == 167 * H


# --- month, week and year ends ------------------------------------------------------------


def test_month_ends():
    assert period_containing(F.MONTHLY, NY, utc(2026, 1, 31, 23)) == (
        utc(2026, 1, 1, 5),
        utc(2026, 2, 1, 5),
    )
    assert period_containing(F.MONTHLY, NY, utc(2026, 2, 1, 5)) == (
        utc(2026, 2, 1, 5),
        utc(2026, 3, 1, 5),
    )
    # a leap year's February has 29 days; a month spanning the DST change is an hour short
    feb = period_containing(F.MONTHLY, "UTC", utc(2028, 2, 29, 23, 59))
    assert feb == (utc(2028, 2, 1), utc(2028, 3, 1)) and feb[1] - feb[0] == timedelta(days=29)
    march = period_containing(F.MONTHLY, NY, utc(2026, 3, 15))
    assert march == (utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))
    # December rolls into the next year
    assert period_containing(F.MONTHLY, "UTC", utc(2026, 12, 31, 23)) == (
        utc(2026, 12, 1),
        utc(2027, 1, 1),
    )


def test_iso_week_across_a_year_end():
    # ISO week 53 of 2026: Monday 28 December 2026 to Sunday 3 January 2027
    for day in (
        utc(2026, 12, 28),
        utc(2026, 12, 31, 23),
        utc(2027, 1, 1, 12),
        utc(2027, 1, 3, 23, 59),
    ):
        assert period_containing(F.WEEKLY, "UTC", day) == (utc(2026, 12, 28), utc(2027, 1, 4))
    assert period_start(F.WEEKLY, "UTC", utc(2027, 1, 4)) == utc(2027, 1, 4)
    # the same week in New York (UTC-5 in winter)
    assert period_containing(F.WEEKLY, NY, utc(2027, 1, 1)) == (
        utc(2026, 12, 28, 5),
        utc(2027, 1, 4, 5),
    )


def test_year_end_day():
    assert period_containing(F.DAILY, "Asia/Tokyo", utc(2026, 12, 31, 15)) == (
        utc(2026, 12, 31, 15),
        utc(2027, 1, 1, 15),
    )


# --- zones off the whole hour -------------------------------------------------------------


def test_half_hour_zone_has_its_own_hours_and_days():
    kolkata = "Asia/Kolkata"  # UTC+5:30
    # 10:10 UTC is 15:40 IST: the hour 15:00-16:00 IST
    assert period_containing(F.HOURLY, kolkata, utc(2026, 6, 15, 10, 10)) == (
        utc(2026, 6, 15, 9, 30),
        utc(2026, 6, 15, 10, 30),
    )
    assert period_containing(F.DAILY, kolkata, utc(2026, 6, 15, 10)) == (
        utc(2026, 6, 14, 18, 30),
        utc(2026, 6, 15, 18, 30),
    )
    # Kathmandu is UTC+5:45
    assert period_containing(F.HOURLY, "Asia/Kathmandu", utc(2026, 6, 15, 10, 10)) == (
        utc(2026, 6, 15, 9, 15),
        utc(2026, 6, 15, 10, 15),
    )


def test_half_hour_dst_zone():
    # Lord Howe Island moves from +10:30 to +11 at 02:00 local on 4 October 2026: the clock
    # jumps to 02:30, so the hour starting 01:00 runs to 03:00 local and lasts 90 minutes
    lord_howe = "Australia/Lord_Howe"
    start, end = period_containing(F.HOURLY, lord_howe, utc(2026, 10, 3, 15, 40))
    assert (start, end) == (utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 16))


@pytest.mark.parametrize(
    "tz",
    [
        NY,
        "Europe/London",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Antarctica/Troll",
        "Pacific/Chatham",
        "UTC",
    ],
)
@pytest.mark.parametrize("frequency", list(F))
def test_periods_tile_time_without_gaps_or_overlaps(tz, frequency):
    # Every instant is in exactly one period, and each period ends where the next begins
    step = {
        F.HOURLY: timedelta(minutes=25),
        F.DAILY: timedelta(hours=7),
        F.WEEKLY: timedelta(days=2),
        F.MONTHLY: timedelta(days=9),
    }[frequency]
    span = {
        F.HOURLY: timedelta(days=10),
        F.DAILY: timedelta(days=200),
        F.WEEKLY: timedelta(days=800),
        F.MONTHLY: timedelta(days=1100),
    }[frequency]
    # around this zone's transitions in 2026 (hourly) or across 2026-2028 (the others)
    starts = (
        [utc(2026, 1, 1)]
        if frequency is not F.HOURLY
        else [
            utc(2026, m, d)
            for m, d in ((3, 5), (3, 25), (4, 1), (9, 1), (9, 22), (10, 1), (10, 22), (10, 29))
        ]
    )
    for first in starts:
        at = first
        while at < first + span:
            start, end = period_containing(frequency, tz, at)
            assert start <= at < end
            assert period_start(frequency, tz, end) == end  # the next one begins at this end
            assert period_containing(frequency, tz, start) == (start, end)
            at += step
