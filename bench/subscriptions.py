"""Benchmark of live updates: N WebSocket subscribers, status events posted to /events.

For each subscriber count N (1,000, 5,000 and 10,000 by default) it starts `gateway serve`,
opens N graphql-transport-ws sockets with one `appStatusChanged` subscription each, leaves them
idle for a while (keep-alive CPU), then posts app status changes to `/events` at each rate (1
event/s, and 10 for the smallest N) for a fixed duration. Then the same with the floor,
bench/floor.py: bare uvicorn pushing one pre-encoded frame per event to the same sockets. Then
the gateway on two processes joined by Redis, the subscribers spread over both and the events
posted to the first one only. The servers run on one CPU and the clients (Node.js, bench/node,
by default) on another. For each phase it prints the connect time, the server memory per open
subscription (RSS delta / N), the server CPU while idle, the delivery latency (p50/p99, from
just before the POST to the client's receipt), how many deliveries arrived of those expected,
the sockets the server closed, the server CPU per event and per message, and the server's
cycle-collector pauses. It asserts nothing: it prints figures, and the issue's goals beside
them.

See bench/README.md. Run with `make bench-subscriptions` (or .venv/bin/python
bench/subscriptions.py --help); a quick smoke run: `--counts 200,500 --duration 5 --idle 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common
from common import asyncpg_dsn, create_database, database_name, free_port, reset_schema
from serverhooks import CPUS_ENV, GC_LOG_ENV, read_gc_log

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/gateway_bench_subs"
# The test suite drops `test`'s schema; this bench drops its own: never share one.
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1", "gateway_bench"}
JWT_SECRET = "bench-subs-jwt-secret-0123456789abcdef012345"
EVENTS_SECRET = "bench-subs-events-secret-0123456789abcdef01"

PORTAL_NAME = "Bench live portal"
N_USERS = 50
N_APPS = 20
# Subscribers per user are far above the default cap of 20: the servers get this cap instead.
SOCKET_CAP = 100_000
PROTOCOL = "graphql-transport-ws"
# occurredAt is asked for so each delivery names its event (and so its ingestion time).
SUBSCRIPTION = "subscription { appStatusChanged { app { id status } status occurredAt } }"


# ---------------------------------------------------------------------------------------------
# Command line


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


CLOCK_OFFSET = "BENCH_CLOCK_OFFSET"


def bench_clock() -> float:
    """Seconds by the machine's monotonic clock, shifted once to read like wall-clock time.
    Every process of the bench (Node's `process.hrtime` reads the same CLOCK_MONOTONIC) uses
    it for latencies: the wall clock may be stepped during a run (seen here, by seconds)."""
    offset = os.environ.get(CLOCK_OFFSET)
    if offset is None:
        offset = os.environ[CLOCK_OFFSET] = repr(time.time() - time.monotonic())
    return float(offset) + time.monotonic()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Live updates: N WebSocket subscribers under events"
    )
    parser.add_argument(
        "--counts",
        type=_ints,
        default=[1000, 5000, 10000],
        help="subscriber counts (1000,5000,10000)",
    )
    parser.add_argument(
        "--rates", type=_floats, default=[1.0], help="events per second, every count (1)"
    )
    parser.add_argument(
        "--extra-rates",
        type=_floats,
        default=[10.0],
        help="more events per second, for the smallest count only (10; '' for none)",
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds of events per rate (30)")
    parser.add_argument(
        "--idle",
        type=float,
        default=20.0,
        help="seconds with the sockets open and no events, for the keep-alive CPU (20: one "
        "keep-alive ping per socket)",
    )
    parser.add_argument("--skip-redis", action="store_true", help="only the one-process runs")
    parser.add_argument(
        "--servers",
        type=lambda text: [x.strip() for x in text.split(",") if x.strip()],
        default=["gateway", "floor"],
        help="the one-process runs: gateway, floor (bare uvicorn, bench/floor.py) or both, in "
        "turn for each N (gateway,floor)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="don't pin: by default the servers run on --server-cpu and the clients on "
        "--client-cpu",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="the servers' CPU (0)")
    parser.add_argument(
        "--client-cpu",
        type=int,
        default=1,
        help="the CPU of the client workers and of this process, which posts the events (1)",
    )
    parser.add_argument(
        "--db-url",
        default=os.environ.get("GATEWAY_BENCH_SUBS_DATABASE_URL", DEFAULT_DB_URL),
        help="PostgreSQL URL of the bench's own database (env GATEWAY_BENCH_SUBS_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        help="an existing Redis for the two-process runs (default: a private redis-server on a "
        "free port, so the bench's envelopes never reach other gateways, test runs included)",
    )
    parser.add_argument(
        "--client",
        choices=["node", "python"],
        default="node",
        help="client workers: Node.js and the ws library (bench/node/client.mjs), or Python, "
        "asyncio/uvloop and the websockets library (node)",
    )
    parser.add_argument(
        "--workers", type=int, help="client processes (1 with --client node, 2 with python)"
    )
    parser.add_argument(
        "--batch", type=int, default=200, help="socket handshakes in flight at once (200)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="after the last POST, wait until every delivery arrived or none arrived for this "
        "many seconds (10)",
    )
    parser.add_argument(
        "--drain-max", type=float, default=180.0, help="longest wait after the last POST (180)"
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients don't offer permessage-deflate (browsers do, and the server accepts it)",
    )
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------
# The database: create, reset, migrate, seed


@dataclass
class BenchData:
    portal_gid: str
    app_ids: list[int]
    app_gids: list[str]
    tokens: list[str]


async def prepare_database(url: str) -> BenchData:
    """Reset, migrate and seed through the models: one portal, N_APPS PORTAL apps, N_USERS
    users, and a token per user (12 h) signed with the servers' secret."""
    from gateway import db
    from gateway import models as m
    from gateway.auth import mint_token
    from gateway.ids import to_global_id
    from gateway.models.enums import InstallLevel, SubscriptionTier
    from gateway.settings import Settings

    await create_database(url)
    await reset_schema(url)
    await db.migrate(url)
    await db.open_db(url)
    try:
        portal = await m.Portal.create(
            name=PORTAL_NAME, tier=SubscriptionTier.PROFESSIONAL, timezone="UTC"
        )
        await m.User.bulk_create(
            m.User(
                portal=portal,
                name=f"Bench User {i:02d}",
                sort_name=f"bench user {i:02d}",
                email=f"user{i:02d}@bench-live.test",
                is_super_admin=i == 0,
                # The first five hold the three app permissions (what app marketplace access was).
                install_apps=i < 5,
                approve_scopes=i < 5,
                uninstall_apps=i < 5,
            )
            for i in range(N_USERS)
        )
        users = list(await m.User.filter(portal=portal).order_by("id"))
        await m.MarketplaceListing.bulk_create(
            m.MarketplaceListing(
                slug=f"bench-live-{i:02d}",
                name=f"Live App {i:02d}",
                sort_name=f"live app {i:02d}",
                vendor="Bench Labs",
                category="Bench",
                description="An app whose status flips",
                install_level=InstallLevel.PORTAL,
            )
            for i in range(N_APPS)
        )
        listings = list(
            await m.MarketplaceListing.filter(slug__startswith="bench-live-").order_by("slug")
        )
        installed = datetime.now(UTC) - timedelta(days=1)
        await m.ConnectedApp.bulk_create(
            m.ConnectedApp(
                portal=portal,
                listing=listing,
                name=listing.name,
                sort_name=listing.sort_name,
                install_level=listing.install_level,
                installed_at=installed,
                installed_by=users[0],
            )
            for listing in listings
        )
        apps = list(await m.ConnectedApp.filter(portal=portal).order_by("id"))
        settings = Settings(database_url=url, jwt_secret=JWT_SECRET, events_secret=EVENTS_SECRET)
        return BenchData(
            portal_gid=to_global_id("Portal", portal.id),
            app_ids=[a.id for a in apps],
            app_gids=[to_global_id("ConnectedApp", a.id) for a in apps],
            tokens=[mint_token(u, settings, ttl=timedelta(hours=12)) for u in users],
        )
    finally:
        await db.close_db()


async def disconnected_marks(url: str, app_ids: list[int]) -> dict[int, bool]:
    """Each app's disconnected mark as committed: the next event flips it."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT id, disconnected FROM connected_app WHERE id = ANY($1)", app_ids
        )
    finally:
        await conn.close()
    return {r["id"]: r["disconnected"] for r in rows}


# ---------------------------------------------------------------------------------------------
# Processes: limits, RSS and CPU from /proc


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        print(
            f"WARNING: open-file limit {target} is below the ~{needed} this run needs", flush=True
        )
    return target


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of the process, in seconds: the nanoseconds on CPU of its threads
    (`/proc/<pid>/task/*/schedstat`), or utime + stime in clock ticks (10 ms) without them.
    A thread that ends takes its time with it: the servers' threads live as long as they do."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total_ns += int((task / "schedstat").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        total_ns = 0
    if total_ns:
        return total_ns / 1e9
    text = Path(f"/proc/{pid}/stat").read_text()
    fields_ = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields_[11]) + int(fields_[12])) / _TICKS


@dataclass
class Server(common.Server):
    gc_log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def affinity(self) -> str:
        try:
            return _cpu_list(os.sched_getaffinity(self.pid))
        except OSError:
            return "?"

    def gc_pauses(self, since: float, until: float) -> list[float]:
        """Milliseconds of each cycle collection that started in the window (wall time)."""
        return [] if self.gc_log is None else read_gc_log(self.gc_log, since, until)

    def log_summary(self) -> str | None:
        """Log lines at warning or above (JSON lines, or plain text from uvicorn), by message."""
        counts: Counter[str] = Counter()
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.strip():
                    counts[f"(text) {line.strip()[:140]}"] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                counts[
                    f"{entry['level']} {entry.get('logger')}: {str(entry.get('message'))[:120]}"
                ] += 1
        if not counts:
            return None
        return "\n".join(f"  {n} x {message}" for message, n in counts.most_common(12))


def _cpu_list(cpus: set[int] | list[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def _server_env(name: str, folder: Path, cpus: set[int] | None) -> tuple[dict[str, str], Path]:
    """The environment of a server process: the shell's, less its GATEWAY_* variables (DEBUG,
    REDIS_URL… would change what is measured), plus the bench's hooks (bench/serverhooks.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    gc_log = folder / f"{name}.gc"
    env[GC_LOG_ENV] = str(gc_log)
    env.pop(CPUS_ENV, None)
    if cpus:
        env[CPUS_ENV] = _cpu_list(cpus)
    return env, gc_log


