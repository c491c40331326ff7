"""The App log export over a million entries (DESIGN §6 "Log export"): rows per second, and how
much the serving process's memory grows while it streams them (the goals: faster than 50,000
rows/s, RSS growth under 50 MiB).

Its own database (`--db-url`, default postgres://postgres@127.0.0.1:5432/gateway_export_bench): reset,
migrated, and seeded with one portal ("Bench export portal": 20 users, 50 apps), then
1,000,000 log entries in one set-based INSERT ... SELECT over generate_series, about 5% of them
ERROR_RAISED with an alert reason and the REAUTHORIZED ones with scope changes, so every column
of the export has values. The gateway is served as deployed (bench/serve_gateway.py, `gateway
serve`), and each export is streamed over HTTP with a bearer token and counted line by line;
the server's RSS is sampled from /proc every 20 ms while it runs (and its high-water mark read
after), against its RSS just before.

    make bench-export                                   # seed, then CSV and NDJSON
    make bench-export BENCH_ARGS="--skip-seed --format csv"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from common import (
    Server,
    asyncpg_dsn,
    create_database,
    create_users,
    free_port,
    reset_schema,
    wait_ready,
)

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/gateway_export_bench"
JWT_SECRET = "bench-export-jwt-secret-0123456789abcdef0123"
EVENTS_SECRET = "bench-export-events-secret-0123456789abcdef"
PORTAL_NAME = "Bench export portal"
N_USERS = 20
N_APPS = 50
N_ENTRIES = 1_000_000
NEWEST = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
STEP_MS = 24_192  # two entries per instant: a million span 140 days

# Entry g occurred at NEWEST - (g / 2) * STEP; its activity comes from (g * 37) % 100, a
# permutation of 100 buckets; its app and user from a hash of g (every 10th has no user).
# session_replication_role = replica skips the row-by-row foreign key triggers; the keys are
# valid by construction.
ENTRIES_SQL = """
INSERT INTO app_log_entry (portal_id, app_id, user_id, activity, occurred_at, recorded_at)
SELECT $1,
       ($2::int[])[1 + (hashint4(g)::bigint + 2147483648) % cardinality($2::int[])],
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE ($3::int[])[1 + (hashint4(-g)::bigint + 2147483648) % cardinality($3::int[])]
       END,
       CASE WHEN (g * 37) % 100 < 15 THEN 'DISCONNECTED'
            WHEN (g * 37) % 100 < 30 THEN 'RECONNECTED'
            WHEN (g * 37) % 100 < 50 THEN 'REAUTHORIZED'
            WHEN (g * 37) % 100 < 70 THEN 'INSTALLED'
            WHEN (g * 37) % 100 < 85 THEN 'REINSTALLED'
            WHEN (g * 37) % 100 < 95 THEN 'UNINSTALLED'
            ELSE 'ERROR_RAISED' END,
       $4::timestamptz - (g / 2)::bigint * $5::int * interval '1 millisecond',
       $4::timestamptz - (g / 2)::bigint * $5::int * interval '1 millisecond' + interval '1 second'
