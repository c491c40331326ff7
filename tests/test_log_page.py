"""The portal's log page on PostgreSQL (gateway/services/log.py `portal_log_page`) reads the
statement it writes itself: for generated filters, cursors and page sizes over the demo data,
its rows are the rows the ORM's query set gives, in the same order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import strategies as st

from gateway import models as m
from gateway.loaders import Loaders
from gateway.models.enums import AppActivity
from gateway.pagination import NEWEST_LOG_FIRST, PageRequest, paginate_queryset
from gateway.rows import unread
from gateway.services.log import LogFilter, portal_log, portal_log_page
from tests.executor_support import examples

pytestmark = pytest.mark.postgres

CASES = 200


def _cases(portal_id: int, entries: list[m.AppLogEntry], users: list[int], apps: list[int]):
    times = sorted({e.occurred_at for e in entries})
    instants = st.sampled_from([*times, times[0] - timedelta(days=1), times[-1] + timedelta(1)])
    some = lambda values: st.none() | st.frozensets(st.sampled_from(values))  # noqa: E731
    filters = st.none() | st.builds(
        LogFilter,
        activities=some(list(AppActivity)),
        user_ids=some([*users, 10**9]),
        app_ids=some([*apps, 10**9]),
        since=st.none() | instants,
        until=st.none() | instants,
    )
    cursors = st.none() | st.tuples(instants, st.sampled_from([e.id for e in entries] + [1]))
    return st.tuples(filters, cursors, st.sampled_from([0, 1, 2, 7, 50]))


async def test_the_written_statement_gives_the_query_set_s_rows(demo) -> None:
    portal_id = demo.acme_portal_id  # the demo portal with months of log
    entries = await m.AppLogEntry.filter(portal_id=portal_id)
    users = sorted({e.user_id for e in entries if e.user_id is not None})
    apps = sorted({e.app_id for e in entries})
    assert len(entries) > 20 and users and apps
    for flt, after, first in examples(_cases(portal_id, entries, users, apps), CASES):
        request = PageRequest(first, after, NEWEST_LOG_FIRST)
        loaders = Loaders()
        ours = await portal_log_page(portal_id, flt, request, loaders)
        reference = await paginate_queryset(portal_log(portal_id, flt), request)
        assert [e.id for e in ours.nodes] == [e.id for e in reference.nodes], (flt, after, first)
        assert ours.has_next_page == reference.has_next_page, (flt, after, first)
        for mine, theirs in zip(ours.nodes, reference.nodes, strict=True):
            _same_row(mine, theirs)
        # Each entry's app and user came with the page: the loaders hold them already.
        for entry in reference.nodes:
            app = await m.ConnectedApp.get(id=entry.app_id)
            _same_row(_held(loaders.app_by_id, entry.app_id), app)
            if entry.user_id is not None:
                user = await m.User.get(id=entry.user_id)
                _same_row(_held(loaders.user_by_id, entry.user_id), user)


def _same_row(mine: Any, theirs: Any) -> None:
    """The same row, in every column the gateway reads back (rows.unread: only SQL reads the
    others)."""
    assert type(mine) is type(theirs)
    skipped = unread(type(theirs))
    for name in type(theirs)._meta.fields_db_projection:
        if name not in skipped:
            assert getattr(mine, name) == getattr(theirs, name), name


def _held(loader: Any, key: Any) -> Any:
    """What the loader holds for `key`: a primed row is held as it is (loaders.Loader)."""
    held = loader._cache[key]
    assert not isinstance(held, asyncio.Future)
    return held


async def test_nested_pages_and_counts_are_the_query_sets(demo) -> None:
    """Each app's log page and count (the My Apps page's `log(first:)` and `totalCount`), from
    the statements written on PostgreSQL (gateway/loaders.py), equal what the ORM's query sets
    give for the same apps, filter and cursor."""
    from gateway.loaders import Loaders, load_all
    from gateway.pagination import top_n_per_parent
    from gateway.services.log import apply_log_filter

    portal_id = demo.acme_portal_id  # the demo portal with months of log
    entries = await m.AppLogEntry.filter(portal_id=portal_id)
    users = sorted({e.user_id for e in entries if e.user_id is not None})
    apps = sorted({e.app_id for e in entries})
    for flt, after, first in examples(_cases(portal_id, entries, users, apps), CASES // 4):
        request = PageRequest(first, after, NEWEST_LOG_FIRST)
        loaders = Loaders()
        pages = await load_all(loaders.log_page_by_app, [(a, request, flt) for a in apps])
        counts = await load_all(loaders.log_count_by_app, [(a, flt) for a in apps])
        query = apply_log_filter(m.AppLogEntry.filter(app_id__in=apps), flt)
        reference = await top_n_per_parent(query, "app", request)
        for app, page, count in zip(apps, pages, counts, strict=True):
            expected = reference.get(app, [])
            assert [e.id for e in page] == [e.id for e in expected], (app, flt, after, first)
            one = apply_log_filter(m.AppLogEntry.filter(app_id=app), flt)
            assert count == await one.count(), (app, flt)


async def test_installed_apps_come_with_their_connection_counts(demo) -> None:
    """The installed apps' statement primes each app's connection count (the key the
    connection-count loader uses), equal to what the ORM counts."""
    from gateway.loaders import Loaders, load_all

    portals = sorted({a.portal_id for a in await m.ConnectedApp.filter(uninstalled_at=None)})
    loaders = Loaders()
    groups = await load_all(loaders.installed_apps_by_portal, portals)
    apps = [app for group in groups for app in group]
    held = [_held(loaders.connection_count_by_app, (app.id, None)) for app in apps]
    assert held == [await m.AppConnection.filter(app_id=app.id).count() for app in apps]
    assert len(set(held)) > 1  # apps with connections and without


async def test_nested_connection_pages_and_counts_are_the_query_sets(demo) -> None:
    from gateway.loaders import Loaders, load_all
    from gateway.pagination import OLDEST_CONNECTED_FIRST, top_n_per_parent

    connected: list[int] = sorted(
        set(await m.AppConnection.all().values_list("app_id", flat=True))  # type: ignore[arg-type]  # flat: ids
    )
    assert connected
    for first in (0, 1, 3):
        request = PageRequest(first, None, OLDEST_CONNECTED_FIRST)
        loaders = Loaders()
        pages = await load_all(
            loaders.connection_page_by_app, [(a, request, None) for a in connected]
        )
        counts = await load_all(loaders.connection_count_by_app, [(a, None) for a in connected])
        reference = await top_n_per_parent(
            m.AppConnection.filter(app_id__in=connected), "app", request
        )
        for app, page, count in zip(connected, pages, counts, strict=True):
            assert [c.id for c in page] == [c.id for c in reference.get(app, [])]
            assert count == await m.AppConnection.filter(app_id=app).count()