def start_gateway(
    name: str, db_url: str, redis_url: str | None, folder: Path, cpus: set[int] | None
) -> Server:
    """`gateway serve` through bench/serve_gateway.py: the same command line and settings,
    pinned to `cpus` and with its collector's pauses logged."""
    port = free_port()
    env, gc_log = _server_env(name, folder, cpus)
    env.update(
        GATEWAY_DATABASE_URL=db_url,
        GATEWAY_JWT_SECRET=JWT_SECRET,
        GATEWAY_EVENTS_SECRET=EVENTS_SECRET,
        GATEWAY_WS_MAX_SOCKETS_PER_USER=str(SOCKET_CAP),
        # Thousands of sockets of a few viewers from one address: no rate limits.
        GATEWAY_RATE_LIMIT_POINTS="0",
        GATEWAY_RATE_LIMIT_ANONYMOUS="0",
        GATEWAY_HOST="127.0.0.1",
    )
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "serve_gateway.py"), "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log_path, gc_log)
    wait_ready(server, need_broker=redis_url is not None)
    return server


def start_floor(name: str, folder: Path, cpus: set[int] | None) -> Server:
    """bench/floor.py: bare uvicorn, served as the gateway is, pinned and logged the same way."""
    port = free_port()
    env, gc_log = _server_env(name, folder, cpus)
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "floor.py"), "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log_path, gc_log)
    wait_ready(server, need_broker=False)
    return server


