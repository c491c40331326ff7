"""The bench's second scenario: the App log page over a portal with a million log entries.

Its own portal ("Bench log portal": 20 users, 50 apps on the first scenario's listings), seeded
through the models, then 1,000,000 log entries in one set-based INSERT ... SELECT over
generate_series, so seeding takes seconds. The entries are spread evenly over 140 days, two per
timestamp (the newest-first order then also relies on the id tie-break), about 30% of them
DISCONNECTED or RECONNECTED (the page's `activities` filter), every 10th with no user. The
page's 7-day window lies in the middle of the 140 days and holds 50,000 entries, about 15,000 of
them matching the filter.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from common import asyncpg_dsn, create_users

QUERY_NAME = "app-log-page.graphql"
PORTAL_NAME = "Bench log portal"
ADMIN_EMAIL = "ada.admin@log.bench.test"
N_USERS = 20
N_ENTRIES = 1_000_000
PAGE_SIZE = 50
ACTIVITIES = ["DISCONNECTED", "RECONNECTED"]
# Newest entry; two entries every 24.192 s back from it: 1,000,000 entries span 140 days.
NEWEST = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
STEP_MS = 24_192
UNTIL = NEWEST - timedelta(days=70)
SINCE = UNTIL - timedelta(days=7)

# Entry g (1..N) occurred at NEWEST - (g / 2) * STEP. Its activity comes from (g * 37) % 100,
# a permutation of the buckets within every 100 entries: 15% DISCONNECTED, 15% RECONNECTED.
# Its app and user are picked by a hash of g, so every app has every activity. The hash is
# shifted into 0 .. 2^32 - 1 before the modulo (it can be negative). session_replication_role = replica skips the row-by-row foreign key triggers
# (3 per entry); the seed's keys are valid by construction.
ENTRIES_SQL = """
INSERT INTO app_log_entry (portal_id, app_id, user_id, activity, occurred_at, recorded_at)
SELECT $1,
       ($2::int[])[1 + (hashint4(g)::bigint + 2147483648) % cardinality($2::int[])],
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE ($3::int[])[1 + (hashint4(-g)::bigint + 2147483648) % cardinality($3::int[])]
       END,
       CASE WHEN (g * 37) % 100 < 15 THEN 'DISCONNECTED'
            WHEN (g * 37) % 100 < 30 THEN 'RECONNECTED'
            WHEN (g * 37) % 100 < 55 THEN 'REAUTHORIZED'
            WHEN (g * 37) % 100 < 75 THEN 'INSTALLED'
            WHEN (g * 37) % 100 < 90 THEN 'REINSTALLED'
            ELSE 'UNINSTALLED' END,
       $4::timestamptz - (g / 2)::bigint * $5::int * interval '1 millisecond',
       $4::timestamptz - (g / 2)::bigint * $5::int * interval '1 millisecond' + interval '1 second'
FROM generate_series(1, $6::int) AS g
"""


async def seed(url: str) -> None:
    """The log portal, its users and apps (models), then the entries (one SQL statement)."""
    from gateway import models as m
    from gateway.models.enums import SubscriptionTier

    portal = await m.Portal.create(
        name=PORTAL_NAME, tier=SubscriptionTier.PROFESSIONAL, timezone="UTC"
    )
    names = ["Ada Admin"] + [f"Log User {i:02d}" for i in range(1, N_USERS)]
    users = [u.id for u in await create_users(portal, names, "log.bench.test")]
    listings = list(
        await m.MarketplaceListing.filter(slug__startswith="bench-app-").order_by("slug")
    )
    await m.ConnectedApp.bulk_create(
        m.ConnectedApp(
            portal=portal,
            listing=listing,
            name=listing.name,
            sort_name=listing.sort_name,
            install_level=listing.install_level,
            installed_at=NEWEST - timedelta(days=200),
            installed_by=None,
        )
        for listing in listings
    )
    apps = list(
        await m.ConnectedApp.filter(portal=portal).order_by("id").values_list("id", flat=True)
    )
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(ENTRIES_SQL, portal.id, apps, users, NEWEST, STEP_MS, N_ENTRIES)
    finally:
        await conn.close()
    print(f"  {N_ENTRIES:,} log entries in {time.monotonic() - started:.1f} s", flush=True)


def variables(after: str | None = None) -> dict[str, Any]:
    return {
        "first": PAGE_SIZE,
        "after": after,
        "filter": {
            "activities": ACTIVITIES,
            "since": SINCE.isoformat(),
            "until": UNTIL.isoformat(),
        },
    }


def request_body(query: str, after: str | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables(after)}).encode()


def end_cursor(response: bytes) -> str:
    """The first page's endCursor: the second page ("load more") starts after it."""
    page = json.loads(response)["data"]["viewer"]["portal"]["appLog"]
    cursor = page["pageInfo"]["endCursor"]
    if not isinstance(cursor, str):
        raise RuntimeError(f"the first log page has no endCursor: {page['pageInfo']}")
    return cursor