FROM generate_series(1, $6::int) AS g
"""
SCOPE_CHANGES_SQL = """
INSERT INTO app_log_scope_change (entry_id, added, removed)
SELECT id, '["contacts.read", "deals.write"]', '["files.read"]'
FROM app_log_entry WHERE portal_id = $1 AND activity = 'REAUTHORIZED'
"""
ALERTS_SQL = """
INSERT INTO app_log_alert (entry_id, alert_id, severity, code, message)
SELECT e.id, a.id, 'ERROR', 'token_expired', 'The OAuth token expired'
FROM app_log_entry e JOIN app_alert a ON a.app_id = e.app_id
WHERE e.portal_id = $1 AND e.activity = 'ERROR_RAISED'
"""


async def seed(url: str, entries: int) -> None:
    from gateway import db
    from gateway import models as m
    from gateway.models.enums import AlertSeverity, InstallLevel, SubscriptionTier

    await create_database(url)
    await reset_schema(url)
    await db.migrate(url)
    await db.open_db(url)
    try:
        portal = await m.Portal.create(
            name=PORTAL_NAME, tier=SubscriptionTier.PROFESSIONAL, timezone="UTC"
        )
        names = ["Ada Admin"] + [f"Export User {i:02d}" for i in range(1, N_USERS)]
        users = [u.id for u in await create_users(portal, names, "export.bench.test")]
        apps = []
        for i in range(N_APPS):
            name = f"Export App {i:02d}"
            listing = await m.MarketplaceListing.create(
                slug=f"bench-export-app-{i:02d}",
                name=name,
                sort_name=name.lower(),
                vendor="Bench",
                category="Bench",
                description=name,
                install_level=InstallLevel.PORTAL,
            )
            app = await m.ConnectedApp.create(
                portal=portal,
                listing=listing,
                name=name,
                sort_name=name.lower(),
                install_level=InstallLevel.PORTAL,
                installed_at=NEWEST - timedelta(days=200),
            )
            await m.AppAlert.create(
                app=app,
                severity=AlertSeverity.ERROR,
                code="token_expired",
                message="The OAuth token expired",
                raised_at=NEWEST,
                changed_at=NEWEST,
            )
            apps.append(app.id)
    finally:
        await db.close_db()
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(ENTRIES_SQL, portal.id, apps, users, NEWEST, STEP_MS, entries)
            await conn.execute(SCOPE_CHANGES_SQL, portal.id)
            await conn.execute(ALERTS_SQL, portal.id)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(f"  {entries:,} log entries seeded in {time.monotonic() - started:.1f} s", flush=True)


async def admin_token(url: str) -> str:
    from gateway import db
    from gateway import models as m
    from gateway.auth import mint_token
    from gateway.settings import Settings

    await db.open_db(url)
    try:
        user = await m.User.get(portal__name=PORTAL_NAME, is_super_admin=True)
        return mint_token(user, Settings(jwt_secret=JWT_SECRET))
    finally:
        await db.close_db()


def start_gateway(url: str, folder: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "GATEWAY_EVENTS_SECRET": EVENTS_SECRET,
        "GATEWAY_WORKER_IN_PROCESS": "0",
    }
    log_path = folder / "gateway-export.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "serve_gateway.py"), "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server("gateway", process, port, log_path)
    wait_ready(server, timeout=60)
    return server


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> bool:
    """Linux 4.0+: writing 5 to clear_refs resets the high-water mark (VmHWM) to the RSS."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def export_once(server: Server, token: str, fmt: str) -> None:
    pid = server.process.pid
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    before = rss_kib(pid)
    hwm_reset = reset_peak(pid)
    load_before = os.getloadavg()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = size = 0
    started = time.perf_counter()
    with (
        httpx.Client(base_url=server.base, timeout=120) as client,
        client.stream(
            "GET",
            "/export/app-log",
            params={"format": fmt},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"export answered {response.status_code}: {response.text}")
        first_byte = time.perf_counter() - started
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    peak[0] = max(peak[0], rss_kib(pid))
    hwm = rss_kib(pid, "VmHWM")
    rows = lines - (1 if fmt == "csv" else 0)
    growth_sampled = (peak[0] - before) / 1024
    growth_hwm = (hwm - before) / 1024 if hwm_reset else float("nan")
    load = os.getloadavg()
    print(
        f"{fmt:>6}: {rows:,} rows, {size / 2**20:.0f} MiB in {elapsed:.2f} s = "
        f"{rows / elapsed:,.0f} rows/s (first byte {first_byte * 1000:.0f} ms); server RSS "
        f"{before / 1024:.1f} MiB before, peak growth {growth_sampled:.1f} MiB sampled, "
        f"{growth_hwm:.1f} MiB by VmHWM; load average {load_before[0]:.2f} -> "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--skip-seed", action="store_true", help="reuse the seeded database")
    parser.add_argument("--entries", type=int, default=N_ENTRIES)
    parser.add_argument("--format", choices=["csv", "ndjson", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1, help="exports per format")
    args = parser.parse_args()
    if not args.skip_seed:
        print(f"seeding {args.db_url}", flush=True)
        asyncio.run(seed(args.db_url, args.entries))
    token = asyncio.run(admin_token(args.db_url))
    folder = REPO / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    server = start_gateway(args.db_url, folder)
    try:
        formats = ["csv", "ndjson"] if args.format == "both" else [args.format]
        for fmt in formats:
            for _ in range(args.runs):
                export_once(server, token, fmt)
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