def wait_ready(server: Server, *, need_broker: bool) -> None:
    """Until /readyz answers, and says the broker is up where the server needs one."""

    def ready(body: bytes) -> bool:
        return not need_broker or json.loads(body).get("broker") == "ok"

    common.wait_ready(server, timeout=60, path="/readyz", accept=ready)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_private_redis(folder: Path, cpus: set[int]) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the bench's own, in memory only, on a free port, on `cpus` (all of
    them: this process may be pinned to the clients' CPU by then)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH: pass --redis-url or --skip-redis")
    port = free_port()
    log = (folder / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),  # no threads here
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(folder / 'redis.log').read_text()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        time.sleep(0.1)
    stop_process(process)
    raise RuntimeError("redis-server did not answer PING within 10 s")


# ---------------------------------------------------------------------------------------------
# Client worker processes: each holds a share of the sockets and records delivery latencies.
# Commands arrive on a Pipe as tuples; every command gets one reply.


@dataclass(eq=False)
class _Sub:
    ws: Any
    received: int = 0
    task: asyncio.Task[None] | None = None


@dataclass
class _ClientState:
    subs: set[_Sub] = field(default_factory=set)
    latencies: array = field(default_factory=lambda: array("d"))  # seconds
    received: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    closing: bool = False
    cpu_mark: float = field(default_factory=time.process_time)
    extensions: str | None = None


def worker_main(conn: Any, deflate: bool, cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)  # before the loop and the reader thread start
    import uvloop

    uvloop.run(_worker(conn, deflate))


async def _worker(conn: Any, deflate: bool) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    # A thread does the blocking reads: the loop's add_reader would make the pipe non-blocking,
    # and a large command would then be cut short.
    def read_commands() -> None:
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                command = ("exit",)
            loop.call_soon_threadsafe(commands.put_nowait, command)
            if command[0] == "exit":
                return

    threading.Thread(target=read_commands, daemon=True).start()
    state = _ClientState()
    while True:
        command, *args = await commands.get()
        if command == "exit":
            await _close_all(state)
            return
        if command == "connect":
            conn.send(await _open(state, *args, deflate=deflate))
        elif command == "stats":
            primed = sum(1 for s in state.subs if s.received > 0)
            conn.send({"received": state.received, "open": len(state.subs), "primed": primed})
        elif command == "report":
            conn.send(_report(state, *args))
        elif command == "close":
            conn.send({"closed": await _close_all(state)})


