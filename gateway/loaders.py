"""Per-request DataLoaders (aiodataloader), named <Thing>By<Key>Loader.

Every relation a field follows goes through one of these, so children of a page are fetched in
one batch per relation, whatever the number of parents. Loaders bind the running event loop
and cache for their lifetime: build a fresh `Loaders` per request (or per subscription event).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, MutableMapping, Sequence
from datetime import date
from functools import cached_property, lru_cache, partial
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

from aiodataloader import DataLoader
from tortoise.functions import Count, Max
from tortoise.models import Model

from gateway import models as m
from gateway.models.enums import SubscriptionTier
from gateway.pagination import PageRequest, top_n_per_parent, top_n_written
from gateway.rows import (
    Params,
    builder,
    column_name,
    columns,
    converted,
    fetch_in,
    fetch_raw,
    on_postgres,
    values_in,
)

M = TypeVar("M", bound=Model)


class ScopeRow(NamedTuple):
    """A scope a listing requests, as scope states read it: a page reads hundreds, so no model
    is built for them. `granted`: the app holds it; for a listing not installed, True, as an
    install grants every scope the tier allows (services/apps.scope_state)."""

    name: str
    description: str
    required_tier: SubscriptionTier
    required: bool
    granted: bool = True


class UsageDay(NamedTuple):
    """An app's reported calls and errors of one UTC day (services/usage.py)."""

    date: date
    calls: int
    errors: int


_LISTED = ("position", "id")  # a listing's scopes in the order it lists them
_SCOPE_FIELDS = ScopeRow._fields[:-1]  # the listing's columns (not `granted`)


def _among(client: Any, keys: Collection[int]) -> tuple[Params, str]:
    """The parameters of a statement whose key column is one of `keys`, and that condition
    (what follows the column): one array on PostgreSQL, so one prepared statement whatever the
    number of keys; a placeholder per key elsewhere."""
    ordered = sorted(keys)
    if on_postgres(client):
        return Params(ordered), "= ANY($1)"
    return Params(*ordered), f"IN ({', '.join('?' * len(ordered))})"


async def _app_scopes(app_ids: set[int]) -> list[tuple[Any, ...]]:
    """(app id, ScopeRow) of each scope the apps' listings request, in the listings' order."""
    client = m.ListingScope._meta.db
    scope, grant = m.ListingScope._meta.db_table, m.GrantedScope._meta.db_table
    app = m.ConnectedApp._meta.db_table
    selected = ", ".join(f's."{column_name(m.ListingScope, f)}"' for f in _SCOPE_FIELDS)
    params, among = _among(client, app_ids)
    sql = (
        f'SELECT a."id", {selected}, g."id" IS NOT NULL FROM "{app}" AS a '
        f'JOIN "{scope}" AS s ON s."listing_id" = a."listing_id" '
        f'LEFT JOIN "{grant}" AS g ON g."app_id" = a."id" AND g."name" = s."name" '
        f'WHERE a."id" {among} ORDER BY s."position", s."id"'
    )
    found = await fetch_raw(client, sql, params)
    # `granted` is a boolean column, converted as `required` is (SQLite gives 0 or 1).
    return converted(m.ListingScope, (*_SCOPE_FIELDS, "required"), found, ScopeRow)


async def _installed_apps(portal_ids: set[int]) -> list[tuple[m.ConnectedApp, int]]:
    """The portals' installed apps in list order, each with its number of connections.

    The count comes with the apps (a join and a GROUP BY), not from a statement of its own: the
    console asks every listed app for `connections(first: 1) { totalCount }`, and a round
    trip costs the gateway system time and a wait besides its instructions (the My Apps page
    needs 6 statements, not 7). The database counts whether the count is asked for or not:
    some 0.03 ms for 50 apps, where a correlated subquery per app cost 0.2 ms."""
    client = m.ConnectedApp._meta.db
    params, among = _among(client, portal_ids)
    found = await fetch_raw(client, _installed_apps_sql(among), params)
    return list(
        zip(map(builder(m.ConnectedApp, found), found), map(itemgetter(-1), found), strict=True)
    )


@lru_cache(maxsize=64)  # SQLite's texts differ by their number of keys
def _installed_apps_sql(among: str) -> str:
    app, connection = m.ConnectedApp._meta.db_table, m.AppConnection._meta.db_table
    return (
        f'SELECT {columns(m.ConnectedApp, "a")}, COUNT(c."id") FROM "{app}" AS a '
        f'LEFT JOIN "{connection}" AS c ON c."app_id" = a."id" '
        f'WHERE a."portal_id" {among} AND a."uninstalled_at" IS NULL '
        f'GROUP BY a."id" ORDER BY a."sort_name", a."id"'
    )


