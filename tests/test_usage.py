"""App usage through HTTP (DESIGN §6 "Usage"): `app.usage` reports replacing each other per
day, their checks, `lastUsedAt`, zero-filled `usage(days:)` windows and the `unusedForDays`
filter at its boundaries. The clock is held still (gateway/clock.py), so no test races
midnight."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from gateway import clock
from gateway.models import AppUsageDay, ConnectedApp, MarketplaceListing, Portal, ProcessedEvent
from gateway.models.enums import AppActivity, InstallLevel, SubscriptionTier
from tests import factories as f
from tests.helpers import data, error_codes, gid, gql
from tests.test_events import post, send
from tests.test_serve import GATEWAY, clean_env, serving

# Real time, so the signed timestamps are within the allowed skew; held still for each test.
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()

USAGE = """query($id: ID!, $days: Int) { node(id: $id) { ... on ConnectedApp {
  lastUsedAt usage(days: $days) { calls errors errorRate days { date calls errors } } } } }"""
UNUSED = """query($n: Int) { viewer { portal {
  connectedApps(first: 100, filter: {unusedForDays: $n}) { nodes { name } } } } }"""


@pytest.fixture(autouse=True)
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: NOW)


CATEGORY = "Usage fixtures"


@pytest.fixture(scope="module")
async def listings(app) -> dict[str, MarketplaceListing]:
    return {
        "portal": await f.make_listing("Tally", category=CATEGORY),
        "multi": await f.make_listing("Parrot", InstallLevel.MULTI_ACCOUNT, category=CATEGORY),
    }


@dataclass
class World:
    portal: Portal
    token: str
    app: ConnectedApp
    multi: ConnectedApp


@pytest.fixture
async def world(app, settings, listings) -> World:
    t = await f.make_tenant(
        settings,
        tier=SubscriptionTier.PROFESSIONAL,
        apps=[listings["portal"], listings["multi"]],
        accounts={"Parrot": ["@acme"]},
        installed_at=NOW - timedelta(days=200),
    )
    return World(t.portal, t.token("Ada Admin"), t.apps["Tally"], t.apps["Parrot"])


def day(back: int) -> date:
    return TODAY - timedelta(days=back)


def report(
    app: ConnectedApp,
    on: date,
    calls: Any,
    errors: Any = 0,
    at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "app.usage",
        "occurredAt": (at or NOW).isoformat(),
        "portalId": gid("Portal", app.portal_id),
        "appId": gid("ConnectedApp", app.id),
        "day": on.isoformat() if isinstance(on, date) else on,
        "calls": calls,
        "errors": errors,
        **extra,
    }


async def usage_of(client, world: World, app: ConnectedApp, days: int | None = None) -> Any:
    variables: dict[str, Any] = {"id": gid("ConnectedApp", app.id)}
    if days is not None:
        variables["days"] = days
    return (await data(client, USAGE, variables, token=world.token))["node"]


def end_of(on: date) -> str:
    return datetime.combine(on, time(23, 59, 59, tzinfo=UTC)).isoformat()


# --- reports replace each other per day ---------------------------------------------------


async def test_a_newer_report_of_a_day_replaces_it_and_an_older_one_changes_nothing(client, world):
    at = NOW - timedelta(hours=3)
    await send(client, report(world.app, day(1), 10, 1, at))
    await send(client, report(world.app, day(1), 20, 4, at + timedelta(hours=1)))
    # An older report is accepted (202) and remembered, but the day keeps the newer one
    await send(client, report(world.app, day(1), 5, 0, at + timedelta(minutes=30)))
    view = await usage_of(client, world, world.app, 2)
    assert view["usage"] == {
        "calls": 20,
        "errors": 4,
        "errorRate": 0.2,
        "days": [
            {"date": TODAY.isoformat(), "calls": 0, "errors": 0},
            {"date": day(1).isoformat(), "calls": 20, "errors": 4},
        ],
    }
    assert await AppUsageDay.filter(app_id=world.app.id).count() == 1


async def test_equal_times_let_the_later_arrival_win(client, world):
    await send(client, report(world.app, day(0), 3, 0, NOW))
    await send(client, report(world.app, day(0), 7, 0, NOW))
    assert (await usage_of(client, world, world.app, 1))["usage"]["calls"] == 7


async def test_last_used_is_the_newest_last_call_else_the_end_of_the_newest_day_with_calls(
    client, world
):
    assert (await usage_of(client, world, world.app))["lastUsedAt"] is None
    await send(client, report(world.app, day(5), 4, 0, NOW - timedelta(hours=2)))
    assert (await usage_of(client, world, world.app))["lastUsedAt"] == end_of(day(5))
    last_call = datetime.combine(day(2), time(14, 30, tzinfo=UTC))
    await send(
        client,
        report(world.app, day(2), 9, 0, NOW - timedelta(hours=2), lastCallAt=last_call.isoformat()),
    )
    assert (await usage_of(client, world, world.app))["lastUsedAt"] == last_call.isoformat()
    # A replacing report with 0 calls takes its day out: the newest day left counts
    await send(client, report(world.app, day(2), 0, 0, NOW - timedelta(hours=1)))
    assert (await usage_of(client, world, world.app))["lastUsedAt"] == end_of(day(5))
    await send(client, report(world.app, day(5), 0, 0, NOW - timedelta(hours=1)))
    assert (await usage_of(client, world, world.app))["lastUsedAt"] is None


# --- windows ------------------------------------------------------------------------------


async def test_windows_are_zero_filled_today_first_and_sum_only_their_days(client, world):
    for back, calls, errors in ((0, 8, 2), (2, 2, 0), (29, 10, 10), (30, 100, 0)):
        await send(client, report(world.app, day(back), calls, errors))
    default = (await usage_of(client, world, world.app))["usage"]
    assert [d["date"] for d in default["days"]] == [day(i).isoformat() for i in range(30)]
    assert (default["calls"], default["errors"]) == (20, 12)
    assert default["errorRate"] == pytest.approx(0.6)
    assert [d["calls"] for d in default["days"]][:4] == [8, 0, 2, 0]
    three = (await usage_of(client, world, world.app, 3))["usage"]
    assert three["days"] == [
        {"date": day(0).isoformat(), "calls": 8, "errors": 2},
        {"date": day(1).isoformat(), "calls": 0, "errors": 0},
        {"date": day(2).isoformat(), "calls": 2, "errors": 0},
    ]
    ninety = (await usage_of(client, world, world.app, 90))["usage"]
    assert (len(ninety["days"]), ninety["calls"]) == (90, 120)


async def test_an_app_without_reports_has_a_zero_window_and_a_zero_error_rate(client, world):
    view = (await usage_of(client, world, world.multi, 7))["usage"]
    assert (view["calls"], view["errors"], view["errorRate"]) == (0, 0, 0)
    assert [d["calls"] for d in view["days"]] == [0] * 7


@pytest.mark.parametrize("days", [0, -1, 91])
async def test_a_window_outside_1_to_90_days_is_bad_user_input(client, world, days):
    body = await gql(
        client, USAGE, {"id": gid("ConnectedApp", world.app.id), "days": days}, token=world.token
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "between 1 and 90" in body["errors"][0]["message"]


async def test_multi_account_apps_report_usage_too(client, world):
    await send(client, report(world.multi, day(1), 12, 3))
    view = await usage_of(client, world, world.multi, 2)
    assert (view["usage"]["calls"], view["lastUsedAt"]) == (12, end_of(day(1)))


# --- the checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"calls": 3, "errors": 4}, "errors (4) must not exceed calls (3)"),
        ({"day": (TODAY + timedelta(days=1)).isoformat()}, "is after today"),
        ({"day": (TODAY - timedelta(days=401)).isoformat()}, "more than 400 days back"),
        ({"calls": -1, "errors": 0}, "calls must not be negative"),
        ({"calls": 1, "errors": -1}, "errors must not be negative"),
        ({"calls": 2.5}, "calls must be a whole number"),
        ({"calls": True}, "calls must be a whole number"),
        ({"calls": "3"}, "calls must be a whole number"),
        ({"errors": None}, "errors is required"),
        ({"day": "2026-02-30"}, "day must be a date, YYYY-MM-DD"),
        ({"day": "20260101"}, "day must be a date, YYYY-MM-DD"),
        ({"calls": 20_000_001}, "calls must be at most 20000000 a day"),
        ({"lastCallAt": "yesterday"}, "lastCallAt must be an ISO 8601 date-time"),
        (
            # the day before the report's (a time on the day after it, today, would be in the
            # future until 00:55 UTC, and refused as such first)
            {"lastCallAt": datetime.combine(day(2), time(1, tzinfo=UTC)).isoformat()},
            "lastCallAt must fall on day",
        ),
        (
            {
                "calls": 0,
                "lastCallAt": datetime.combine(
                    TODAY - timedelta(days=1), time(1, tzinfo=UTC)
                ).isoformat(),
            },
            "lastCallAt needs calls above 0",
        ),
    ],
)
async def test_bad_reports_are_400_with_a_clear_message_and_store_nothing(
    client, world, change, message
):
    before = (await ProcessedEvent.all().count(), await AppUsageDay.all().count())
    payload = {**report(world.app, day(1), 5, 1), **change}
    response = await post(client, payload)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert (await ProcessedEvent.all().count(), await AppUsageDay.all().count()) == before


async def test_a_day_exactly_400_days_back_and_today_are_accepted(client, world):
    await send(client, report(world.app, day(400), 1))
    await send(client, report(world.app, day(0), 1))
    assert await AppUsageDay.filter(app_id=world.app.id).count() == 2


async def test_a_repeated_id_is_a_duplicate_and_changes_nothing(client, world):
    first = report(world.app, day(1), 5)
    await send(client, first)
    again = {**first, "calls": 50, "occurredAt": (NOW + timedelta(minutes=1)).isoformat()}
    assert await send(client, again, 200) == {"status": "duplicate"}
    assert (await usage_of(client, world, world.app, 2))["usage"]["calls"] == 5


async def test_an_uninstalled_apps_usage_is_accepted_and_kept(client, world):
    await ConnectedApp.filter(id=world.app.id).update(uninstalled_at=NOW - timedelta(days=3))
    assert await send(client, report(world.app, day(1), 6)) == {"status": "applied"}
    assert (await usage_of(client, world, world.app, 2))["usage"]["calls"] == 6


async def test_an_unknown_app_or_one_of_another_portal_is_404(client, world, settings, listings):
    other = await f.make_tenant(settings, apps=[listings["portal"]])
    foreign = {**report(world.app, day(1), 1), "appId": gid("ConnectedApp", other.apps["Tally"].id)}
    assert (await post(client, foreign)).status_code == 404
    missing = {**report(world.app, day(1), 1), "appId": gid("ConnectedApp", 10**9)}
    assert (await post(client, missing)).status_code == 404
    assert await AppUsageDay.filter(app_id=world.app.id).count() == 0


# --- unusedForDays ------------------------------------------------------------------------


async def test_unused_for_days_at_its_boundaries(client, world, settings):
    first = datetime.combine(day(29), time(tzinfo=UTC))  # the first of the last 30 days
    t = await f.make_tenant(
        settings,
        apps=["Never", "UsedNDaysAgo", "UsedInWindow", "Yesterday", "AtFirstDay", "JustBefore"],
        installed_at=NOW - timedelta(days=200),
    )
    apps = t.apps
    await ConnectedApp.filter(id=apps["Yesterday"].id).update(installed_at=NOW - timedelta(days=1))
    await ConnectedApp.filter(id=apps["AtFirstDay"].id).update(installed_at=first)
    await ConnectedApp.filter(id=apps["JustBefore"].id).update(
        installed_at=first - timedelta(seconds=1)
    )
    await send(client, report(apps["UsedNDaysAgo"], day(30), 4))
    await send(client, report(apps["UsedInWindow"], day(29), 4))
    # A day in the window with a report of 0 calls is no use
    await send(client, report(apps["Never"], day(3), 0))
    # Reinstalled within the window: its current install is too young to call unused
    reinstalled = await f.make_listing("Reinstalled")
    back = await f.install(t.portal, reinstalled, None, NOW - timedelta(days=200))
    await f.log(back, AppActivity.UNINSTALLED, NOW - timedelta(days=10))
    await f.log(back, AppActivity.REINSTALLED, NOW - timedelta(days=5))
    # An uninstalled app is not listed at all
    gone = await f.install(t.portal, await f.make_listing("Gone"), None, NOW - timedelta(days=200))
    await ConnectedApp.filter(id=gone.id).update(uninstalled_at=NOW - timedelta(days=100))

    async def unused(n: int | None) -> list[str]:
        found = await data(client, UNUSED, {"n": n}, token=t.token("Ada Admin"))
        return [a["name"] for a in found["viewer"]["portal"]["connectedApps"]["nodes"]]

    assert await unused(30) == ["JustBefore", "Never", "UsedNDaysAgo"]
    # A day longer: JustBefore was installed on its first day, UsedNDaysAgo used on it
    assert await unused(31) == ["Never"]
    assert await unused(None) == [
        "AtFirstDay",
        "JustBefore",
        "Never",
        "Reinstalled",
        "UsedInWindow",
        "UsedNDaysAgo",
        "Yesterday",
    ]
    # Over two days, only the app installed yesterday is too young
    assert await unused(2) == [
        "AtFirstDay",
        "JustBefore",
        "Never",
        "Reinstalled",
        "UsedInWindow",
        "UsedNDaysAgo",
    ]


@pytest.mark.parametrize("n", [0, -3, 401])
async def test_unused_for_days_outside_1_to_400_is_bad_user_input(client, world, n):
    body = await gql(client, UNUSED, {"n": n}, token=world.token)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "`filter.unusedForDays` must be between 1 and 400" in body["errors"][0]["message"]


# --- gateway emit app.usage ---------------------------------------------------------------


async def test_gateway_emit_sends_a_usage_report(tmp_path):
    # Given `gateway serve --demo` on its own database (its own clock: real time)
    env = clean_env(
        GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'emit.sqlite3'}",
        GATEWAY_JWT_SECRET="emit-test-jwt-secret-" + "x" * 32,
        GATEWAY_EVENTS_SECRET="emit-test-events-secret-" + "y" * 32,
    )
    today = datetime.now(UTC).date()
    async with serving(env, "--demo") as (base, _lines):

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [GATEWAY, *args], env=env, capture_output=True, text=True, timeout=60
            )

        def emit(*args: str) -> subprocess.CompletedProcess[str]:
            common = ("--portal", "Acme Demo", "--app", "quotely", "--url", f"{base}/events")
            return run("emit", "app.usage", *common, *args)

        last_call = datetime.combine(today, time(0, 0, 1, tzinfo=UTC))
        done = await asyncio.to_thread(
            emit,
            *("--day", today.isoformat(), "--calls", "41", "--errors", "2"),
            *("--last-call-at", last_call.isoformat()),
        )
        assert (done.returncode, done.stdout.strip()) == (0, '202 {"status":"applied"}'), (
            done.stderr
        )
        token = (await asyncio.to_thread(run, "token", "--email", "admin@demo.example")).stdout
        query = """{ viewer { portal { connectedApps(first: 5, filter: {search: "quotely"}) {
          nodes { lastUsedAt usage(days: 1) { calls errors days { date calls } } } } } } }"""
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {token.strip()}"},
            )
        [node] = response.json()["data"]["viewer"]["portal"]["connectedApps"]["nodes"]
        assert node == {
            "lastUsedAt": last_call.isoformat(),
            "usage": {
                "calls": 41,
                "errors": 2,
                "days": [{"date": today.isoformat(), "calls": 41}],
            },
        }
        # The server's checks answer for the CLI: errors above calls is a 400, exit 1
        refused = await asyncio.to_thread(
            emit, "--day", today.isoformat(), "--calls", "1", "--errors", "2"
        )
        assert refused.returncode == 1 and refused.stdout.startswith("400 ")
        assert "errors (2) must not exceed calls (1)" in refused.stdout
        # Without the numbers nothing is sent
        missing = await asyncio.to_thread(emit, "--day", today.isoformat())
        assert missing.returncode == 2 and "--day, --calls and --errors" in missing.stderr