def _describe(exc: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        close = exc.rcvd
        return f"closed {close.code} {close.reason}" if close else "closed 1006 (no close frame)"
    return f"{type(exc).__name__} {str(exc)[:80]}".strip()


async def _open(
    state: _ClientState, targets: list[tuple[str, str]], concurrency: int, *, deflate: bool
) -> dict[str, Any]:
    """Open, init and subscribe one socket per (ws url, token), `concurrency` at a time."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    semaphore = asyncio.Semaphore(max(concurrency, 1))
    failures: Counter[str] = Counter()
    opened = 0
    started = time.monotonic()

    async def one(url: str, token: str) -> None:
        nonlocal opened
        async with semaphore:
            try:
                ws = await connect(
                    url,
                    subprotocols=[Subprotocol(PROTOCOL)],
                    compression="deflate" if deflate else None,
                    ping_interval=None,
                    max_size=None,
                    open_timeout=60,
                    close_timeout=10,
                    proxy=None,
                )
            except Exception as exc:
                failures[_describe(exc)] += 1
                return
            try:
                init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                await ws.send(json.dumps(init))
                ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"expected connection_ack, got {ack.get('type')}")
                subscribe = {"id": "s1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
                await ws.send(json.dumps(subscribe))
            except Exception as exc:
                failures[_describe(exc)] += 1
                await _quiet_close(ws)
                return
            if state.extensions is None and ws.response is not None:
                state.extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            sub = _Sub(ws)
            state.subs.add(sub)
            sub.task = asyncio.create_task(_read(state, sub))
            opened += 1

    await asyncio.gather(*(one(url, token) for url, token in targets))
    return {
        "opened": opened,
        "failures": dict(failures),
        "seconds": time.monotonic() - started,
        "extensions": state.extensions,
    }


async def _read(state: _ClientState, sub: _Sub) -> None:
    from websockets.exceptions import ConnectionClosed

    ws = sub.ws
    try:
        async for raw in ws:
            now = bench_clock()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "next":
                payload = message.get("payload") or {}
                change = (payload.get("data") or {}).get("appStatusChanged")
                if payload.get("errors") or not change:
                    state.errors[f"next with errors: {str(payload.get('errors'))[:100]}"] += 1
                    continue
                state.latencies.append(
                    now - datetime.fromisoformat(change["occurredAt"]).timestamp()
                )
                state.received += 1
                sub.received += 1
            elif kind == "ping":
                await ws.send('{"type": "pong"}')
            elif kind != "pong":
                state.errors[f"{kind}: {str(message.get('payload'))[:100]}"] += 1
    except ConnectionClosed:
        pass
    except Exception as exc:
        state.errors[f"reader: {_describe(exc)}"] += 1
    finally:
        state.subs.discard(sub)
        if not state.closing:
            code = ws.close_code if ws.close_code is not None else 1006
            state.closes[f"{code} {ws.close_reason or ''}".strip()] += 1


def _report(state: _ClientState, expected_each: int) -> dict[str, Any]:
    """Everything since the last report, then reset."""
    now_cpu = time.process_time()
    report = {
        "latencies": state.latencies.tobytes(),
        "received": state.received,
        "open": len(state.subs),
        "short": sum(1 for s in state.subs if s.received < expected_each),
        "errors": dict(state.errors),
        "closes": dict(state.closes),
        "cpu": now_cpu - state.cpu_mark,
    }
    state.latencies, state.received, state.cpu_mark = array("d"), 0, now_cpu
    state.errors.clear()
    state.closes.clear()
    for sub in state.subs:
        sub.received = 0
    return report


async def _quiet_close(ws: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 15)


async def _close_all(state: _ClientState) -> int:
    state.closing = True
    subs = list(state.subs)
    await asyncio.gather(*(_quiet_close(s.ws) for s in subs))
    for sub in subs:
        if sub.task is not None:
            sub.task.cancel()
    await asyncio.gather(*(s.task for s in subs if s.task is not None), return_exceptions=True)
    state.subs.clear()
    state.closing = False
    return len(subs)


NODE_DIR = BENCH_DIR / "node"


def ensure_node_client() -> str:
    """The node binary, with bench/node's packages installed (as `make bench-subscriptions`
    does: `npm ci`, from the committed lock file)."""
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH: install Node.js (18 or later), or use --client python")
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm is not on PATH: it installs bench/node's packages")
        print("installing bench/node's packages: npm ci --prefix bench/node", flush=True)
        subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"], check=True
        )
    return node


class NodeWorker:
    """A client worker in Node.js (bench/node/client.mjs), with a Pipe's send/recv and a
    Process's join/terminate: commands and replies are JSON lines on its stdin and stdout."""

    def __init__(self, node: str, deflate: bool, cpus: set[int] | None) -> None:
        self.process = subprocess.Popen(
            [node, str(NODE_DIR / "client.mjs"), *(["--deflate"] if deflate else [])],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Threads that node starts (libuv, V8) inherit the pinning.
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )

    def send(self, command: tuple[Any, ...]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(command).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise EOFError("node client gone") from exc

    def recv(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise EOFError("node client gone")
        reply = json.loads(line)
        if "latencies" in reply:
            reply["latencies"] = base64.b64decode(reply["latencies"])
        return reply

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def join(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)

    def terminate(self) -> None:
        self.process.terminate()


class Clients:
    """The worker processes, driven from the main process: Node.js (bench/node/client.mjs) or
    Python (worker_main)."""

    def __init__(self, kind: str, count: int, deflate: bool, cpus: set[int] | None) -> None:
        self.conns: list[Any] = []
        self.processes: list[Any] = []
        if kind == "node":
            node = ensure_node_client()
            for _ in range(count):
                worker = NodeWorker(node, deflate, cpus)
                self.conns.append(worker)
                self.processes.append(worker)
            return
        context = multiprocessing.get_context("spawn")
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, deflate, cpus), daemon=True)
            process.start()
            theirs.close()
            self.conns.append(mine)
            self.processes.append(process)

    def ask(self, *command: Any) -> list[Any]:
        return self.ask_each([command] * len(self.conns))

    def ask_each(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        try:
            for conn, command in zip(self.conns, commands, strict=False):
                conn.send(command)
            return [conn.recv() for conn in self.conns]
        except (EOFError, OSError) as exc:
            time.sleep(0.5)
            codes = [p.exitcode for p in self.processes]
            raise RuntimeError(f"a client worker is gone (exit codes {codes}): {exc!r}") from None

    def stats(self) -> dict[str, int]:
        replies = self.ask("stats")
        return {k: sum(r[k] for r in replies) for k in ("received", "open", "primed")}

    def stop(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("exit",))
        for process in self.processes:
            process.join(timeout=20)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Events


@dataclass
class PostStats:
    sent: int = 0
    applied: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    post_ms: list[float] = field(default_factory=list)
    late: int = 0  # sent more than 100 ms after its slot (its app's previous POST was pending)
    seconds: float = 0.0


async def post_events(
    base: str, data: BenchData, db_url: str, rate: float, count: int
) -> PostStats:
    """`count` events at `rate` per second, round-robin over the apps, each flipping its app's
    disconnected mark (so each is one status change). An app's next event waits for its
    previous POST: out of order, the older one would be ignored and change nothing."""
    import httpx

    from gateway.events_http import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    marks = await disconnected_marks(db_url, data.app_ids)
    locks = {app_id: asyncio.Lock() for app_id in data.app_ids}
    stats = PostStats()

    async def one(client: httpx.AsyncClient, i: int, slot: float) -> None:
        k = i % len(data.app_ids)
        app_id = data.app_ids[k]
        async with locks[app_id]:
            sent_at = bench_clock()  # ingestion start: the latency's origin
            if time.monotonic() - slot > 0.1:
                stats.late += 1
            body = json.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "type": "app.reconnected" if marks[app_id] else "app.disconnected",
                    "occurredAt": datetime.fromtimestamp(sent_at, UTC).isoformat(),
                    "portalId": data.portal_gid,
                    "appId": data.app_gids[k],
                }
            ).encode()
            timestamp = str(int(time.time()))  # the signature's: the server's clock
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(EVENTS_SECRET, timestamp, body),
            }
            stats.sent += 1
            try:
                response = await client.post(f"{base}/events", content=body, headers=headers)
            except httpx.HTTPError as exc:
                stats.statuses[type(exc).__name__] += 1
                return
            stats.post_ms.append((bench_clock() - sent_at) * 1000)
            stats.statuses[str(response.status_code)] += 1
            if response.status_code == 202:
                stats.applied += 1
                marks[app_id] = not marks[app_id]

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits, trust_env=False) as client:
        started = time.monotonic()
        tasks = []
        for i in range(count):
            slot = started + i / rate
            delay = slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, i, slot)))
        await asyncio.gather(*tasks)
        stats.seconds = time.monotonic() - started
    return stats