_ABSENT: Any = object()


class _Pending:
    """What stands in a loader's cache for each key of a batch `load_all` is fetching: one
    future for the whole batch (not one per key), and the batch's values once it is done."""

    __slots__ = ("batch", "values")

    def __init__(self, batch: asyncio.Future[None]) -> None:
        self.batch = batch
        self.values: dict[Any, Any] = {}


def _same(key: Any) -> Any:
    """A loader's cache key when it is given none: the key itself."""
    return key


class Loader(DataLoader):
    """aiodataloader's DataLoader, whose cache holds a key's value itself once `load_all` has
    fetched it or `prime` has given it, where DataLoader keeps a settled future per key: a page
    reads hundreds of keys, and a future per key, made, set and read back, costs more than the
    read. `load` hands out futures as DataLoader's does, from whatever the cache holds."""

    def __init__(
        self, batch_load_fn: Callable[..., Any], get_cache_key: Callable[[Any], Any] = _same
    ) -> None:
        # `_same` rather than DataLoader's own lambda, so that `load_all` knows to skip it.
        super().__init__(batch_load_fn, get_cache_key=get_cache_key)

    def load(self, key: Any) -> asyncio.Future[Any]:
        if key is None or not self.cache:
            return super().load(key)  # DataLoader's refusal, or no cache to read
        cache_key = self.get_cache_key(key)
        held = self._cache.get(cache_key, _ABSENT)
        if isinstance(held, asyncio.Future):
            return held
        future = self.loop.create_future()
        if held is _ABSENT:  # what DataLoader.load does: cache the future, queue the key
            self._cache[cache_key] = future
            self.do_resolve_reject(key, future)
        elif isinstance(held, _Pending):
            held.batch.add_done_callback(partial(_settle, future, held, key))
        else:
            future.set_result(held)
        return future

    def prime(self, key: Any, value: Any) -> Loader:
        cache_key = self.get_cache_key(key)
        if isinstance(value, Exception):
            super().prime(key, value)  # a failed future, as DataLoader keeps it
        elif cache_key not in self._cache:
            self._cache[cache_key] = value
        return self


