"""`gateway worker` as real processes: one pass as of a given instant, workers killed with
SIGKILL right after claiming a job or right after writing it (held there by the test-only
GATEWAY_TEST_PAUSE_AT), several workers at once on PostgreSQL, and the worker embedded in
`gateway serve`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.ids import to_global_id
from gateway.models import AppLogEntry, Delivery, Notification, NotificationRule, Portal, User
from gateway.models.enums import (
    AppActivity,
    DeliveryStatus,
    NotificationAudience,
    NotificationFrequency,
    NotificationType,
)
from tests import factories as f
from tests import worker_support
from tests.conftest import PG_URL

# Runs no GraphQL: one executor is enough (tests/conftest.py).
pytestmark = pytest.mark.one_executor

GATEWAY = worker_support.GATEWAY
SECRETS = {
    "GATEWAY_JWT_SECRET": "worker-test-secret-" + "x" * 32,
    "GATEWAY_EVENTS_SECRET": "e" * 40,
}

# Rules made at CUT (a day in UTC); their first digest is due at DUE and the pass runs at NOW.
CUT = datetime(2026, 6, 15, tzinfo=UTC)
DUE = CUT + timedelta(days=1)
NOW = DUE + timedelta(minutes=5)
TYPES = [
    NotificationType.APP_INSTALL,
    NotificationType.APP_DISCONNECT,
    NotificationType.APP_UNINSTALL,
]
ACTIVITY = {
    NotificationType.APP_INSTALL: AppActivity.INSTALLED,
    NotificationType.APP_DISCONNECT: AppActivity.DISCONNECTED,
    NotificationType.APP_UNINSTALL: AppActivity.UNINSTALLED,
}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --- the data, made in whichever process holds the database ------------------------------------


async def scenario(rules: int = 1, audience: str = "SUPER_ADMINS") -> dict[str, Any]:
    """A portal with two super admins and a member, an app, and `rules` daily rules (email and
    in-app) made at CUT, each with two matching entries on that day."""
    t = await f.make_tenant(
        people={"Admin 1": "admin", "Admin 2": "admin", "Member": "member"},
        apps=[f.unique("Listing")],
        installed_at=CUT - timedelta(days=30),
    )
    portal, [app] = t.portal, t.apps.values()
    ids = []
    for i in range(rules):
        type_ = TYPES[i % len(TYPES)]
        rule = await NotificationRule.create(
            portal=portal,
            name=f"Rule {i}",
            sort_name=f"rule {i}",
            type=type_,
            frequency=NotificationFrequency.DAILY,
            all_apps=True,
            audience=NotificationAudience(audience),
            email=True,
            in_app=True,
            created_at=CUT,
            updated_at=CUT,
            cut_at=CUT,
        )
        ids.append(rule.id)
    for type_ in TYPES[: min(rules, len(TYPES))]:
        for hour in (9, 10):
            await AppLogEntry.create(
                portal=portal,
                app=app,
                activity=ACTIVITY[type_],
                occurred_at=CUT + timedelta(hours=hour),
                recorded_at=CUT + timedelta(hours=hour),
            )
    return {
        "portal": to_global_id("Portal", portal.id),
        "portal_id": portal.id,
        "rules": ids,
        "users": await User.filter(portal_id=portal.id).count(),
    }


async def outcome(portal_id: int) -> dict[str, Any]:
    """What the workers left: notifications by (rule, recipient), deliveries by channel and
    status, and each rule's cut and lease."""
    notifications = await Notification.filter(portal_id=portal_id).values_list(
        "rule_id", "recipient_id"
    )
    deliveries = await Delivery.filter(portal_id=portal_id).values_list("channel", "status")
    rules = (
        await NotificationRule.filter(portal_id=portal_id)
        .order_by("id")
        .values_list("cut_at", "lease_owner")
    )
    return {
        "notifications": sorted([r, u] for r, u in notifications),
        "deliveries": sorted(f"{c.value}:{s.value}" for c, s in deliveries),
        "cuts": [c.astimezone(UTC).isoformat() for c, _ in rules],
        "leased": [owner is not None for _, owner in rules],
    }