# ---------------------------------------------------------------------------------------------
# Phases


@dataclass
class Pinning:
    """CPUs of the servers and of the clients (with this process), or None: not pinned."""

    servers: set[int] | None
    clients: set[int] | None

    def describe(self) -> str:
        if self.servers is None or self.clients is None:
            return "not pinned (--no-pin): servers, clients, PostgreSQL and Redis share all CPUs"
        return (
            f"servers on CPU {_cpu_list(self.servers)} (both processes of the two-process runs), "
            f"client workers and this process (which posts the events) on CPU "
            f"{_cpu_list(self.clients)}; PostgreSQL and Redis not pinned"
        )


@dataclass
class Row:
    server: str  # "gateway" or "floor" (bench/floor.py)
    processes: int
    n: int
    rate: float
    connect_s: float
    connects_per_s: float
    kib_per_sub: float
    idle_cpu_pct: float | None  # servers' CPU over the idle window (keep-alive pings)
    p50_ms: float | None
    p99_ms: float | None
    delivered: int
    expected: int
    closes: Counter[str]  # close code and reason -> sockets, idle window included
    cpu_ms_per_event: float | None
    cpu_us_per_msg: float | None
    gc_pauses: list[float]  # ms, the servers' collections during the event phase and drain
    client_pct: float  # the client workers' CPU over the phase, summed
    client_us_per_msg: float | None
    notes: list[str] = field(default_factory=list)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def targets_for(
    n: int, servers: list[Server], data: BenchData, workers: int
) -> list[list[tuple[str, str]]]:
    """Socket i goes to server i % S with token i % users, held by worker i % W."""
    shares: list[list[tuple[str, str]]] = [[] for _ in range(workers)]
    for i in range(n):
        url = servers[i % len(servers)].base.replace("http://", "ws://") + "/graphql"
        shares[i % workers].append((url, data.tokens[i % len(data.tokens)]))
    return shares


def wait_for(
    clients: Clients, done: Any, *, quiet: float, limit: float
) -> tuple[dict[str, int], float, float]:
    """Poll the workers until done(stats), or nothing arrived for `quiet` s, or `limit` s.
    Returns the last stats, the seconds waited and the seconds until the last delivery seen."""
    started = last_delivery = last_change = time.monotonic()
    stats = clients.stats()
    while not done(stats) and time.monotonic() - started < limit:
        time.sleep(0.25)
        fresh = clients.stats()
        if fresh["received"] != stats["received"]:
            last_delivery = last_change = time.monotonic()
        elif fresh["open"] != stats["open"]:
            last_change = time.monotonic()
        stats = fresh
        if time.monotonic() - last_change > quiet:
            break
    ended = time.monotonic()
    if done(stats):
        last_delivery = ended
    return stats, ended - started, last_delivery - started


def prime(clients: Clients, server: Server, data: BenchData, db_url: str) -> dict[str, int]:
    """Post single events until every open socket received one: every subscription is then
    registered on its server. Then let the deliveries of the last one finish."""
    stats = clients.stats()
    for _ in range(5):
        asyncio.run(post_events(server.base, data, db_url, 1.0, 1))
        stats, _, _ = wait_for(clients, lambda s: s["primed"] >= s["open"], quiet=15, limit=120)
        if stats["primed"] >= stats["open"]:
            break
    wait_for(clients, lambda s: False, quiet=2, limit=60)
    clients.ask("report", 0)  # discard the priming deliveries
    return stats


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    for r in reports:
        values = array("d")
        values.frombytes(r["latencies"])
        latencies.extend(values)
        errors.update(r["errors"])
        closes.update(r["closes"])
    latencies.sort()
    return {
        "latencies": latencies,
        "received": sum(r["received"] for r in reports),
        "open": sum(r["open"] for r in reports),
        "short": sum(r["short"] for r in reports),
        "errors": errors,
        "closes": closes,
        "cpu": [r["cpu"] for r in reports],
    }


@dataclass
class Setup:
    """What a run of one server kind, process count and N found before its events."""

    connect_s: float
    connects_per_s: float
    kib_per_sub: float
    idle_cpu_pct: float | None
    idle_closes: Counter[str]


