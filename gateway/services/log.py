"""Reading the app log: the filter of DESIGN §1 (since inclusive, until exclusive).

The filter exists in three forms that must agree: on a query set (`apply_log_filter`), on one
entry in memory (`matches`, for live updates), and as the SQL of the portal's log page on
PostgreSQL (`_page_sql`); tests/test_log_page.py holds the last to the first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from gateway import models as m
from gateway import rows
from gateway.models.enums import AppActivity
from gateway.pagination import (
    Page,
    PageRequest,
    after_sql,
    order_sql,
    page_from_rows,
    paginate_queryset,
)
from gateway.rows import Params


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


async def portal_log_page(
    portal_id: int, flt: LogFilter | None, request: PageRequest
) -> Page[m.AppLogEntry]:
    """A page of the portal's log. Its statement is the console's most frequent, so on
    PostgreSQL it is written here rather than by the query builder (whose work costs more than
    the database's answer); SQLite, and `totalCount`, use the query set."""
    qs = portal_log(portal_id, flt)
    client = m.AppLogEntry._meta.db
    if client.capabilities.dialect != "postgres":
        return await paginate_queryset(qs, request)
    sql, params = _page_sql(portal_id, flt, request)
    return page_from_rows(await rows.fetch_sql(m.AppLogEntry, sql, params), request, qs.count)


def _page_sql(portal_id: int, flt: LogFilter | None, request: PageRequest) -> tuple[str, Params]:
    """PostgreSQL's statement for `portal_log_page`: `apply_log_filter` and the page's keyset."""
    param = Params(portal_id)
    where = ['"portal_id" = $1', *log_conditions(flt, param)]
    where += after_sql(m.AppLogEntry, request, param)
    table = f'"{m.AppLogEntry._meta.db_table}"'
    sql = (
        f"SELECT {rows.columns(m.AppLogEntry, table)} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {order_sql(m.AppLogEntry, request.order)} LIMIT {int(request.first) + 1}"
    )
    return sql, param


def log_conditions(flt: LogFilter | None, param: Params) -> list[str]:
    """`apply_log_filter` as SQL conditions for PostgreSQL, each list one array parameter (one
    prepared statement per shape of filter)."""
    if flt is None:
        return []
    where = []
    if flt.activities is not None:
        where.append(f'"activity" = ANY({param(sorted(a.value for a in flt.activities))})')
    if flt.user_ids is not None:
        where.append(f'"user_id" = ANY({param(sorted(flt.user_ids))})')
    if flt.app_ids is not None:
        where.append(f'"app_id" = ANY({param(sorted(flt.app_ids))})')
    if flt.since is not None:
        where.append(f'"occurred_at" >= {param(flt.since)}')
    if flt.until is not None:
        where.append(f'"occurred_at" < {param(flt.until)}')
    return where