class Database(worker_support.Database):
    """A database of this module's scenario (`scenario`, `outcome` above)."""

    async def scenario(self, rules: int = 1, audience: str = "SUPER_ADMINS") -> dict[str, Any]:
        made = await self.call("scenario", rules, audience)
        self.portals.append(made["portal_id"])
        return made

    async def outcome(self, portal_id: int) -> dict[str, Any]:
        return await self.call("outcome", portal_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request, app, tmp_path) -> AsyncIterator[Database]:
    # (`app`: on PostgreSQL, the session's database is open and migrated.)
    if request.param == "sqlite":
        target = Database(f"sqlite://{tmp_path / 'worker.sqlite3'}", False, tmp_path)
        target.migrate()
        yield target
        return
    assert PG_URL is not None  # the postgres mark skips this param without one
    # A pass sends the whole outbox: what other tests left unsent would count in its figures.
    await Delivery.filter(status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING)).delete()
    target = Database(PG_URL, True, tmp_path)
    yield target
    await Portal.filter(id__in=target.portals).delete()


# --- running workers ----------------------------------------------------------------------------


async def once(database: Database, made: dict[str, Any], now: datetime) -> str:
    """One pass for the scenario's portal as of `now`; its summary line."""
    code, out, err = await database.worker("--once", "--now", iso(now), "--portal", made["portal"])
    assert code == 0, err
    return out.strip().splitlines()[-1]


def counts(summary: str) -> tuple[int, int, int]:
    """(digests, notifications, emails sent) from a pass's summary line."""
    match = re.search(r"(\d+) digests, (\d+) notifications .* emails: (\d+) sent", summary)
    assert match, summary
    return int(match[1]), int(match[2]), int(match[3])