def run_n(
    kind: str,
    processes: int,
    n: int,
    rates: list[float],
    args: argparse.Namespace,
    data: BenchData,
    clients: Clients,
    folder: Path,
    redis_url: str | None,
    pinning: Pinning,
) -> list[Row]:
    print(
        f"\n== {kind}, {processes} process{'es' if processes > 1 else ''}"
        f"{' + Redis' if redis_url else ''}, {n} subscribers",
        flush=True,
    )
    servers: list[Server] = []
    rows: list[Row] = []
    try:
        for k in range(processes):
            name = f"{kind}-{processes}p-{n}-{'AB'[k]}"
            if kind == "floor":
                servers.append(start_floor(name, folder, pinning.servers))
            else:
                servers.append(start_gateway(name, args.db_url, redis_url, folder, pinning.servers))
        print(
            "server CPUs (affinity): " + ", ".join(f"{s.name} {s.affinity()}" for s in servers),
            flush=True,
        )
        poster = servers[0]  # events go to process A only
        setup = connect_phase(servers, poster, n, args, data, clients)
        for i, rate in enumerate(rates):
            row = event_phase(kind, processes, n, rate, args, data, clients, servers, poster, setup)
            if i == 0:
                row.closes.update(setup.idle_closes)
            rows.append(row)
        started = time.monotonic()
        closed = sum(r["closed"] for r in clients.ask("close"))
        print(
            f"closed {closed} sockets in {time.monotonic() - started:.1f} s; "
            f"server RSS MiB at the end: {', '.join(f'{rss_kib(s.pid) / 1024:.0f}' for s in servers)}",
            flush=True,
        )
    finally:
        try:
            clients.ask("close")
        except RuntimeError as exc:  # a dead worker must not keep the servers running
            print(f"closing the sockets failed: {exc}", flush=True)
        for server in servers:
            stop_process(server.process)
            summary = server.log_summary()
            if summary:
                print(f"{server.name} logged (warning and above):\n{summary}", flush=True)
    return rows


