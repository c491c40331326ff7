"""Reading the app log: the filter of DESIGN §1 (since inclusive, until exclusive).

The filter exists in three forms that must agree: on a query set (`apply_log_filter`), on one
entry in memory (`matches`, for live updates), and as the SQL of the portal's log page on
PostgreSQL (`_page_sql`); tests/test_log_page.py holds the last to the first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from tortoise.models import Model
from tortoise.queryset import QuerySet

from gateway import models as m
from gateway import rows
from gateway.loaders import Loader, Loaders
from gateway.models.enums import AppActivity
from gateway.pagination import (
    Order,
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
    portal_id: int, flt: LogFilter | None, request: PageRequest, loaders: Loaders | None = None
) -> Page[m.AppLogEntry]:
    """A page of the portal's log. Its statement is the console's most frequent, so on
    PostgreSQL it is written here rather than by the query builder (whose work costs more than
    the database's answer), and it reads each entry's app and user too, left in `loaders` for
    the fields that follow them (the log screen shows both: two statements fewer per page).
    SQLite, and `totalCount`, use the query set."""
    client = m.AppLogEntry._meta.db
    if not rows.on_postgres(client):
        return await paginate_queryset(portal_log(portal_id, flt), request)
    sql, params = _page_sql(portal_id, flt, request)
    found = await rows.fetch_raw(client, sql, params)
    if loaders is not None:
        _prime(loaders.app_by_id, m.ConnectedApp, found, _APP)
        _prime(loaders.user_by_id, m.User, found, _USER)
    entries = list(map(rows.builder(m.AppLogEntry, found), found))
    # A query set only if `totalCount` is asked: a page read for its entries needs none.
    return page_from_rows(entries, request, lambda: portal_log(portal_id, flt).count())


# Column prefixes of the entry's app and user in the page's rows.
_APP, _USER = "a__", "u__"


def _page_sql(portal_id: int, flt: LogFilter | None, request: PageRequest) -> tuple[str, Params]:
    """PostgreSQL's statement for `portal_log_page`: `apply_log_filter` and the page's keyset,
    then each entry's app and user (none for an entry without one)."""
    param = Params(portal_id)
    where = ['"portal_id" = $1', *log_conditions(flt, param)]
    where += after_sql(m.AppLogEntry, request, param)
    return _page_statement(tuple(where), request.order, int(request.first) + 1), param


@lru_cache(maxsize=256)
def _page_statement(where: tuple[str, ...], order: Order, limit: int) -> str:
    """The statement's text, made once per shape: its conditions hold placeholders, never
    values, and its three select lists are most of its making."""
    table = f'"{m.AppLogEntry._meta.db_table}"'
    by = order_sql(m.AppLogEntry, order)
    page = (
        f"SELECT {rows.columns(m.AppLogEntry, table)} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {by} LIMIT {limit}"
    )
    apps, users = f'"{m.ConnectedApp._meta.db_table}"', f'"{m.User._meta.db_table}"'
    # The page first (its LIMIT is what the index serves), then each entry's app and user, on
    # the first of its entries only: a page names some 30 apps and 20 users in 50 rows, and
    # the columns of the others would be decoded for nothing. ORDER BY names the entry's own
    # output columns.
    ranked = (
        f'SELECT p.*, ROW_NUMBER() OVER (PARTITION BY p."app_id") AS "{_APP}n", '
        f'ROW_NUMBER() OVER (PARTITION BY p."user_id") AS "{_USER}n" FROM ({page}) AS p'
    )
    entry = ", ".join(f'e."{c}"' for c in rows.read_columns(m.AppLogEntry))
    app = rows.columns(m.ConnectedApp, "a", _APP, when=f'e."{_APP}n" = 1')
    user = rows.columns(m.User, "u", _USER, when=f'e."{_USER}n" = 1')
    return (
        f"SELECT {entry}, {app}, {user} FROM ({ranked}) AS e "
        f'JOIN {apps} AS a ON a."id" = e."app_id" LEFT JOIN {users} AS u ON u."id" = e."user_id" '
        f"ORDER BY {by}"
    )


def _prime(loader: Loader, model: type[Model], found: list[Any], prefix: str) -> None:
    """The `model`s the page's rows carry (by their `prefix`ed columns, on the first row of
    each: see `_page_sql`) in `loader`, unless it holds them already."""
    if not found:
        return
    build = rows.builder(model, found, prefix)
    # By its place: a read by name costs a search of the row's names, for every row.
    place = list(found[0].keys()).index(f"{prefix}id")
    for row in found:
        if (key := row[place]) is not None:
            loader.prime(key, build(row))


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
