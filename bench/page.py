"""Benchmark of the console's pages: the gateway against a hand-written endpoint.

Two scenarios: the "My Apps page" and the "App log page" (bench/applog.py). Seeds both portals on
PostgreSQL (its own database, never `test`), measures where one page's time goes in-process
(bench/split.py), serves the gateway and bench/handwritten.py with uvicorn (one worker each, no
access log), checks that both return the same JSON, then load-tests each in turn with wrk at
16 connections and at 1, and prints requests/s and p50/p99 latency per scenario.
See bench/README.md. Run with `make bench-page` (or .venv/bin/python bench/page.py --help).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import applog
import asyncpg
import common
import split
from common import asyncpg_dsn, create_database, database_name, free_port, reset_schema

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
QUERY_NAME = "my-apps-page.graphql"
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/gateway_bench"
# The test suite drops this database's schema; the bench drops its own: never share one.
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
EVENTS_SECRET = "bench-events-secret-0123456789abcdef012345"

PORTAL_NAME = "Bench portal"
ADMIN_EMAIL = "ada.admin@bench.test"
N_USERS = 20
N_APPS = 50
N_SCOPES = 8
N_LOG_ENTRIES = 40
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

# Starts the gateway exactly as a deployment would: create_app(Settings) under uvicorn.
GATEWAY_LAUNCHER = textwrap.dedent(
    """
    import os, uvicorn
    from gateway.app import create_app
    from gateway.settings import Settings
    app = create_app(Settings(
        database_url=os.environ["BENCH_DATABASE_URL"],
        jwt_secret=os.environ["BENCH_JWT_SECRET"],
        events_secret=os.environ["BENCH_EVENTS_SECRET"],
        # Load from one viewer and address is the point: no rate limits (DESIGN §3).
        rate_limit_points=0,
        rate_limit_anonymous=0,
    ))
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), workers=1,
                access_log=False, log_level="warning")
    """
)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="My Apps and App log pages: gateway vs hand-written endpoint"
    )
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per server")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="the measured seconds are split into this many runs per server, the two servers "
        "taking turns (default 4)",
    )
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server")
    parser.add_argument(
        "--connections",
        default="16,1",
        help="wrk connection counts, each run in turn (default 16,1)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="wrk threads (never more than connections)"
    )
    parser.add_argument(
        "--split-pages",
        type=int,
        default=40,
        help="pages requested in-process per server for the time split",
    )
    parser.add_argument(
        "--db-url",
        default=os.environ.get("GATEWAY_BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="PostgreSQL URL of the bench's own database (env GATEWAY_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--skip-seed", action="store_true", help="reuse the data of a previous run as it is"
    )
    parser.add_argument(
        "--ignore-mismatch",
        action="store_true",
        help="load-test even if the two servers' responses differ",
    )
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# wrk


def ensure_wrk() -> str:
    """wrk's path, installed from Debian's packages if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not on PATH: running `apt-get install -y wrk`", flush=True)
    if _apt("install", "-y", "wrk") != 0:
        print("install failed: running `apt-get update`, then installing again", flush=True)
        _apt("update")
        _apt("install", "-y", "wrk")
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed: install it (apt-get install wrk) and run again")
    return found


def _apt(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", "-q", *args], env=env, stdout=subprocess.DEVNULL).returncode


def wrk_script(bodies: list[bytes], token: str, path: Path) -> Path:
    """A Lua script that POSTs the bodies in turn (each wrk thread cycles through them from the
    first); long bracket strings, so the JSON needs no escaping. The requests are formatted
    once per thread, in init."""
    level = "=" * 3
    texts = [body.decode() for body in bodies]
    assert all(f"]{level}]" not in text for text in texts)
    listed = ",\n".join(f"  [{level}[{text}]{level}]" for text in texts)
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f"local bodies = {{\n{listed}\n}}\n"
        "local requests = {}\n"
        "local i = 0\n"
        "function init(args)\n"
        "  for k, body in ipairs(bodies) do\n"
        "    requests[k] = wrk.format(nil, nil, nil, body)\n"
        "  end\n"
        "end\n"
        "function request()\n"
        "  i = i % #requests + 1\n"
        "  return requests[i]\n"
        "end\n",
        encoding="utf-8",
    )
    return path


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: str | None
    # requests/s of each round, when this result combines several runs
    round_rates: tuple[float, ...] = ()


