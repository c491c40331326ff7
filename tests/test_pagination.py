"""Keyset pages: stable while entries arrive, exact windows, page-size bounds."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.models.enums import AppActivity
from tests import factories as f
from tests.helpers import data, error_codes, gql

LOG = """query($first: Int, $after: String, $filter: AppLogFilter) { viewer { portal {
  appLog(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { occurredAt activity } } } } } }"""


async def portal_with_log(settings, times):
    t = await f.make_tenant(
        settings, apps=[f.unique("Listing")], installed_at=f.T0 - timedelta(days=1)
    )
    [app], admin = t.apps.values(), t.people["Ada Admin"]
    entries = [await f.log(app, AppActivity.REAUTHORIZED, at, admin) for at in times]
    return app, admin, entries, t.token("Ada Admin")


def page_of(result):
    return result["viewer"]["portal"]["appLog"]


async def test_log_pages_are_stable_when_newer_entries_arrive(client, settings):
    # Given 30 entries, one minute apart, and a first page of 10
    times = [f.T0 + timedelta(minutes=i) for i in range(30)]
    app, admin, _entries, token = await portal_with_log(settings, times)
    first = page_of(await data(client, LOG, {"first": 10}, token=token))
    # When 5 newer entries arrive before the next page is asked for
    for i in range(5):
        await f.log(app, AppActivity.RECONNECTED, f.T0 + timedelta(days=1, minutes=i), admin)
    second = page_of(
        await data(client, LOG, {"first": 10, "after": first["pageInfo"]["endCursor"]}, token=token)
    )
    # Then the second page continues exactly where the first ended: no repeats, no gaps
    got = [e["node"]["occurredAt"] for e in second["edges"]]
    expected = [t.isoformat() for t in reversed(times)][10:20]
    assert got == expected
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert second["pageInfo"]["hasNextPage"] is True
    assert second["totalCount"] == 36  # 30 + 5 + the INSTALLED entry


async def test_entries_with_the_same_time_are_ordered_by_id_and_never_skipped(client, settings):
    same = [f.T0] * 7
    _app, _admin, _entries, token = await portal_with_log(settings, same)
    seen, after = [], None
    while True:
        page = page_of(
            await data(
                client,
                LOG,
                {"first": 3, "after": after, "filter": {"activities": ["REAUTHORIZED"]}},
                token=token,
            )
        )
        seen += [e["cursor"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 7


async def test_since_is_inclusive_and_until_exclusive(client, settings):
    times = [f.T0 + timedelta(hours=h) for h in range(5)]  # 09:00 … 13:00
    _app, _admin, _entries, token = await portal_with_log(settings, times)
    flt = {
        "since": (f.T0 + timedelta(hours=1)).isoformat(),
        "until": (f.T0 + timedelta(hours=3)).isoformat(),
        "activities": ["REAUTHORIZED"],
    }
    page = page_of(await data(client, LOG, {"filter": flt}, token=token))
    assert [e["node"]["occurredAt"] for e in page["edges"]] == [
        (f.T0 + timedelta(hours=2)).isoformat(),
        (f.T0 + timedelta(hours=1)).isoformat(),
    ]


async def test_first_zero_gives_an_empty_page_with_the_count(client, settings):
    _app, _admin, _entries, token = await portal_with_log(settings, [f.T0])
    page = page_of(await data(client, LOG, {"first": 0}, token=token))
    assert page == {
        "totalCount": 2,
        "pageInfo": {
            "hasNextPage": True,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


async def test_page_size_out_of_range_is_a_clear_error_and_runs_nothing(client, settings):
    _app, _admin, _entries, token = await portal_with_log(settings, [f.T0])
    for first in (101, 1000, -1):
        body = await gql(client, LOG, {"first": first}, token=token)
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert f"got {first}" in body["errors"][0]["message"]
        assert body["data"] is None


async def test_a_cursor_from_another_list_is_refused(client, settings):
    _app, _admin, _entries, token = await portal_with_log(settings, [f.T0])
    apps = await data(
        client, "{ viewer { portal { connectedApps { pageInfo { endCursor } } } } }", token=token
    )
    name_cursor = apps["viewer"]["portal"]["connectedApps"]["pageInfo"]["endCursor"]
    body = await gql(client, LOG, {"after": name_cursor}, token=token)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "cursor" in body["errors"][0]["message"]


@examples(max_examples=300, derandomize=True, deadline=None)
@given(
    moment=st.datetimes(
        timezones=st.one_of(
            st.just(UTC),  # what the database gives: written by orjson
            st.builds(
                timezone,
                # Whole seconds: zones' offsets are, and `datetime.fromisoformat` (3.11) drops
                # an offset's microseconds, so no cursor could carry them back.
                st.integers(min_value=-23 * 3600, max_value=23 * 3600).map(
                    lambda seconds: timedelta(seconds=seconds)
                ),
            ),
        )
    ),
    pk=st.integers(min_value=1, max_value=2**31 - 1),
)
def test_a_time_cursor_is_what_json_would_write_and_reads_back(moment, pk) -> None:
    """Time cursors are written without json.dumps (pagination.Order.encode), byte for byte
    as it would write them, and read back to the same position."""
    import base64
    import json
    from types import SimpleNamespace

    from gateway.pagination import NEWEST_LOG_FIRST

    row = SimpleNamespace(occurred_at=moment, id=pk)
    cursor = NEWEST_LOG_FIRST.encode(row)
    expected = json.dumps([moment.isoformat(), pk], separators=(",", ":"))
    assert cursor == base64.urlsafe_b64encode(expected.encode()).decode()
    assert NEWEST_LOG_FIRST.decode(cursor) == (moment, pk)


@examples(max_examples=300, derandomize=True, deadline=None)
@given(name=st.text(max_size=40), pk=st.integers(min_value=1, max_value=2**31 - 1))
def test_a_name_cursor_is_what_json_would_write_and_reads_back(name, pk) -> None:
    """Name cursors are written byte for byte as json.dumps with compact separators writes
    them (any text: quotes, escapes, non-ASCII), and read back to the same position when the
    name is a sort key."""
    import base64
    import json
    from types import SimpleNamespace

    from gateway.pagination import BY_NAME
    from gateway.services import text

    cursor = BY_NAME.encode(SimpleNamespace(sort_name=name, id=pk))
    expected = json.dumps([name, pk], separators=(",", ":"))
    assert cursor == base64.urlsafe_b64encode(expected.encode()).decode()
    if text.problem(name, "after", text.SORT_KEY) is None:
        assert BY_NAME.decode(cursor) == (name, pk)