def connect_phase(
    servers: list[Server],
    poster: Server,
    n: int,
    args: argparse.Namespace,
    data: BenchData,
    clients: Clients,
) -> Setup:
    """Warm up, open and prime the N sockets (RSS before and after), then the idle window."""
    # Warm-up: one socket per server through the whole path, so first-use allocations
    # (schema caches, imports) are not counted as per-subscription memory.
    warm: list[list[tuple[str, str]]] = [[] for _ in clients.conns]
    warm[0] = [t for share in targets_for(len(servers), servers, data, 1) for t in share]
    clients.ask_each([("connect", share, 1) for share in warm])
    prime(clients, poster, data, args.db_url)
    clients.ask("close")
    time.sleep(1.0)

    rss_before = [rss_kib(s.pid) for s in servers]
    shares = targets_for(n, servers, data, len(clients.conns))
    per_worker = max(1, args.batch // len(clients.conns))
    started = time.monotonic()
    replies = clients.ask_each([("connect", share, per_worker) for share in shares])
    connect_s = time.monotonic() - started
    opened = sum(r["opened"] for r in replies)
    failures: Counter[str] = Counter()
    for r in replies:
        failures.update(r["failures"])
    print(
        f"connected {opened}/{n} in {connect_s:.1f} s ({opened / connect_s:.0f}/s); "
        f"extensions negotiated: {replies[0]['extensions'] or 'none'}"
        + (f"; failures: {dict(failures)}" if failures else ""),
        flush=True,
    )
    primed = prime(clients, poster, data, args.db_url)
    if primed["primed"] < primed["open"]:
        print(
            f"WARNING: only {primed['primed']} of {primed['open']} open sockets received the "
            f"priming events",
            flush=True,
        )
    time.sleep(1.0)
    rss_after = [rss_kib(s.pid) for s in servers]
    open_now = clients.stats()["open"]
    kib_per_sub = (sum(rss_after) - sum(rss_before)) / max(open_now, 1)
    print(
        "server RSS MiB before -> after: "
        + ", ".join(
            f"{b / 1024:.0f} -> {a / 1024:.0f}" for b, a in zip(rss_before, rss_after, strict=False)
        )
        + f"; {kib_per_sub:.1f} KiB per open subscription ({open_now} open)",
        flush=True,
    )

    # Keep-alive: the sockets open, no events. uvicorn pings each socket every 20 s.
    idle_cpu_pct: float | None = None
    idle_closes: Counter[str] = Counter()
    if args.idle > 0:
        clients.ask("report", 0)  # the clients' CPU from here
        cpu_before = [cpu_seconds(s.pid) for s in servers]
        started = time.monotonic()
        time.sleep(args.idle)
        wall = time.monotonic() - started
        cpu_used = [cpu_seconds(s.pid) - b for s, b in zip(servers, cpu_before, strict=False)]
        merged = merge_reports(clients.ask("report", 0))
        idle_closes = merged["closes"]
        idle_cpu_pct = sum(cpu_used) / wall * 100
        print(
            f"keep-alive, {wall:.0f} s idle with {open_now} sockets open: servers "
            + ", ".join(f"{c / wall * 100:.2f}%" for c in cpu_used)
            + f" CPU ({sum(cpu_used) * 1000:.0f} ms), client workers "
            + ", ".join(f"{c / wall * 100:.1f}%" for c in merged["cpu"])
            + (f"; closed by server: {dict(idle_closes)}" if idle_closes else ""),
            flush=True,
        )
    return Setup(connect_s, opened / connect_s, kib_per_sub, idle_cpu_pct, idle_closes)


def event_phase(
    kind: str,
    processes: int,
    n: int,
    rate: float,
    args: argparse.Namespace,
    data: BenchData,
    clients: Clients,
    servers: list[Server],
    poster: Server,
    setup: Setup,
) -> Row:
    count = max(1, round(rate * args.duration))
    open_at_start = clients.stats()["open"]
    clients.ask("report", 0)  # reset
    cpu_before = [cpu_seconds(s.pid) for s in servers]
    load_before = os.getloadavg()[0]
    print(
        f"-- {rate:g} ev/s for {args.duration} s: {count} events to {open_at_start} open "
        f"subscriptions (load average {load_before:.2f})",
        flush=True,
    )
    phase_start = time.time()
    posts = asyncio.run(post_events(poster.base, data, args.db_url, rate, count))
    expected = open_at_start * posts.applied
    _stats, drain_s, last_s = wait_for(
        clients, lambda s: s["received"] >= expected, quiet=args.drain, limit=args.drain_max
    )
    cpu_used = [cpu_seconds(s.pid) - b for s, b in zip(servers, cpu_before, strict=False)]
    phase_end = time.time()
    merged = merge_reports(clients.ask("report", posts.applied))
    gc_pauses = [p for s in servers for p in s.gc_pauses(phase_start, phase_end)]
    wall = posts.seconds + drain_s
    delivered = merged["received"]
    lat = merged["latencies"]
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    post_ms = sorted(posts.post_ms)
    client_cpu = sum(merged["cpu"])
    notes = []
    print(
        f"   POSTs: {posts.sent} sent in {posts.seconds:.1f} s, statuses {dict(posts.statuses)}, "
        f"{posts.late} sent >100 ms late; POST ms p50 {_fmt(percentile(post_ms, 0.5))} "
        f"p99 {_fmt(percentile(post_ms, 0.99))}",
        flush=True,
    )
    print(
        f"   deliveries: {delivered}/{expected} "
        f"({'all' if delivered >= expected else f'{expected - delivered} missing'}); "
        f"the last one {last_s:.1f} s after the last POST returned"
        f"{f' (then nothing for {drain_s - last_s:.0f} s)' if delivered < expected else ''}; "
        f"latency ms p50 {_fmt(_ms(p50))} p90 {_fmt(_ms(percentile(lat, 0.9)))} "
        f"p99 {_fmt(_ms(p99))} max {_fmt(_ms(lat[-1] if lat else None))}",
        flush=True,
    )
    print(
        "   CPU busy over the phase: servers "
        + ", ".join(f"{c / wall * 100:.0f}%" for c in cpu_used)
        + f" ({sum(cpu_used) / max(posts.applied, 1) * 1000:.1f} ms per event, "
        + f"{sum(cpu_used) / max(delivered, 1) * 1e6:.1f} us per message), client workers "
        + ", ".join(f"{c / wall * 100:.0f}%" for c in merged["cpu"])
        + f" ({client_cpu / max(delivered, 1) * 1e6:.1f} us per message)"
        + f"; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        f"   cycle collections in the servers: {len(gc_pauses)}"
        + (
            f", {sum(gc_pauses):.1f} ms in all, longest {max(gc_pauses):.1f} ms"
            if gc_pauses
            else ""
        ),
        flush=True,
    )
    if merged["closes"]:
        notes.append(f"closed by server: {dict(merged['closes'])}")
    if merged["short"]:
        notes.append(f"{merged['short']} open sockets missed some events")
    if merged["errors"]:
        notes.append(f"client errors: {dict(merged['errors'])}")
    for note in notes:
        print(f"   NOTE {note}", flush=True)
    return Row(
        server=kind,
        processes=processes,
        n=n,
        rate=rate,
        connect_s=setup.connect_s,
        connects_per_s=setup.connects_per_s,
        kib_per_sub=setup.kib_per_sub,
        idle_cpu_pct=setup.idle_cpu_pct,
        p50_ms=_ms(p50),
        p99_ms=_ms(p99),
        delivered=delivered,
        expected=expected,
        closes=Counter(merged["closes"]),
        cpu_ms_per_event=sum(cpu_used) / posts.applied * 1000 if posts.applied else None,
        cpu_us_per_msg=sum(cpu_used) / delivered * 1e6 if delivered else None,
        gc_pauses=gc_pauses,
        client_pct=client_cpu / wall * 100 if wall > 0 else 0.0,
        client_us_per_msg=client_cpu / delivered * 1e6 if delivered else None,
        notes=notes,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[Row]) -> None:
    print()
    print(
        f"{'server':<7} {'procs':>5} {'N':>6} {'ev/s':>4} {'connect s':>9} {'KiB/sub':>7} "
        f"{'idle CPU%':>9} {'p50 ms':>7} {'p99 ms':>7} {'delivered/expected':>19} "
        f"{'closes':>6} {'CPU ms/ev':>9} {'us/msg':>6} {'GC n':>5} {'GC ms':>7} "
        f"{'GC max':>6} {'client%':>7} {'cl us/msg':>9}"
    )
    for r in rows:
        gc_total = sum(r.gc_pauses)
        gc_max = max(r.gc_pauses) if r.gc_pauses else 0.0
        print(
            f"{r.server:<7} {r.processes:>5} {r.n:>6} {r.rate:>4g} {r.connect_s:>9.1f} "
            f"{r.kib_per_sub:>7.1f} {_num(r.idle_cpu_pct, 2):>9} {_fmt(r.p50_ms):>7} "
            f"{_fmt(r.p99_ms):>7} {f'{r.delivered}/{r.expected}':>19} "
            f"{sum(r.closes.values()):>6} {_num(r.cpu_ms_per_event, 2):>9} "
            f"{_num(r.cpu_us_per_msg, 0):>6} {len(r.gc_pauses):>5} {gc_total:>7.1f} "
            f"{gc_max:>6.1f} {r.client_pct:>7.0f} {_num(r.client_us_per_msg, 1):>9}"
        )
    for r in rows:
        if r.closes:
            print(
                f"closes, {r.server} {r.processes}p N={r.n} {r.rate:g} ev/s: "
                + ", ".join(f"{n} x {code}" for code, n in r.closes.most_common())
            )
    print(
        "idle CPU%: the servers' CPU over the idle window (sockets open, no events: keep-alive). "
        "CPU ms/ev and us/msg: the servers' CPU (all processes, ingestion included) per event "
        "posted and per delivered message. GC: the servers' cycle collections during the "
        "events and drain (count, total ms, longest ms). client%: the client workers' CPU "
        "over the phase, summed (100% = their core); cl us/msg: their CPU per message."
    )


def print_goals(rows: list[Row]) -> None:
    """The issue's goals, for each N with a one-process gateway row and a floor row at 1 ev/s."""
    floors = {(r.n, r.rate): r for r in rows if r.server == "floor"}
    checked = False
    for r in rows:
        floor = floors.get((r.n, r.rate))
        if r.server != "gateway" or r.processes != 1 or r.rate != 1 or floor is None:
            continue
        if not checked:
            print("\ngoals (one process, 1 ev/s; the floor measured in the same run):")
            checked = True
        p99_limit = max(250.0, 1.3 * floor.p99_ms) if floor.p99_ms is not None else None
        kib_limit = floor.kib_per_sub + 3.5
        checks = [
            (
                "every message delivered",
                r.delivered >= r.expected,
                f"{r.delivered}/{r.expected}",
            ),
            ("none closed", not r.closes, f"{sum(r.closes.values())} closed"),
            (
                "p99 <= max(250 ms, 1.3 x floor p99)",
                r.p99_ms is not None and p99_limit is not None and r.p99_ms <= p99_limit,
                f"{_fmt(r.p99_ms)} ms vs {_fmt(p99_limit)} ms (floor {_fmt(floor.p99_ms)})",
            ),
            (
                "KiB/sub <= floor + 3.5",
                r.kib_per_sub <= kib_limit,
                f"{r.kib_per_sub:.1f} vs {kib_limit:.1f} (floor {floor.kib_per_sub:.1f})",
            ),
        ]
        print(
            f"  N={r.n}: "
            + "; ".join(
                f"{name}: {'yes' if ok else 'NO'} ({detail})" for name, ok, detail in checks
            )
        )


def main() -> int:
    args = parse_args()
    bench_clock()  # its offset is fixed now, before any worker starts and inherits it
    if database_name(args.db_url) in FORBIDDEN_DATABASES:
        sys.exit(f"refusing to use database {database_name(args.db_url)!r}: the bench resets it")
    if not args.servers or set(args.servers) - {"gateway", "floor"}:
        sys.exit("--servers: gateway, floor or both")
    skip_redis = args.skip_redis or "gateway" not in args.servers
    if args.workers is None:
        args.workers = 1 if args.client == "node" else 2
    if args.workers < 1 or not args.counts or not args.rates:
        sys.exit("--workers, --counts and --rates need at least one")
    available = os.sched_getaffinity(0)
    if args.no_pin:
        pinning = Pinning(None, None)
    else:
        for cpu in (args.server_cpu, args.client_cpu):
            if cpu not in available:
                sys.exit(f"CPU {cpu} is not available here ({_cpu_list(available)}): --no-pin?")
        if args.server_cpu == args.client_cpu:
            sys.exit("--server-cpu and --client-cpu must differ")
        pinning = Pinning({args.server_cpu}, {args.client_cpu})
    smallest = min(args.counts)
    cases = [(n, args.rates + (args.extra_rates if n == smallest else [])) for n in args.counts]
    limit = raise_fd_limit(max(args.counts) * 2 + 1000)
    print(
        "live updates: "
        + "; ".join(f"N={n} at {','.join(f'{r:g}' for r in rates)} ev/s" for n, rates in cases)
        + f"; {args.duration} s of events each, {args.idle:g} s idle per N; "
        f"{' and '.join(args.servers)} on one process"
        f"{'' if skip_redis else ', then the gateway on two processes with Redis'}; "
        f"{args.workers} {'Node.js' if args.client == 'node' else 'Python'} client processes, "
        f"{args.batch} handshakes in flight, "
        f"permessage-deflate {'off' if args.no_deflate else 'offered'}; open-file limit {limit}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(f"pinning: {pinning.describe()}", flush=True)
    started = time.monotonic()
    data = asyncio.run(prepare_database(args.db_url))
    print(
        f"seeded {database_name(args.db_url)} in {time.monotonic() - started:.1f} s: "
        f"1 portal, {N_APPS} apps, {N_USERS} users",
        flush=True,
    )
    if pinning.clients:
        os.sched_setaffinity(0, pinning.clients)  # this process posts the events

    rows: list[Row] = []
    redis_process: subprocess.Popen[bytes] | None = None
    clients: Clients | None = None
    with tempfile.TemporaryDirectory(prefix="bench-subs-") as tmp:
        folder = Path(tmp)
        try:
            clients = Clients(
                args.client, args.workers, deflate=not args.no_deflate, cpus=pinning.clients
            )
            for n, rates in cases:
                # Gateway then floor for each N: both meet the machine in the same state.
                for kind in args.servers:
                    rows += run_n(kind, 1, n, rates, args, data, clients, folder, None, pinning)
            if not skip_redis:
                redis_url = args.redis_url
                if redis_url is None:
                    redis_process, redis_url = start_private_redis(folder, available)
                    print(f"\nprivate redis-server at {redis_url}", flush=True)
                for n, rates in cases:
                    rows += run_n(
                        "gateway", 2, n, rates, args, data, clients, folder, redis_url, pinning
                    )
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        finally:
            if clients is not None:
                clients.stop()
            if redis_process is not None:
                stop_process(redis_process)
            if rows:
                print_table(rows)
                print_goals(rows)
                print(f"after the run: load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