@asynccontextmanager
async def killed_at(
    database: Database, point: str, made: dict[str, Any], now: datetime
) -> AsyncIterator[None]:
    """A worker held at the fault point `point`, then killed with SIGKILL there."""
    log = open(database.tmp / "paused-worker.log", "wb")  # noqa: SIM115 - closed below
    proc = await asyncio.create_subprocess_exec(
        GATEWAY,
        "worker",
        "--once",
        "--now",
        iso(now),
        "--portal",
        made["portal"],
        env=database.env(GATEWAY_TEST_PAUSE_AT=point),
        cwd=database.tmp,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line.decode().strip() == f"PAUSED {point}", (
            database.tmp / "paused-worker.log"
        ).read_text()
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == -signal.SIGKILL
        yield
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


def expected(made: dict[str, Any], recipients: list[int]) -> list[list[int]]:
    return sorted([rule, user] for rule in made["rules"] for user in recipients)


# --- tests ----------------------------------------------------------------------------------


async def test_once_as_of_an_instant_makes_the_digest_and_sends_its_emails(database):
    made = await database.scenario()
    # Before the day is over: nothing
    assert counts(await once(database, made, DUE - timedelta(minutes=1))) == (0, 0, 0)
    # After it: one digest to the two super admins, in the inbox and by email
    summary = await once(database, made, NOW)
    assert summary.startswith(f"worker pass as of {NOW.isoformat()}: ")
    assert counts(summary) == (1, 2, 2)
    after = await database.outcome(made["portal_id"])
    assert len(after["notifications"]) == 2 and len({u for _r, u in after["notifications"]}) == 2
    assert after["deliveries"] == ["EMAIL:SENT"] * 2 + ["IN_APP:SENT"] * 2
    assert after["cuts"] == [DUE.isoformat()] and after["leased"] == [False]
    if not database.in_process:
        assert len(database.emails()) == 2
    # A second pass makes and sends nothing more
    assert counts(await once(database, made, NOW)) == (0, 0, 0)
    assert await database.outcome(made["portal_id"]) == after


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--once", "--now", "2026-06-16T00:05:00"], "has no time zone"),
        (["--once", "--now", "yesterday"], "is not an ISO 8601 date-time"),
        (["--now", "2026-06-16T00:05:00Z"], "--now needs --once"),
    ],
)
def test_a_bad_now_is_refused_with_exit_2_before_touching_the_database(tmp_path, args, why):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite://{tmp_path / 'none.sqlite3'}"
    done = subprocess.run(
        [GATEWAY, "worker", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert why in done.stderr
    assert not (tmp_path / "none.sqlite3").exists()


async def test_a_worker_killed_after_claiming_is_finished_by_another_after_the_lease(database):
    made = await database.scenario()
    async with killed_at(database, "digest:after-claim", made, NOW):
        pass
    # It died holding the lease and having written nothing
    held = await database.outcome(made["portal_id"])
    assert (held["notifications"], held["deliveries"], held["leased"]) == ([], [], [True])
    assert held["cuts"] == [CUT.isoformat()]
    # While the lease (60 s) lasts, another worker leaves the job alone
    assert counts(await once(database, made, NOW + timedelta(seconds=30))) == (0, 0, 0)
    # After it, the other worker makes the digest: one per recipient, emails sent
    assert counts(await once(database, made, NOW + timedelta(seconds=61))) == (1, 2, 2)
    after = await database.outcome(made["portal_id"])
    assert len(after["notifications"]) == 2
    assert after["deliveries"] == ["EMAIL:SENT"] * 2 + ["IN_APP:SENT"] * 2
    assert (after["cuts"], after["leased"]) == ([DUE.isoformat()], [False])


async def test_a_worker_killed_after_writing_leaves_no_duplicate_and_its_emails_are_sent(database):
    made = await database.scenario()
    async with killed_at(database, "digest:after-write", made, NOW):
        pass
    # The digest was committed; its emails wait in the outbox
    written = await database.outcome(made["portal_id"])
    assert len(written["notifications"]) == 2
    assert written["deliveries"] == ["EMAIL:PENDING"] * 2 + ["IN_APP:SENT"] * 2
    assert (written["cuts"], written["leased"]) == ([DUE.isoformat()], [False])
    # The next worker makes nothing again, and sends the emails
    assert counts(await once(database, made, NOW)) == (0, 0, 2)
    after = await database.outcome(made["portal_id"])
    assert after["notifications"] == written["notifications"]
    assert after["deliveries"] == ["EMAIL:SENT"] * 2 + ["IN_APP:SENT"] * 2


@pytest.mark.postgres
async def test_several_worker_processes_at_once_make_each_digest_once(app, tmp_path):
    database = Database(PG_URL, True, tmp_path)
    try:
        made = await database.scenario(rules=12, audience="EVERYONE")
        # Each worker lingers 0.3 s after each claim, so the four overlap on the same jobs
        # (they all see them due in the same order) instead of one doing everything
        slow = {"GATEWAY_TEST_PAUSE_AT": "digest:after-claim", "GATEWAY_TEST_PAUSE_SECONDS": "0.3"}
        runs = await asyncio.gather(
            *(
                database.worker("--once", "--now", iso(NOW), "--portal", made["portal"], **slow)
                for _ in range(4)
            )
        )
        assert all(code == 0 for code, _out, _err in runs), [err for _c, _o, err in runs]
        made_by = [counts(out.strip().splitlines()[-1]) for _code, out, _err in runs]
        assert sum(d for d, _n, _e in made_by) == 12
        assert sum(1 for d, _n, _e in made_by if d) > 1, made_by
        assert sum(n for _d, n, _e in made_by) == 12 * 3
        after = await database.outcome(made["portal_id"])
        users = sorted(await User.filter(portal_id=made["portal_id"]).values_list("id", flat=True))
        assert after["notifications"] == expected(made, users)
        assert after["deliveries"].count("IN_APP:SENT") == 36
        assert after["deliveries"].count("EMAIL:SENT") == 36
        assert after["leased"] == [False] * 12
    finally:
        await Portal.filter(id__in=database.portals).delete()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_runs_the_worker_in_process_without_redis(tmp_path):
    # Given an embedded-mode database with a rule whose first day ended long ago
    database = Database(f"sqlite://{tmp_path / 'serve.sqlite3'}", False, tmp_path)
    database.migrate()
    made = await database.scenario()
    env = database.env(GATEWAY_WORKER_INTERVAL="0.2", **SECRETS)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = await asyncio.create_subprocess_exec(
        GATEWAY,
        "serve",
        "--port",
        str(free_port()),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        # When the server is up: its worker makes the digest and writes the emails
        path = str(tmp_path / "serve.sqlite3")
        for _ in range(300):
            with sqlite3.connect(path) as conn:
                sent = conn.execute(
                    "SELECT count(*) FROM delivery WHERE status = 'SENT'"
                ).fetchone()[0]
            if sent == 4:
                break
            await asyncio.sleep(0.1)
        after = await database.outcome(made["portal_id"])
        assert len(after["notifications"]) == 2
        assert after["deliveries"] == ["EMAIL:SENT"] * 2 + ["IN_APP:SENT"] * 2
        assert len(database.emails()) == 2
        # And the server stops promptly on SIGTERM, its worker first (uvicorn then re-raises
        # the signal: the exit status says SIGTERM)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) in (0, -signal.SIGTERM)
        messages = [
            json.loads(line)["message"]
            for line in (tmp_path / "serve.log").read_text().splitlines()
            if line.startswith("{")
        ]
        assert any(m.startswith("digest worker") and m.endswith("stopped") for m in messages), (
            messages
        )
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
