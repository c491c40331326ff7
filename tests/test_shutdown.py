"""Graceful shutdown (DESIGN §3, gateway/drain.py) of real processes over real HTTP and
WebSocket: `gateway serve` drains on SIGTERM (readiness off, HTTP still served, sockets closed
with 1001 and new ones refused with 503, the request in flight finished), ends what still runs
when the grace is over, exits at once on a second signal; `gateway worker` stops claiming and
finishes or releases the job it holds.

A request is held in flight by the test-only GATEWAY_TEST_PAUSE_AT seam (gateway/cli.py). No
timing is asserted tightly: the bounds are generous, for a loaded machine.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from gateway.drain import CLOSE_SPREAD, GOING_AWAY, GOING_AWAY_REASON, Drain
from tests.test_serve import GATEWAY, SECRETS, clean_env, free_port
from tests.test_worker_processes import CUT, Database

pytestmark = pytest.mark.one_executor

PROTOCOL = Subprotocol("graphql-transport-ws")
VIEWER = "{ viewer { user { email } portal { name } } }"
VIEWER_DATA = {"viewer": {"user": {"email": "admin@demo.example"}, "portal": {"name": "Acme Demo"}}}
PAUSED = "PAUSED http:before-execute"


@dataclass
class Served:
    """A `gateway serve` process: its base URL and its output (stdout and stderr) so far."""

    proc: asyncio.subprocess.Process
    base: str
    lines: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"

    def token(self) -> str:
        header = next(line for line in self.lines if '"Authorization": "Bearer ' in line)
        match = re.search(r"Bearer ([\w.-]+)", header)
        assert match, header
        return match.group(1)

    def messages(self) -> list[str]:
        """The messages of the JSON log lines."""
        out = []
        for line in self.lines:
            if line.startswith("{"):
                with suppress(ValueError):  # the banner's header line is JSON too
                    out.append(str(json.loads(line).get("message", "")))
        return out

    async def saw(self, text: str, count: int = 1, timeout: float = 60) -> None:
        """Wait until `count` output lines contain `text`."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            assert time.monotonic() < deadline, f"no {text!r} in:\n" + "\n".join(self.lines)
            assert self.proc.returncode is None, "\n".join(self.lines)
            await asyncio.sleep(0.05)

    async def exit_code(self, timeout: float = 60) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)


