"""Reading the app log: the filter of DESIGN §1 (since inclusive, until exclusive)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from gateway import models as m
from gateway.models.enums import AppActivity


@dataclass(frozen=True)
class LogFilter:
    """Hashable, so nested log pages with the same filter share one batched statement."""

    activities: frozenset[AppActivity] | None = None
    user_ids: frozenset[int] | None = None
    app_ids: frozenset[int] | None = None
    since: datetime | None = None
    until: datetime | None = None


def apply_log_filter(qs: QuerySet[m.AppLogEntry], flt: LogFilter | None) -> QuerySet[m.AppLogEntry]:
    if flt is None:
        return qs
    if flt.activities is not None:
        qs = qs.filter(activity__in=sorted(flt.activities))
    if flt.user_ids is not None:
        qs = qs.filter(user_id__in=sorted(flt.user_ids))
    if flt.app_ids is not None:
        qs = qs.filter(app_id__in=sorted(flt.app_ids))
    if flt.since is not None:
        qs = qs.filter(occurred_at__gte=flt.since)
    if flt.until is not None:
        qs = qs.filter(occurred_at__lt=flt.until)
    return qs


def portal_log(portal_id: int, flt: LogFilter | None) -> QuerySet[m.AppLogEntry]:
    return apply_log_filter(m.AppLogEntry.filter(portal_id=portal_id), flt)


def matches(entry: m.AppLogEntry, flt: LogFilter | None) -> bool:
    """The same filter, for one entry in memory (live updates)."""
    if flt is None:
        return True
    return (
        (flt.activities is None or entry.activity in flt.activities)
        and (flt.user_ids is None or entry.user_id in flt.user_ids)
        and (flt.app_ids is None or entry.app_id in flt.app_ids)
        and (flt.since is None or entry.occurred_at >= flt.since)
        and (flt.until is None or entry.occurred_at < flt.until)
    )
