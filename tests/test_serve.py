"""`gateway serve` as a newcomer runs it: a real uvicorn process over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL

GATEWAY = str(Path(sys.executable).parent / "gateway")
SECRETS = {"GATEWAY_JWT_SECRET": "serve-test-secret-" + "x" * 32, "GATEWAY_EVENTS_SECRET": "e" * 40}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


@asynccontextmanager
async def serving(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> AsyncIterator[tuple[str, list[str]]]:
    """Run `gateway serve` (in `cwd`), wait until /healthz answers, yield (base URL, output
    lines)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        GATEWAY,
        "serve",
        "--port",
        str(port),
        *args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            lines.append(line.decode().rstrip())

    reader = asyncio.create_task(read())
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                if proc.returncode is not None:
                    raise AssertionError("\n".join(lines))
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("gateway did not start:\n" + "\n".join(lines))
        yield base, lines
    finally:
        if proc.returncode is None:  # it may have failed to start: the output says why
            proc.terminate()
        await proc.wait()
        reader.cancel()


async def test_serve_demo_prints_a_working_console_link_and_header(tmp_path):
    # Given a fresh directory and the settings `make run` uses (debug, SQLite by default)
    env = clean_env(GATEWAY_DEBUG="1", GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'demo.sqlite3'}")
    async with serving(env, "--demo") as (base, lines):
        # Then it printed a ready-to-paste Authorization header for the demo super admin
        header = next(line for line in lines if '"Authorization": "Bearer ' in line)
        token = re.search(r"Bearer ([\w.-]+)", header).group(1)
        async with httpx.AsyncClient(base_url=base) as client:
            # and the header works over real HTTP
            response = await client.post(
                "/graphql",
                json={
                    "query": "{ viewer { user { email } portal { name appSummary { total } } } }"
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200
            assert response.json() == {
                "data": {
                    "viewer": {
                        "user": {"email": "admin@demo.example"},
                        "portal": {"name": "Acme Demo", "appSummary": {"total": 12}},
                    }
                }
            }
            # and it printed the console's address, signed in by the same token, on this port
            link = next(line for line in lines if "/console/#token=" in line)
            assert link == f"{base}/console/#token={token}"
            console = await client.get(link.removeprefix(base).partition("#")[0])
            assert console.status_code == 200 and "<title>Connected apps</title>" in console.text
            # GraphiQL is served in debug mode
            page = await client.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "graphiql" in page.text.lower()
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            # (no Redis, so no Redis prefix to report)
            assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok"}


async def test_a_second_start_keeps_the_data_and_seeds_nothing_new(tmp_path):
    env = clean_env(GATEWAY_DEBUG="1", GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'demo.sqlite3'}")
    async with serving(env, "--demo"):
        pass
    import sqlite3

    count = (
        sqlite3.connect(tmp_path / "demo.sqlite3").execute("SELECT COUNT(*) FROM portal").fetchone()
    )
    async with serving(env, "--demo"):
        pass
    again = (
        sqlite3.connect(tmp_path / "demo.sqlite3").execute("SELECT COUNT(*) FROM portal").fetchone()
    )
    assert count == again == (2,)


@pytest.mark.parametrize("missing", ["GATEWAY_JWT_SECRET", "GATEWAY_EVENTS_SECRET"])
def test_refuses_to_start_without_real_secrets(tmp_path, missing):
    env = clean_env(GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'x.sqlite3'}", **SECRETS)
    del env[missing]
    done = subprocess.run(
        [GATEWAY, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert missing in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()  # refused before touching anything


def test_refuses_to_start_with_a_bad_trusted_manifest_naming_its_key(tmp_path):
    # given a manifest whose key is not the hash of its document
    manifest = tmp_path / "persisted-documents.json"
    key = "0" * 64
    manifest.write_text(json.dumps({key: "query Viewer { viewer { user { id } } }"}))
    env = clean_env(
        GATEWAY_DATABASE_URL=f"sqlite://{tmp_path / 'x.sqlite3'}",
        GATEWAY_TRUSTED_DOCUMENTS=str(manifest),
        **SECRETS,
    )
    # when the gateway is started with it
    done = subprocess.run(
        [GATEWAY, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then it refuses, naming the file and the key, before touching the database
    assert done.returncode == 2
    assert str(manifest) in done.stderr and key in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()


@pytest.mark.postgres
async def test_readyz_reports_the_database_down_and_back(tmp_path):
    # Given a gateway on its own PostgreSQL database
    import asyncpg

    assert PG_URL is not None
    admin = await asyncpg.connect(PG_URL)
    # Named after the test database, so runs against other test databases never collide.
    name = PG_URL.rsplit("/", 1)[1].partition("?")[0] + "_readyz"
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        async with serving(clean_env(GATEWAY_DATABASE_URL=url, **SECRETS)) as (base, _lines):
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await client.get("/readyz")).status_code == 200
                # When the database stops taking connections and drops the gateway's
                await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                down = await client.get("/readyz")
                # Then readiness fails with 503 while liveness stays up
                assert down.status_code == 503
                assert down.json()["database"] == "down"
                assert (await client.get("/healthz")).status_code == 200
                # and recovers when the database is back
                await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
                for _ in range(50):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                assert (await client.get("/readyz")).status_code == 200
    finally:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_a_started_app_has_settled_the_cycle_collector(app):
    """The lifespan froze what start-up built and raised the collector's first threshold
    (gateway/heap.py): without it a page spends about a quarter of its CPU in the collector."""
    import gc

    from gateway.heap import YOUNG_THRESHOLD

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


def test_settling_the_heap_can_be_turned_off():
    from gateway.settings import Settings

    assert Settings.from_env({}).settle_heap is True
    assert Settings.from_env({"GATEWAY_SETTLE_HEAP": "0"}).settle_heap is False