@asynccontextmanager
async def serving(env: dict[str, str], *args: str) -> AsyncIterator[Served]:
    """`gateway serve`, once /healthz answers (as tests/test_serve.py's, with the process)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        GATEWAY,
        "serve",
        "--port",
        str(port),
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    served = Served(proc, f"http://127.0.0.1:{port}")

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            served.lines.append(line.decode().rstrip())

    reader = asyncio.create_task(read())
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if proc.returncode is not None:
                    raise AssertionError("\n".join(served.lines))
                try:
                    if (await client.get(f"{served.base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("gateway did not start:\n" + "\n".join(served.lines))
        yield served
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await asyncio.wait_for(reader, 10)  # the output to its end


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'gateway.sqlite3'}", **SECRETS, **extra
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def init(token: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})


async def until_ready_is(client: httpx.AsyncClient, status: int) -> httpx.Response:
    for _ in range(200):
        answer = await client.get("/readyz")
        if answer.status_code == status:
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never answered {status}: {answer.status_code} {answer.text}")


# --- gateway serve ------------------------------------------------------------------------------


async def test_sigterm_drains_then_exits_0(tmp_path):
    # Given a server whose GraphQL requests each wait 4 s before executing
    env = serve_env(
        tmp_path, GATEWAY_TEST_PAUSE_AT="http:before-execute", GATEWAY_TEST_PAUSE_SECONDS="4"
    )
    async with serving(env, "--demo") as served:
        token = served.token()
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60) as client,
            websockets.connect(served.ws_url, subprotocols=[PROTOCOL]) as socket,
        ):
            # an open, acknowledged socket
            await socket.send(init(token))
            assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {
                "type": "connection_ack"
            }
            # and a request in flight
            in_flight = asyncio.create_task(
                client.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
            )
            await served.saw(PAUSED)

            # When the process gets SIGTERM
            served.proc.send_signal(signal.SIGTERM)

            # Then it is no longer ready, and says so, with the rest of its report
            ready = await until_ready_is(client, 503)
            assert ready.json() == {"status": "draining", "database": "ok", "broker": "ok"}
            # GraphQL over HTTP is still served
            later = asyncio.create_task(
                client.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
            )
            await served.saw(PAUSED, count=2)
            # a new socket is refused with 503
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(served.ws_url, subprotocols=[PROTOCOL]):
                    pass
            assert refused.value.response.status_code == 503
            # the open socket is closed with 1001 (going away)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                GOING_AWAY,
                GOING_AWAY_REASON,
            )
            # and the requests in flight are answered in full
            for answer in (await in_flight, await later):
                assert answer.status_code == 200
                assert answer.json() == {"data": VIEWER_DATA}

        # And the process exits 0 once idle, having said why
        assert await served.exit_code() == 0
    messages = served.messages()
    assert any(m.startswith("SIGTERM received: draining") for m in messages), messages
    assert "drained: shutting down" in messages


async def test_when_the_grace_ends_what_still_runs_is_cancelled_and_logged(tmp_path):
    # Given a 1 s grace and a request held for a minute
    env = serve_env(
        tmp_path,
        GATEWAY_SHUTDOWN_GRACE="1",
        GATEWAY_TEST_PAUSE_AT="http:before-execute",
        GATEWAY_TEST_PAUSE_SECONDS="60",
    )
    async with serving(env, "--demo") as served:
        token = served.token()
        async with httpx.AsyncClient(base_url=served.base, timeout=90) as client:
            in_flight = asyncio.create_task(
                client.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
            )
            await served.saw(PAUSED)
            # When the process gets SIGTERM
            served.proc.send_signal(signal.SIGTERM)
            # Then it exits 0 long before the request would have ended
            assert await served.exit_code(timeout=30) == 0
            # the request was cut short
            try:
                answer = await asyncio.wait_for(in_flight, 30)
            except httpx.TransportError:
                pass
            else:
                assert answer.status_code == 500
    # and the log says what was cancelled
    assert any(
        m.startswith("shutdown grace of 1s ended: cancelling POST /graphql")
        for m in served.messages()
    ), served.lines


async def test_a_second_signal_exits_at_once_with_1(tmp_path):
    # Given a server draining a request held for a minute
    env = serve_env(
        tmp_path, GATEWAY_TEST_PAUSE_AT="http:before-execute", GATEWAY_TEST_PAUSE_SECONDS="60"
    )
    async with serving(env, "--demo") as served:
        token = served.token()
        async with httpx.AsyncClient(base_url=served.base, timeout=90) as client:
            in_flight = asyncio.create_task(
                client.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
            )
            await served.saw(PAUSED)
            served.proc.send_signal(signal.SIGTERM)
            await served.saw("received: draining")
            # When a second signal comes
            served.proc.send_signal(signal.SIGINT)
            # Then the process exits at once, with 1
            assert await served.exit_code(timeout=20) == 1
            with pytest.raises(httpx.TransportError):
                await asyncio.wait_for(in_flight, 30)
    assert "SIGINT received while draining: exiting at once" in served.messages()


async def test_sigterm_when_idle_exits_0_promptly(tmp_path):
    async with serving(serve_env(tmp_path)) as served:
        served.proc.send_signal(signal.SIGTERM)
        assert await served.exit_code(timeout=30) == 0
    assert "drained: shutting down" in served.messages()


# --- gateway worker -----------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Database:
    """A fresh migrated SQLite file, with tests/test_worker_processes.py's scenario and
    outcome helpers (prepared by subprocesses there)."""
    target = Database(f"sqlite://{tmp_path / 'worker.sqlite3'}", False, tmp_path)
    target.migrate()
    return target


@asynccontextmanager
async def worker_paused_at(
    database: Database, point: str, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`gateway worker` (running forever) once it is held at the fault point `point`."""
    log = open(database.tmp / "worker.log", "wb")  # noqa: SIM115 - closed below
    proc = await asyncio.create_subprocess_exec(
        GATEWAY,
        "worker",
        env=database.env(GATEWAY_TEST_PAUSE_AT=point, **env),
        cwd=database.tmp,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
            assert line, (database.tmp / "worker.log").read_text()
            if line.strip() == f"PAUSED {point}":
                break
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


def worker_messages(database: Database) -> list[str]:
    lines = (database.tmp / "worker.log").read_text().splitlines()
    return [json.loads(line)["message"] for line in lines if line.startswith("{")]


async def test_a_stopped_worker_finishes_the_job_it_holds_and_claims_no_other(database):
    # Given two due rules, and a worker that holds the first one's lease (for 2 s)
    made = await database.scenario(rules=2)
    async with worker_paused_at(
        database, "digest:after-claim", GATEWAY_TEST_PAUSE_SECONDS="2"
    ) as proc:
        # When it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        # Then it exits 0
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    after = await database.outcome(made["portal_id"])
    # having made the digest it held (to the two super admins), nothing else
    assert len(after["notifications"]) == 2
    assert len({rule for rule, _user in after["notifications"]}) == 1
    assert after["leased"] == [False, False]
    assert sorted(cut == CUT.isoformat() for cut in after["cuts"]) == [False, True]
    # and claimed no email either: the next worker sends them
    assert after["deliveries"] == ["EMAIL:PENDING"] * 2 + ["IN_APP:SENT"] * 2
    assert any(m.endswith("stopped") for m in worker_messages(database))


async def test_a_worker_still_busy_when_the_grace_ends_releases_its_lease(database):
    # Given a worker holding a job's lease for good, and a 1 s grace
    made = await database.scenario(rules=1)
    async with worker_paused_at(database, "digest:after-claim", GATEWAY_SHUTDOWN_GRACE="1") as proc:
        # When it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        # Then it exits 0 after the grace
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    # having written nothing and given the lease back: the next worker takes the job at once
    after = await database.outcome(made["portal_id"])
    assert (after["notifications"], after["deliveries"]) == ([], [])
    assert (after["cuts"], after["leased"]) == ([CUT.isoformat()], [False])
    assert (
        "digest worker still running after the shutdown grace of 1s: cancelled"
        in worker_messages(database)
    )


async def test_a_stopped_worker_records_the_email_it_sent_and_gives_back_the_others(database):
    # Given a digest to two people, and a worker that has sent the first email (held 2 s there
    # with the second one claimed in the same batch)
    made = await database.scenario(rules=1)
    async with worker_paused_at(
        database, "mail:after-send", GATEWAY_TEST_PAUSE_SECONDS="2"
    ) as proc:
        # When it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        # Then it exits 0
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    # having recorded the email it sent, and sent no other
    after = await database.outcome(made["portal_id"])
    assert after["deliveries"] == ["EMAIL:PENDING", "EMAIL:SENT", "IN_APP:SENT", "IN_APP:SENT"]
    assert len(database.emails()) == 1
    # whose lease it gave back: the next worker sends it at once
    with sqlite3.connect(database.tmp / "worker.sqlite3") as conn:
        leases = conn.execute("SELECT lease_owner FROM delivery WHERE channel = 'EMAIL'").fetchall()
    assert leases == [(None,), (None,)]


# --- the drain itself ---------------------------------------------------------------------------


class FakeSocket:
    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.drain.closed(self)


async def test_begin_closes_every_socket_within_the_spread_even_one_opened_late():
    drain = Drain()
    early = [FakeSocket(drain) for _ in range(20)]
    for socket in early:
        drain.opened(socket)
    assert not drain.idle
    started = time.monotonic()
    drain.begin()
    drain.begin()  # idempotent
    late = FakeSocket(drain)
    drain.opened(late)  # accepted as the drain began
    assert await drain.wait_idle(CLOSE_SPREAD + 10)
    assert time.monotonic() - started < CLOSE_SPREAD + 10
    assert {s.closed for s in [*early, late]} == {(GOING_AWAY, GOING_AWAY_REASON)}


async def test_wait_idle_waits_for_held_tasks_and_times_out():
    drain = Drain()
    release = asyncio.Event()
    task = asyncio.create_task(release.wait())
    drain.hold(task)
    assert not await drain.wait_idle(0.1)
    assert drain.still_running() == [task.get_name()]
    release.set()
    assert await drain.wait_idle(10)


def test_the_app_owns_a_drain_not_yet_draining(app: Any):
    assert isinstance(app.state.drain, Drain)
    assert not app.state.drain.draining