def combine(runs: list[WrkResult]) -> WrkResult:
    """One server's rounds as one result: requests/s over all their requests and seconds; p50
    and p99 the median of the rounds' own (wrk reports percentiles, not the samples)."""
    seconds = sum(r.requests / r.requests_per_s for r in runs if r.requests_per_s > 0)
    requests = sum(r.requests for r in runs)
    errors = [r.socket_errors for r in runs if r.socket_errors]
    return WrkResult(
        requests_per_s=requests / seconds if seconds > 0 else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        requests=requests,
        non_2xx=sum(r.non_2xx for r in runs),
        socket_errors="; ".join(errors) or None,
        round_rates=tuple(r.requests_per_s for r in runs),
    )


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output)
        if match is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    errors = re.search(r"Socket errors:\s*(.+)", output)
    return WrkResult(
        requests_per_s=float(find(r"Requests/sec:\s*([\d.]+)").group(1)),
        p50_ms=_ms(find(r"\n\s*50%\s+(\S+)").group(1)),
        p99_ms=_ms(find(r"\n\s*99%\s+(\S+)").group(1)),
        requests=int(find(r"(\d+) requests in").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else None,
    )


def run_wrk(
    wrk: str, url: str, script: Path, threads: int, connections: int, seconds: int
) -> WrkResult:
    # A generous timeout: a slow response must count in the latency, not vanish as an error.
    command = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------------------------------------
# The database: create, reset, migrate, seed


# Scope tiers per listing, in three patterns so apps differ: two, none or one scope above the
# bench portal's PROFESSIONAL tier.
SCOPE_NAMES = [
    "contacts.read",
    "contacts.write",
    "deals.read",
    "deals.write",
    "reports.read",
    "automation",
    "files.read",
    "audit.read",
]
TIER_PATTERNS = [
    [
        "FREE",
        "FREE",
        "STARTER",
        "STARTER",
        "PROFESSIONAL",
        "ENTERPRISE",
        "PROFESSIONAL",
        "ENTERPRISE",
    ],
    [
        "FREE",
        "STARTER",
        "STARTER",
        "PROFESSIONAL",
        "PROFESSIONAL",
        "PROFESSIONAL",
        "FREE",
        "STARTER",
    ],
    ["FREE", "FREE", "FREE", "STARTER", "PROFESSIONAL", "PROFESSIONAL", "ENTERPRISE", "STARTER"],
]
APP_PREFIXES = [
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Glacier",
    "Harbor",
    "Indigo",
    "Juniper",
]
APP_SUFFIXES = ["Sync", "Mail", "Chat", "Books", "Forms"]
USER_NAMES = [
    "Ada Admin",
    "Bruno Silva",
    "Chloe Martin",
    "Dev Patel",
    "Elena Rossi",
    "Farid Haddad",
    "Grace Kim",
    "Hugo Lefebvre",
    "Ines Costa",
    "Jonas Berg",
    "Kenji Sato",
    "Lena Vogel",
    "Mateo Garcia",
    "Nora Larsen",
    "Omar Aziz",
    "Priya Nair",
    "Quinn Walsh",
    "Rosa Mendes",
    "Sven Olsen",
    "Tara Singh",
]


def install_level(i: int) -> Any:
    from gateway.models.enums import InstallLevel

    # 20 PORTAL, 20 USER, 10 MULTI_ACCOUNT.
    return [
        InstallLevel.PORTAL,
        InstallLevel.PORTAL,
        InstallLevel.USER,
        InstallLevel.USER,
        InstallLevel.MULTI_ACCOUNT,
    ][i % 5]


def app_name(i: int) -> str:
    # Interleaved so that name order (the list's) is not id order.
    return f"{APP_PREFIXES[(i * 7) % 10]} {APP_SUFFIXES[i % 5]}"


async def seed() -> None:
    """The bench portal, through the models (as tests/factories.py), with bulk inserts."""
    from gateway import models as m
    from gateway.models.enums import SubscriptionTier

    portal = await m.Portal.create(
        name=PORTAL_NAME, tier=SubscriptionTier.PROFESSIONAL, timezone="UTC"
    )
    users = await seed_users(portal)
    apps = await seed_apps(portal, users)
    await seed_grants(apps)
    await seed_alerts(apps)
    await seed_connections(apps, users)
    await seed_log(apps, users)


async def seed_users(portal: Any) -> list[Any]:
    return await common.create_users(portal, USER_NAMES, "bench.test")


async def seed_apps(portal: Any, users: list[Any]) -> list[Any]:
    from gateway import models as m
    from gateway.models.enums import SubscriptionTier

    await m.MarketplaceListing.bulk_create(
        m.MarketplaceListing(
            slug=f"bench-app-{i:02d}",
            name=app_name(i),
            sort_name=app_name(i).lower(),
            vendor="Bench Labs",
            category="Bench",
            description=f"{app_name(i)} for the bench",
            install_level=install_level(i),
            manage_connections_url="https://example.test/manage" if i % 5 == 4 else None,
        )
        for i in range(N_APPS)
    )
    listings = list(
        await m.MarketplaceListing.filter(slug__startswith="bench-app-").order_by("slug")
    )
    await m.ListingScope.bulk_create(
        m.ListingScope(
            listing=listing,
            name=name,
            description=f"{name} access",
            required_tier=SubscriptionTier(TIER_PATTERNS[i % 3][k]),
            required=k == 0,
            position=k,
        )
        for i, listing in enumerate(listings)
        for k, name in enumerate(SCOPE_NAMES)
    )
    await m.ConnectedApp.bulk_create(
        m.ConnectedApp(
            portal=portal,
            listing=listing,
            name=listing.name,
            sort_name=listing.sort_name,
            install_level=listing.install_level,
            installed_at=T0 + timedelta(hours=i),
            # Some apps were installed by someone since deleted (installedBy null).
            installed_by=None if i % 9 == 4 else users[(i * 3) % N_USERS],
            disconnected=i % 5 != 4 and i % 7 == 3,
        )
        for i, listing in enumerate(listings)
    )
    # Listing i is app i: same order of insertion, read back by listing.
    return list(await m.ConnectedApp.filter(portal=portal).order_by("listing_id"))


async def seed_grants(apps: list[Any]) -> None:
    """Every scope within the tier, except one missing on every 4th app (to reauthorize); every
    8th app also holds its ENTERPRISE scopes from before a downgrade (still NEEDS_UPGRADE)."""
    from gateway import models as m

    grants = []
    for i, app in enumerate(apps):
        tiers = TIER_PATTERNS[i % 3]
        names = [n for n, t in zip(SCOPE_NAMES, tiers, strict=False) if t != "ENTERPRISE"]
        if i % 4 == 1:
            names = names[:-1]
        if i % 8 == 0:
            names += [n for n, t in zip(SCOPE_NAMES, tiers, strict=False) if t == "ENTERPRISE"]
        grants += [m.GrantedScope(app=app, name=n, granted_at=app.installed_at) for n in names]
    await m.GrantedScope.bulk_create(grants)


async def seed_alerts(apps: list[Any]) -> None:
    """Open alerts on some apps (two on a few, for their order), plus resolved ones."""
    from gateway import models as m
    from gateway.models.enums import AlertSeverity

    alerts = []
    for i, app in enumerate(apps):
        at = app.installed_at + timedelta(days=3)
        plan = []
        if i % 6 == 1:
            plan.append(("ERROR", "token_expired", at, None))
        if i % 10 == 5:
            plan.append(("WARNING", "rate_limited", at + timedelta(hours=2), None))
            plan.append(("ERROR", "webhook_failed", at - timedelta(days=1), at))
        if i % 12 == 0:
            plan.append(("INFO", "quota_near", at + timedelta(minutes=5), None))
            plan.append(("WARNING", "slow_sync", at + timedelta(minutes=1), None))
        alerts += [
            m.AppAlert(
                app=app,
                severity=AlertSeverity(severity),
                code=code,
                message=f"{code} on {app.name}",
                raised_at=raised,
                resolved_at=resolved,
                changed_at=resolved or raised,
            )
            for severity, code, raised, resolved in plan
        ]
    await m.AppAlert.bulk_create(alerts)


async def seed_connections(apps: list[Any], users: list[Any]) -> None:
    """USER apps: 1-4 users connected; MULTI_ACCOUNT apps: 1-3 external accounts."""
    from gateway import models as m
    from gateway.models.enums import InstallLevel

    connections = []
    for i, app in enumerate(apps):
        if app.install_level is InstallLevel.PORTAL:
            continue
        multi = app.install_level is InstallLevel.MULTI_ACCOUNT
        count = 1 + i % 3 if multi else 1 + i % 4
        for k in range(count):
            user = users[(i + k) % N_USERS]
            account = f"account-{k + 1}" if multi else None
            connections.append(
                m.AppConnection(
                    app=app,
                    user=user,
                    account_name=account,
                    connected_at=app.installed_at + timedelta(minutes=k),
                    key=m.AppConnection.key_for(user.id, account),  # unique per app
                )
            )
    await m.AppConnection.bulk_create(connections)


async def seed_log(apps: list[Any], users: list[Any]) -> None:
    """40 entries per app by various users (every 10th by the platform: no user). Entries come
    in pairs sharing a timestamp, so the newest-first order also relies on the id tie-break."""
    from gateway import models as m
    from gateway.models.enums import AppActivity

    cycle = [AppActivity.DISCONNECTED, AppActivity.RECONNECTED, AppActivity.REAUTHORIZED]
    entries = []
    for i, app in enumerate(apps):
        for k in range(N_LOG_ENTRIES):
            at = app.installed_at + timedelta(minutes=15 * (k // 2))
            entries.append(
                m.AppLogEntry(
                    portal_id=app.portal_id,
                    app=app,
                    user=None if k % 10 == 9 else users[(i + k) % N_USERS],
                    activity=AppActivity.INSTALLED if k == 0 else cycle[k % 3],
                    occurred_at=at,
                    recorded_at=at,
                )
            )
    await m.AppLogEntry.bulk_create(entries, batch_size=1000)


async def analyze(url: str) -> None:
    """Planner statistics: right after a bulk seed there are none until autovacuum passes,
    and both servers' plans (and so the figures) would depend on when it did."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def prepare_database(url: str, skip_seed: bool) -> tuple[str, str]:
    """Create, reset, migrate and seed (with `skip_seed`, only migrate); returns a token for each portal's super admin
    (the My Apps portal's, the App log portal's)."""
    from gateway import db
    from gateway.auth import mint_token
    from gateway.models import User

    await create_database(url)
    if not skip_seed:
        started = time.monotonic()
        await reset_schema(url)
        await db.migrate(url)
        await db.open_db(url)
        try:
            await seed()
            await applog.seed(url)
        finally:
            await db.close_db()
        print(f"seeded {database_name(url)} in {time.monotonic() - started:.1f} s", flush=True)
    else:
        # The seeded rows stay; a build with newer migrations than the seeding one needs their
        # tables (its worker would fail on them otherwise).
        await db.migrate(url)
    await analyze(url)
    await db.open_db(url)
    try:
        tokens = []
        for email, portal in ((ADMIN_EMAIL, PORTAL_NAME), (applog.ADMIN_EMAIL, applog.PORTAL_NAME)):
            admin = await User.get_or_none(email=email, portal__name=portal)
            if admin is None:
                sys.exit(f"no {portal!r} in {database_name(url)}: run without --skip-seed")
            tokens.append(mint_token(admin, bench_settings(url)))
        return tokens[0], tokens[1]
    finally:
        await db.close_db()


def bench_settings(url: str) -> Any:
    from gateway.settings import Settings

    return Settings(
        database_url=url,
        jwt_secret=JWT_SECRET,
        events_secret=EVENTS_SECRET,
        # Load from one viewer and address is the point: no rate limits (DESIGN §3).
        rate_limit_points=0,
        rate_limit_anonymous=0,
    )


# ---------------------------------------------------------------------------------------------
# The scenarios, and the in-process time split (bench/split.py)


@dataclass
class Scenario:
    title: str
    token: str
    # The requests, sent in turn (the App log page: the first page, then "load more").
    bodies: list[bytes]
    # What a response holds, for the equality check's line.
    summary: Callable[[Any], str]


def my_apps_scenario(token: str) -> Scenario:
    def summary(data: Any) -> str:
        return f"{len(data['viewer']['portal']['connectedApps']['edges'])} apps"

    body = json.dumps({"query": load_query(QUERY_NAME), "variables": {"first": N_APPS}}).encode()
    return Scenario(
        f"My Apps page ({N_APPS} apps x {N_SCOPES} scopes x {N_LOG_ENTRIES} log entries, "
        f"{N_USERS} users)",
        token,
        [body],
        summary,
    )


async def app_log_scenario(url: str, token: str) -> Scenario:
    """The first page, and the page after its endCursor, read from the gateway in-process."""
    import httpx

    from gateway.app import create_app

    query = load_query(applog.QUERY_NAME)
    first = applog.request_body(query)
    app = create_app(bench_settings(url))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            response = await client.post("/graphql", content=first, headers=headers)
    second = applog.request_body(query, applog.end_cursor(response.content))

    def summary(data: Any) -> str:
        return f"{len(data['viewer']['portal']['appLog']['edges'])} entries"

    return Scenario(
        f"App log page ({applog.N_ENTRIES:,} entries; {applog.PAGE_SIZE} per page, "
        'the first page and "load more" in turn)',
        token,
        [first, second],
        summary,
    )


async def split_pages(url: str, scenario: Scenario, pages: int) -> dict[str, split.Tally]:
    """Each server's app in this process, asked for `pages` pages (the scenario's requests in
    turn) after a few unmeasured ones, with bench/split.py's timers on. The servers answer in
    turn, a page each, so that both see the machine as it is at that moment (its speed drifts
    by a third within an hour here) and their ratio holds even when the figures move."""
    import handwritten
    import httpx

    from gateway.app import create_app

    apps = {
        "gateway": create_app(bench_settings(url)),
        "handwritten": handwritten.create_app(asyncpg_dsn(url), JWT_SECRET),
    }
    headers = {"Authorization": f"Bearer {scenario.token}", "Content-Type": "application/json"}
    tallies = {name: split.Tally() for name in apps}
    measuring = split.Tally()  # the tally the timers add to: the answering server's
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=split.timed_app(app, split.Tally()))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://bench")
            )
            for i in range(3 * len(scenario.bodies)):  # caches, pools, prepared statements
                body = scenario.bodies[i % len(scenario.bodies)]
                await clients[name].post("/graphql", content=body, headers=headers)
            transport.app = split.timed_app(app, tallies[name])
        with split.probes(lambda: measuring):
            for i in range(pages):
                body = scenario.bodies[i % len(scenario.bodies)]
                for name, client in clients.items():
                    measuring = tallies[name]
                    await client.post("/graphql", content=body, headers=headers)
    return tallies


# ---------------------------------------------------------------------------------------------
# The two servers


class Server(common.Server):
    @property
    def url(self) -> str:
        return f"{self.base}/graphql"

    def log_summary(self) -> str | None:
        """What the server logged (log level warning): the exceptions of its tracebacks by
        count, and the first traceback in full; None when it logged nothing."""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not any(line.strip() for line in lines):
            return None
        exceptions: Counter[str] = Counter()
        first: list[str] = []
        in_traceback = False
        for line in lines:
            if line.startswith("Traceback"):
                in_traceback = True
            elif in_traceback and line and not line.startswith((" ", "\t")):
                exceptions[line[:160]] += 1  # a traceback ends with its exception line
                in_traceback = False
                if not first:
                    first = lines[: lines.index(line) + 1]
        counts = [f"  {n} x {exc}" for exc, n in exceptions.most_common()] or ["  (no traceback)"]
        shown = "\n".join((first or lines)[-12:])  # its innermost frames
        return (
            f"{len(lines)} log lines; tracebacks:\n" + "\n".join(counts) + f"\nfirst one:\n{shown}"
        )


def start_server(
    name: str, command: list[str], env: dict[str, str], port: int, folder: Path
) -> Server:
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(name, process, port, log_path)
    common.wait_ready(server, timeout=30)
    return server


def start_gateway(url: str, folder: Path) -> Server:
    port = free_port()
    env = {
        "BENCH_DATABASE_URL": url,
        "BENCH_JWT_SECRET": JWT_SECRET,
        "BENCH_EVENTS_SECRET": EVENTS_SECRET,
        "BENCH_PORT": str(port),
    }
    return start_server("gateway", [sys.executable, "-c", GATEWAY_LAUNCHER], env, port, folder)


def start_handwritten(url: str, folder: Path) -> Server:
    port = free_port()
    command = [
        sys.executable,
        str(BENCH_DIR / "handwritten.py"),
        "--port",
        str(port),
        "--dsn",
        asyncpg_dsn(url),
        "--jwt-secret",
        JWT_SECRET,
    ]
    return start_server("handwritten", command, {}, port, folder)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# ---------------------------------------------------------------------------------------------
# One request each, compared


def drain(server: Server, body: bytes, token: str) -> None:
    """Wait out the requests wrk abandoned when it stopped: the server still runs them, and
    they must not eat into the next run. One request more queues behind them."""
    fetch(server, body, token)
    time.sleep(0.5)


def fetch(server: Server, body: bytes, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def differences(a: Any, b: Any, path: str = "$") -> Iterator[str]:
    """Where two parsed JSON values differ, as JSON paths with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                yield f"{path}.{key}: only in {'gateway' if key in a else 'handwritten'}"
            else:
                yield from differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items (gateway) vs {len(b)} (handwritten)"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b or type(a) is not type(b):
        yield f"{path}: gateway {json.dumps(a)[:120]} vs handwritten {json.dumps(b)[:120]}"


def compare_responses(
    gateway: Server,
    handwritten: Server,
    body: bytes,
    token: str,
    summary: Callable[[Any], str],
) -> bool:
    """Whether both answer 200 with equal JSON; prints what differs and any gateway errors."""
    (g_status, g_raw), (h_status, h_raw) = (
        fetch(gateway, body, token),
        fetch(handwritten, body, token),
    )
    try:
        g_json, h_json = json.loads(g_raw), json.loads(h_raw)
    except json.JSONDecodeError:
        print(f"A response is not JSON: gateway {g_status} {g_raw[:300]!r}")
        print(f"                    handwritten {h_status} {h_raw[:300]!r}")
        return False
    ok = True
    if g_status != 200 or h_status != 200:
        print(f"HTTP status: gateway {g_status}, handwritten {h_status}")
        ok = False
    if "errors" in g_json:
        print("The gateway's response has errors:")
        print(json.dumps(g_json["errors"], indent=2))
        ok = False
    diffs = list(differences(g_json, h_json))
    if diffs:
        print(f"The responses differ in {len(diffs)} place(s); the first ones:")
        for line in diffs[:15]:
            print(f"  {line}")
        ok = False
    if ok:
        print(
            f"responses are equal: {summary(g_json['data'])}, "
            f"{len(g_raw):,} bytes (gateway) / {len(h_raw):,} bytes (handwritten)"
        )
    return ok


# ---------------------------------------------------------------------------------------------
# Report


def _latency(ms: float) -> str:
    # wrk prints 3 significant digits ("2.06s"): show no more than it measured.
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.2f}"


def print_table(
    title: str,
    results: dict[tuple[str, int], WrkResult],
    statements: dict[str, float],
    started_load: str,
) -> None:
    print(f"\n{title}\nat the start of its runs: {started_load}")
    print(
        f"{'server':<12} {'conns':>5} {'requests/s':>11} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'requests':>9}  SQL/request"
    )
    for (name, connections), r in results.items():
        print(
            f"{name:<12} {connections:>5} {r.requests_per_s:>11.1f} {_latency(r.p50_ms):>9} "
            f"{_latency(r.p99_ms):>9} {r.requests:>9}  {statements[name]:g}"
        )
    for connections in sorted({c for _, c in results}, reverse=True):
        gateway, handwritten = results["gateway", connections], results["handwritten", connections]
        if handwritten.requests_per_s > 0 and handwritten.p50_ms > 0:
            rounds = " ".join(
                f"{g / h:.2f}" if h else "-"
                for g, h in zip(gateway.round_rates, handwritten.round_rates, strict=True)
            )
            print(
                f"ratio gateway/handwritten at {connections} connection(s): requests/s "
                f"{gateway.requests_per_s / handwritten.requests_per_s:.2f}x "
                f"(by round: {rounds}), p50 {gateway.p50_ms / handwritten.p50_ms:.1f}x"
            )
    for (name, connections), r in results.items():
        if r.non_2xx or r.socket_errors:
            print(
                f"WARNING {name} at {connections} connection(s): {r.non_2xx} non-2xx responses; "
                f"socket errors: {r.socket_errors}"
            )


def load_query(name: str) -> str:
    """The console's query, from ../shared/queries (or a copy under tests/queries)."""
    for folder in (REPO.parent / "shared" / "queries", REPO / "tests" / "queries"):
        if (folder / name).exists():
            return (folder / name).read_text(encoding="utf-8")
    sys.exit(f"{name} not found in ../shared/queries or tests/queries")


def describe(args: argparse.Namespace, wrk: str, connections: list[int]) -> None:
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.splitlines()
    print(
        f"My Apps page: {N_APPS} apps x {N_SCOPES} scopes x {N_LOG_ENTRIES} log entries, "
        f"{N_USERS} users; App log page: {applog.N_ENTRIES:,} entries; "
        f"db {database_name(args.db_url)}\n"
        f"load: {(version or ['wrk'])[0].split(' [')[0]}, at most {args.threads} threads, "
        f"{' then '.join(map(str, connections))} connections, {args.warmup} s warm-up + "
        f"{args.duration} s per server in {args.rounds} rounds; "
        f"{os.cpu_count()} CPUs shared by wrk, the server and PostgreSQL; {load_average()}",
        flush=True,
    )


def load_average() -> str:
    # Anything else running on the machine takes CPU from the servers: this shows it.
    return f"load average {os.getloadavg()[0]:.2f} (1 min)"


def connection_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        sys.exit(f"--connections takes positive counts separated by commas, got {text!r}")
    return counts


def load_test(
    wrk: str,
    args: argparse.Namespace,
    connections: list[int],
    scenario: Scenario,
    servers: list[Server],
    folder: Path,
) -> dict[tuple[str, int], WrkResult] | None:
    """Both servers under load at each connection count; None if their answers differ."""
    gateway, handwritten = servers
    equal = all(
        compare_responses(gateway, handwritten, body, scenario.token, scenario.summary)
        for body in scenario.bodies
    )
    if not equal and not args.ignore_mismatch:
        print("not load-testing different answers (--ignore-mismatch to do it anyway)")
        return None
    script = wrk_script(scenario.bodies, scenario.token, folder / f"{id(scenario)}.lua")
    results = {}
    seconds = max(1, round(args.duration / args.rounds))
    for count in connections:
        print(
            f"{count} connection(s): warm-up {args.warmup} s per server, then {args.rounds} "
            f"rounds of {seconds} s per server, taking turns",
            flush=True,
        )
        for server in servers:
            run_wrk(wrk, server.url, script, args.threads, count, args.warmup)
            drain(server, scenario.bodies[0], scenario.token)
        runs: dict[str, list[WrkResult]] = {server.name: [] for server in servers}
        for round_number in range(args.rounds):
            # ABBA: the machine's speed drifts by the minute; alternating the order cancels a
            # steady drift, and short rounds keep both servers' runs close together.
            for server in servers if round_number % 2 == 0 else servers[::-1]:
                run = run_wrk(wrk, server.url, script, args.threads, count, seconds)
                runs[server.name].append(run)
                drain(server, scenario.bodies[0], scenario.token)
        for server in servers:
            results[server.name, count] = combine(runs[server.name])
    # The servers must still give the same answers after the load.
    for body in scenario.bodies:
        compare_responses(gateway, handwritten, body, scenario.token, scenario.summary)
    return results


def main() -> int:
    args = parse_args()
    if database_name(args.db_url) in FORBIDDEN_DATABASES:
        sys.exit(f"refusing to use database {database_name(args.db_url)!r}: the bench resets it")
    connections = connection_counts(args.connections)
    if args.rounds < 1 or args.duration < args.rounds:
        sys.exit("--rounds must be at least 1 and at most --duration (seconds)")
    wrk = ensure_wrk()
    describe(args, wrk, connections)
    apps_token, log_token = asyncio.run(prepare_database(args.db_url, args.skip_seed))
    scenarios = [
        my_apps_scenario(apps_token),
        asyncio.run(app_log_scenario(args.db_url, log_token)),
    ]
    splits = {}
    for scenario in scenarios:
        splits[scenario.title] = asyncio.run(split_pages(args.db_url, scenario, args.split_pages))
        split.print_split(scenario.title, splits[scenario.title])

    servers: list[Server] = []
    tables = []
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        folder = Path(tmp)
        try:
            servers.append(start_gateway(args.db_url, folder))
            servers.append(start_handwritten(args.db_url, folder))
            for scenario in scenarios:
                print(f"\n{scenario.title}", flush=True)
                started_load = load_average()
                results = load_test(wrk, args, connections, scenario, servers, folder)
                if results is None:
                    return 1
                statements = {
                    name: tally.statements / max(tally.pages, 1)
                    for name, tally in splits[scenario.title].items()
                }
                tables.append((scenario.title, results, statements, started_load))
            for table in tables:
                print_table(*table)
            print(f"\nafter the runs: {load_average()}")
            for server in servers:
                summary = server.log_summary()
                if summary:
                    print(f"\n{server.name} logged: {summary}")
        finally:
            for server in servers:
                stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