def _settle(future: asyncio.Future[Any], pending: _Pending, key: Any, batch: Any) -> None:
    """`load`'s future for a key of a batch `load_all` was fetching, once the batch is done."""
    if future.done():
        return
    if batch.cancelled():
        future.cancel()
    elif (error := batch.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(pending.values[key])


def _by_id(model: type[M]) -> Loader:
    async def load(ids: list[int]) -> list[M | None]:
        rows = {row.pk: row for row in await fetch_in(model, "id", set(ids))}
        return [rows.get(i) for i in ids]

    return Loader(load)


def _grouped(
    model: type[M], column: str, *, where: str = "", order_by: tuple[str, ...] = ()
) -> Loader:
    """A loader whose value per key is the list of rows whose `column` holds it (maybe
    empty), in `order_by` order; `where` is a further condition in SQL (rows.fetch_in)."""

    async def load(keys: list[Any]) -> list[list[M]]:
        groups: dict[Hashable, list[M]] = defaultdict(list)
        for row in await fetch_in(model, column, set(keys), where=where, order_by=order_by):
            groups[getattr(row, column)].append(row)
        return [groups.get(k, []) for k in keys]

    return Loader(load)


# A loader's filter as SQL conditions for PostgreSQL, adding its values to the parameters.
Conditions = Callable[[Hashable, Params], list[str]]


def _pages(
    model: type[M],
    parent_field: str,
    query: Callable[[list[int], Hashable], Any],
    conditions: Conditions,
) -> Loader:
    """Loader of nested pages keyed by (parent id, PageRequest, filter key): parents asking for
    the same page shape share one windowed statement, written by hand on PostgreSQL (from
    `conditions`) and by the query builder (from `query`) elsewhere."""
    column = f"{parent_field}_id"

    async def load(keys: list[tuple[int, PageRequest, Hashable]]) -> list[list[Any]]:
        shapes: dict[tuple[PageRequest, Hashable], set[int]] = defaultdict(set)
        for parent, request, flt in keys:
            shapes[(request, flt)].add(parent)
        results: dict[tuple[int, PageRequest, Hashable], list[Any]] = {}
        for (request, flt), parents in shapes.items():
            if on_postgres(model._meta.db):
                param = Params(sorted(parents))
                where = [f'"{column}" = ANY($1)', *conditions(flt, param)]
                grouped = await top_n_written(model, column, where, param, request)
            else:
                grouped = await top_n_per_parent(query(sorted(parents), flt), parent_field, request)
            for parent in parents:
                results[(parent, request, flt)] = grouped.get(parent, [])
        return [results[k] for k in keys]

    return Loader(load)


def _counts(
    model: type[M],
    parent_field: str,
    query: Callable[[list[int], Hashable], Any],
    conditions: Conditions,
) -> Loader:
    """Loader of row counts keyed by (parent id, filter key), one GROUP BY per filter (written
    by hand on PostgreSQL, as `_pages`)."""
    column = f"{parent_field}_id"
    table = f'"{model._meta.db_table}"'

    async def counted(parents: list[int], flt: Hashable) -> list[tuple[int, int]]:
        if on_postgres(model._meta.db):
            param = Params(parents)
            where = " AND ".join([f'"{column}" = ANY($1)', *conditions(flt, param)])
            sql = f'SELECT "{column}", COUNT(*) FROM {table} WHERE {where} GROUP BY "{column}"'
            return [(row[0], row[1]) for row in await fetch_raw(model._meta.db, sql, param)]
        rows = (
            await query(parents, flt).annotate(n=Count("id")).group_by(column).values(column, "n")
        )
        return [(row[column], row["n"]) for row in rows]

    async def load(keys: list[tuple[int, Hashable]]) -> list[int]:
        by_filter: dict[Hashable, set[int]] = defaultdict(set)
        for parent, flt in keys:
            by_filter[flt].add(parent)
        counts: dict[tuple[int, Hashable], int] = {}
        for flt, parents in by_filter.items():
            for parent, n in await counted(sorted(parents), flt):
                counts[(parent, flt)] = n
        return [counts.get(k, 0) for k in keys]

    return Loader(load)


def _log_conditions(flt: Hashable, param: Params) -> list[str]:
    from gateway.services.log import log_conditions

    return log_conditions(flt, param)  # type: ignore[arg-type]  # loader keys carry the LogFilter as a Hashable


def _no_conditions(_flt: Hashable, _param: Params) -> list[str]:
    return []


def _log_query(app_ids: list[int], flt: Hashable) -> Any:
    from gateway.services.log import apply_log_filter

    return apply_log_filter(m.AppLogEntry.filter(app_id__in=app_ids), flt)  # type: ignore[arg-type]  # loader keys carry the LogFilter as a Hashable


def _connections_query(app_ids: list[int], _flt: Hashable) -> Any:
    return m.AppConnection.filter(app_id__in=app_ids)


async def load_all(loader: Loader, keys: Sequence[Any]) -> list[Any]:
    """The loader's values for `keys`, as `load_many` gives them, for a whole field step.

    Each distinct key is asked once; what the loader already holds is taken without waiting (a
    page's 250 log entries name some 20 users); the rest are fetched by one call of the batch
    function, without `load_many`'s future, queue entry and gather callback per key: the fast
    executor asks for hundreds of keys per page. While the batch runs, the keys' cache entries
    say so, and a concurrent `load` or `load_all` of the same key waits for this fetch instead
    of starting another."""
    cache = loader._cache
    unique = list(dict.fromkeys(keys))
    values: dict[Any, Any] = {}
    missing: list[Any] = []
    waiting: list[tuple[Any, Any]] = []
    for key, cache_key in zip(unique, _cache_keys(loader, unique), strict=True):
        held = cache.get(cache_key, _ABSENT)
        if held is _ABSENT:
            missing.append(key)
        elif isinstance(held, _Pending):
            waiting.append((key, held))
        elif not isinstance(held, asyncio.Future):
            values[key] = held
        elif not held.done():
            waiting.append((key, held))
        elif held.cancelled() or held.exception() is not None:
            # A failed fetch is not remembered (DataLoader clears it too): ask again.
            missing.append(key)
        else:
            values[key] = held.result()
    if missing:
        values.update(await _fetch_into(loader, missing))
    for key, held in waiting:
        if isinstance(held, _Pending):
            await held.batch
            values[key] = held.values[key]
        else:
            values[key] = await held
    return [values[key] for key in keys]


async def _fetch_into(loader: Loader, keys: list[Any]) -> dict[Any, Any]:
    """One call of the loader's batch function for `keys`, its values left in the cache."""
    cache: MutableMapping[Any, Any] = loader._cache  # values and `_Pending`s too (see Loader)
    pending = _Pending(asyncio.get_running_loop().create_future())
    cache_keys = _cache_keys(loader, keys)
    for cache_key in cache_keys:
        cache[cache_key] = pending
    try:
        found = list(await loader.batch_load_fn(keys))
        if len(found) != len(keys):
            raise TypeError(
                f"a loader's batch function returned {len(found)} values for {len(keys)} keys"
            )
    except BaseException as exc:
        for cache_key in cache_keys:
            if cache.get(cache_key) is pending:
                del cache[cache_key]
        if isinstance(exc, Exception):
            pending.batch.set_exception(exc)
            pending.batch.exception()  # retrieved here: only concurrent waiters re-raise it
        else:
            pending.batch.cancel()
        raise
    pending.values = dict(zip(keys, found, strict=True))
    for cache_key, value in zip(cache_keys, found, strict=True):
        if cache.get(cache_key) is pending:
            cache[cache_key] = value
    pending.batch.set_result(None)
    return pending.values


def _cache_keys(loader: Loader, keys: list[Any]) -> list[Any]:
    """The cache keys of `keys` (the keys themselves, without a call each, by default)."""
    key_of = loader.get_cache_key
    return keys if key_of is _same else list(map(key_of, keys))


async def load_optional(loader: Loader, keys: Sequence[Any]) -> list[Any]:
    """The loader's values for keys that may be None (no such relation): None for those."""
    wanted = [k for k in keys if k is not None]
    found = dict(zip(wanted, await load_all(loader, wanted), strict=True))
    return [found.get(k) if k is not None else None for k in keys]


class Loaders:
    """All loaders of one request. Each is created on first use."""

    _batches: dict[tuple[Callable[..., Any], str], Loader]
    # Values derived from loaded rows (an app's scope states, say), computed once per request
    # however many fields read them.
    derived: dict[Hashable, Any]

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Empty: also how a request lets go of everything loaded once it is answered, so its
        rows go with it even where something still refers to its context (graphql-core's
        executor does, through a reference cycle of its own, until the cycle collector runs)."""
        self.__dict__.clear()  # the loaders made on first use
        self._batches = {}
        self.derived = {}

    def batch(self, fn: Callable[..., Any], arguments: dict[str, Any], context: Any) -> Loader:
        """The loader of a batch resolver for one set of arguments, keyed by parent object
        (gateway/executor/batch.py): graphql-core's per-object calls become one batch call.

        The context is the first caller's, which is the request's own: a subscription event's
        loaders serve one group, whose members agree on every viewer fact a field declares
        (gateway/hub.py)."""
        key = (fn, repr(sorted(arguments.items())) if arguments else "")
        loader = self._batches.get(key)
        if loader is None:

            async def load(parents: list[Any]) -> list[Any]:
                return list(await fn(context, parents, **arguments))

            # Parents are keyed by identity (rows and pages need not be hashable), so each one
            # is kept alive with the loader: a freed parent's id could name another object.
            held: list[Any] = []

            def identity(parent: Any) -> int:
                held.append(parent)
                return id(parent)

            loader = self._batches[key] = Loader(load, get_cache_key=identity)
        return loader

    # Objects by primary key.
    @cached_property
    def portal_by_id(self) -> Loader:
        return _by_id(m.Portal)

    @cached_property
    def user_by_id(self) -> Loader:
        return _by_id(m.User)

    @cached_property
    def team_by_id(self) -> Loader:
        return _by_id(m.Team)

    @cached_property
    def listing_by_id(self) -> Loader:
        return _by_id(m.MarketplaceListing)

    @cached_property
    def app_by_id(self) -> Loader:
        return _by_id(m.ConnectedApp)

    @cached_property
    def connection_by_id(self) -> Loader:
        return _by_id(m.AppConnection)

    @cached_property
    def alert_by_id(self) -> Loader:
        return _by_id(m.AppAlert)

    @cached_property
    def log_entry_by_id(self) -> Loader:
        return _by_id(m.AppLogEntry)

    @cached_property
    def rule_by_id(self) -> Loader:
        return _by_id(m.NotificationRule)

    @cached_property
    def notification_by_id(self) -> Loader:
        return _by_id(m.Notification)

    @cached_property
    def delivery_by_id(self) -> Loader:
        return _by_id(m.Delivery)

    @cached_property
    def learning_resource_by_id(self) -> Loader:
        return _by_id(m.LearningResource)

    @cached_property
    def install_request_by_id(self) -> Loader:
        return _by_id(m.InstallRequest)

    # Children by parent.
    @cached_property
    def open_alerts_by_app(self) -> Loader:
        return _grouped(
            m.AppAlert, "app_id", where='"resolved_at" IS NULL', order_by=("-raised_at", "-id")
        )

    @cached_property
    def logged_alert_by_entry(self) -> Loader:
        return _grouped(m.LoggedAlert, "entry_id")

    @cached_property
    def scope_change_by_entry(self) -> Loader:
        return _grouped(m.LoggedScopeChange, "entry_id")

    @cached_property
    def grant_names_by_app(self) -> Loader:
        """The names of each app's grants, by name: `scopes_by_app` reads the grants of the
        scopes the listing requests; these also show the grants it no longer requests."""

        async def load(app_ids: list[int]) -> list[list[str]]:
            names: dict[int, list[str]] = defaultdict(list)
            found = await values_in(
                m.GrantedScope, "app_id", set(app_ids), ("name",), order_by=("name",)
            )
            for app_id, name in found:
                names[app_id].append(name)
            return [names.get(i, []) for i in app_ids]

        return Loader(load)

    @cached_property
    def scopes_by_listing(self) -> Loader:
        """Each listing's requested scopes, in the listing's order, as scope states read them."""

        async def load(listing_ids: list[int]) -> list[list[ScopeRow]]:
            scopes: dict[int, list[ScopeRow]] = defaultdict(list)
            found = await values_in(
                m.ListingScope, "listing_id", set(listing_ids), _SCOPE_FIELDS, order_by=_LISTED
            )
            for listing_id, *values in found:
                scopes[listing_id].append(ScopeRow(*values))
            return [scopes.get(i, []) for i in listing_ids]

        return Loader(load)

    @cached_property
    def scopes_by_app(self) -> Loader:
        """Each app's requested scopes (its listing's, in the listing's order) and whether the
        app holds each: the grants joined to the scopes, one statement for a page of apps."""

        async def load(app_ids: list[int]) -> list[list[ScopeRow]]:
            scopes: dict[int, list[ScopeRow]] = defaultdict(list)
            for app_id, scope in await _app_scopes(set(app_ids)):
                scopes[app_id].append(scope)
            return [scopes.get(i, []) for i in app_ids]

        return Loader(load)

    @cached_property
    def resources_by_listing(self) -> Loader:
        return _grouped(m.LearningResource, "listing_id", order_by=("position", "id"))

    @cached_property
    def memberships_by_user(self) -> Loader:
        return _grouped(m.TeamMembership, "user_id")

    @cached_property
    def memberships_by_team(self) -> Loader:
        return _grouped(m.TeamMembership, "team_id")

    @cached_property
    def rule_apps_by_rule(self) -> Loader:
        return _grouped(m.RuleApp, "rule_id")

    @cached_property
    def rule_users_by_rule(self) -> Loader:
        return _grouped(m.RuleUser, "rule_id")

    @cached_property
    def rule_teams_by_rule(self) -> Loader:
        return _grouped(m.RuleTeam, "rule_id")

    @cached_property
    def last_delivery_by_rule(self) -> Loader:
        """Each rule's newest delivery (on any channel), or None."""

        async def load(rule_ids: list[int]) -> list[m.Delivery | None]:
            rows = (
                await m.Delivery.filter(rule_id__in=set(rule_ids))
                .annotate(newest=Max("id"))
                .group_by("rule_id")
                .values_list("rule_id", "newest")
            )
            newest: dict[int, int] = dict(rows)
            found = await fetch_in(m.Delivery, "id", set(newest.values())) if newest else []
            by_id = {d.id: d for d in found}
            return [by_id.get(newest.get(r, -1)) for r in rule_ids]

        return Loader(load)

    @cached_property
    def entries_by_notification(self) -> Loader:
        return _grouped(m.NotificationEntry, "notification_id")

    @cached_property
    def note_items_by_notification(self) -> Loader:
        """The install requests each INSTALL_REQUEST notification lists, oldest first."""
        return _grouped(m.InstallRequestNoteItem, "notification_id", order_by=("request_id",))

    @cached_property
    def note_by_notification(self) -> Loader:
        """Each notification's install request note (null: a digest)."""

        async def load(ids: list[int]) -> list[m.InstallRequestNote | None]:
            found = await fetch_in(m.InstallRequestNote, "notification_id", set(ids))
            notes = {note.notification_id: note for note in found}
            return [notes.get(i) for i in ids]

        return Loader(load)

    @cached_property
    def pending_requests_by_requester(self) -> Loader:
        """Each user's PENDING install requests, oldest first."""
        return _grouped(
            m.InstallRequest,
            "requested_by_id",
            where="\"status\" = 'PENDING'",
            order_by=("created_at", "id"),
        )

    @cached_property
    def installed_apps_by_portal(self) -> Loader:
        """The portal's installed apps in list order: lists and the summary filter this."""
        # The loaders themselves, not `self`: a closure over `self` would make the request's
        # loaders a reference cycle, whose rows only the cycle collector could free.
        by_id, connections = self.app_by_id, self.connection_count_by_app

        async def load(portal_ids: list[int]) -> list[list[m.ConnectedApp]]:
            groups: dict[int, list[m.ConnectedApp]] = defaultdict(list)
            for row, connected in await _installed_apps(set(portal_ids)):
                groups[row.portal_id].append(row)
                by_id.prime(row.id, row)
                connections.prime((row.id, None), connected)  # its key: (app id, no filter)
            return [groups.get(p, []) for p in portal_ids]

        return Loader(load)

    # Nested pages and their counts.
    @cached_property
    def log_page_by_app(self) -> Loader:
        return _pages(m.AppLogEntry, "app", _log_query, _log_conditions)

    @cached_property
    def log_count_by_app(self) -> Loader:
        return _counts(m.AppLogEntry, "app", _log_query, _log_conditions)

    @cached_property
    def connection_page_by_app(self) -> Loader:
        return _pages(m.AppConnection, "app", _connections_query, _no_conditions)

    @cached_property
    def connection_count_by_app(self) -> Loader:
        return _counts(m.AppConnection, "app", _connections_query, _no_conditions)

    # App usage (services/usage.py).
    @cached_property
    def usage_days_by_app(self) -> Loader:
        """Each app's reported days from a first day on, keyed by (app id, first day): one
        statement per first day (a page asks with one)."""

        async def load(keys: list[tuple[int, date]]) -> list[list[UsageDay]]:
            by_since: dict[date, set[int]] = defaultdict(set)
            for app_id, since in keys:
                by_since[since].add(app_id)
            days: dict[tuple[int, date], list[UsageDay]] = defaultdict(list)
            for since, app_ids in by_since.items():
                for app_id, *values in await _usage_rows(app_ids, since):
                    days[app_id, since].append(UsageDay(*values))
            return [days.get(k, []) for k in keys]

        return Loader(load)

    @cached_property
    def last_used_by_app(self) -> Loader:
        """Each app's newest `used_until` (null: never used), one GROUP BY for all apps."""

        async def load(app_ids: list[int]) -> list[Any]:
            client = m.AppUsageDay._meta.db
            params, among = _among(client, set(app_ids))
            sql = (
                f'SELECT "app_id", MAX("used_until") FROM "{m.AppUsageDay._meta.db_table}" '
                f'WHERE "app_id" {among} AND "used_until" IS NOT NULL GROUP BY "app_id"'
            )
            found = converted(m.AppUsageDay, ("used_until",), await fetch_raw(client, sql, params))
            newest = dict(found)
            return [newest.get(i) for i in app_ids]

        return Loader(load)


async def _usage_rows(app_ids: set[int], since: date) -> list[tuple[Any, ...]]:
    """(app id, day, calls, errors) of the apps' reported days from `since` on."""
    client = m.AppUsageDay._meta.db
    keys = sorted(app_ids)
    if on_postgres(client):
        params, among, first = Params(keys, since), "= ANY($1)", "$2"
    else:
        # SQLite keeps dates as ISO text, which orders as the dates do.
        params, first = Params(*keys, since.isoformat()), "?"
        among = f"IN ({', '.join('?' * len(keys))})"
    sql = (
        f'SELECT "app_id", "day", "calls", "errors" FROM "{m.AppUsageDay._meta.db_table}" '
        f'WHERE "app_id" {among} AND "day" >= {first}'
    )
    return converted(
        m.AppUsageDay, ("day", "calls", "errors"), await fetch_raw(client, sql, params)
    )
