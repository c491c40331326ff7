"""The wall clock, read through this module by what turns "now" into UTC days (usage reports
and `usage(days:)`), so tests can hold it still instead of racing midnight."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
