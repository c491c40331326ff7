"""The command line as a newcomer meets it: the README's commands run verbatim next to
`make run`, from the wrong directory, and on a port that is taken."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PG_URL
from tests.test_serve import GATEWAY, SECRETS, clean_env, free_port, serving

VIEWER = "{ viewer { user { name email } } }"


def gateway(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one `gateway` command in `cwd` with only the given GATEWAY_ variables."""
    return subprocess.run(
        [GATEWAY, *args], env=clean_env(**env), cwd=cwd, capture_output=True, text=True, timeout=60
    )


# --- gateway token next to `make run` -------------------------------------------------------


async def test_a_token_minted_without_any_setting_works_against_make_run(tmp_path):
    # Given `make run`'s server: debug, the demo, the default database in the working directory
    async with serving(clean_env(GATEWAY_DEBUG="1"), "--demo", cwd=tmp_path) as (base, _):
        # When a newcomer follows the README in another shell there, with no GATEWAY_ variable
        done = await asyncio.to_thread(
            gateway, "token", "--email", "member@demo.example", cwd=tmp_path
        )
        # Then a token comes out on stdout, and stderr says which secret signed it
        assert done.returncode == 0, done.stderr
        assert done.stderr == (
            "gateway: GATEWAY_JWT_SECRET is not set: signed with the development secret, "
            "which only a gateway running with GATEWAY_DEBUG=1 (as `make run` does) accepts\n"
        )
        token = done.stdout.strip()
        # and the server accepts it for that user
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 200
        assert response.json() == {
            "data": {"viewer": {"user": {"name": "Casey Member", "email": "member@demo.example"}}}
        }


def test_token_with_a_configured_secret_says_nothing_extra(tmp_path):
    # Given a migrated, seeded database
    assert gateway("seed", "--demo", cwd=tmp_path).returncode == 2  # not migrated yet
    assert gateway("migrate", cwd=tmp_path).returncode == 0
    assert gateway("seed", "--demo", cwd=tmp_path).returncode == 0
    # When a token is minted with the real secret set
    done = gateway("token", "--email", "member@demo.example", cwd=tmp_path, **SECRETS)
    # Then there is no notice, only the token
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.count(".") == 2


def test_token_refuses_when_the_gateway_only_takes_rs256_tokens(tmp_path):
    # Given a deployment that accepts only its identity provider's RS256 tokens
    done = gateway(
        "token",
        "--email",
        "member@demo.example",
        cwd=tmp_path,
        GATEWAY_JWT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----",
    )
    # Then no HS256 token is made, and nothing was opened
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "gateway: GATEWAY_JWT_PUBLIC_KEY is set, so the gateway accepts only RS256 tokens from "
        "your identity provider; `gateway token` signs HS256 tokens with GATEWAY_JWT_SECRET\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_seed_at_an_anchor_writes_the_same_demo_data_every_time(tmp_path):
    # Given two fresh projects seeded at the same anchor, a day apart in real time or not
    dumps = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        assert gateway("migrate", cwd=folder).returncode == 0
        done = gateway("seed", "--demo", "--anchor", "2026-03-01T09:30:00Z", cwd=folder)
        assert done.returncode == 0, done.stderr
        with sqlite3.connect(folder / "gateway.sqlite3") as db:
            dumps.append(
                db.execute(
                    "SELECT a.name, a.installed_at, e.activity, e.occurred_at FROM connected_app a "
                    "JOIN app_log_entry e ON e.app_id = a.id ORDER BY a.name, e.occurred_at, e.id"
                ).fetchall()
            )
    # Then the data are the same, dated from the anchor
    assert dumps[0] and dumps[0] == dumps[1]
    newest = max(datetime.fromisoformat(row[3]) for row in dumps[0])
    assert timedelta(0) <= datetime(2026, 3, 1, 9, 30, tzinfo=UTC) - newest < timedelta(days=2)


def test_seed_refuses_an_anchor_without_a_time_zone(tmp_path):
    assert gateway("migrate", cwd=tmp_path).returncode == 0
    done = gateway("seed", "--demo", "--anchor", "2026-03-01T09:30:00", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "gateway: --anchor '2026-03-01T09:30:00' has no time zone: "
        "add Z or an offset such as +01:00\n"
    )


# --- commands run where there is no database -----------------------------------------------

NEEDS_A_DATABASE = {
    "token": ["token", "--email", "member@demo.example"],
    "seed": ["seed", "--demo"],
    "emit-by-name": ["emit", "app.reconnected", "--portal", "Acme Demo", "--app", "adbeacon"],
    "worker-once": ["worker", "--once"],
    "worker": ["worker"],
}


@pytest.mark.parametrize("args", list(NEEDS_A_DATABASE.values()), ids=list(NEEDS_A_DATABASE))
def test_commands_run_outside_the_project_refuse_and_leave_no_file(tmp_path, args):
    # Given a directory with no database in it (the default URL is relative to it)
    # When a command that reads the database runs there
    done = gateway(*args, cwd=tmp_path, GATEWAY_DEBUG="1")
    # Then it says which database it looked for and what to do, without a traceback
    assert done.returncode == 2
    assert done.stderr == (
        f"gateway: no database at sqlite://gateway.sqlite3 ({tmp_path}/gateway.sqlite3): "
        "run `gateway migrate` first, or run this from the project directory\n"
    )
    # and leaves nothing behind
    assert list(tmp_path.iterdir()) == []


def test_an_empty_sqlite_file_is_reported_as_not_migrated(tmp_path):
    # Given the empty file an earlier run from the wrong directory left behind
    (tmp_path / "gateway.sqlite3").write_bytes(b"")
    # When a token is asked for
    done = gateway("token", "--email", "member@demo.example", cwd=tmp_path, **SECRETS)
    # Then it says the database is not migrated, and the file stays as it was
    assert done.returncode == 2
    assert done.stderr == (
        "gateway: the database at sqlite://gateway.sqlite3 "
        f"({tmp_path}/gateway.sqlite3) is not migrated: run `gateway migrate` first, "
        "or run this from the project directory\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["gateway.sqlite3"]
    assert (tmp_path / "gateway.sqlite3").read_bytes() == b""


@pytest.mark.postgres
async def test_an_empty_postgres_database_is_reported_without_its_password(tmp_path):
    # Given an empty PostgreSQL database, reached with a password in the URL
    import asyncpg

    assert PG_URL is not None
    parts = urlsplit(PG_URL)
    name = parts.path.lstrip("/") + "_cli_empty"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        user, host = parts.username or "postgres", parts.netloc.rpartition("@")[2]
        # (the test server trusts local connections, so the password is never checked)
        url = f"{parts.scheme}://{user}:hunter2@{host}/{name}"
        # When a worker pass is asked for
        done = await asyncio.to_thread(
            gateway, "worker", "--once", cwd=tmp_path, GATEWAY_DATABASE_URL=url
        )
        # Then it refuses (its last word, after its JSON logs), naming the database without
        # the password
        assert done.returncode == 2
        assert done.stderr.splitlines()[-1].startswith(
            f"gateway: the database at {parts.scheme}://{user}:***@{host}/{name} is not migrated ("
        )
        assert "hunter2" not in done.stderr
        # and the database is still empty
        conn = await asyncpg.connect(f"postgres://{parts.netloc}/{name}")
        try:
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'"
            )
        finally:
            await conn.close()
        assert tables == 0
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def test_an_unreachable_database_is_not_mistaken_for_an_empty_one(tmp_path):
    # Given a PostgreSQL URL where nothing listens
    url = f"postgres://gateway:hunter2@127.0.0.1:{free_port()}/gateway"
    # When a token is asked for
    done = gateway(
        "token", "--email", "member@demo.example", cwd=tmp_path, GATEWAY_DATABASE_URL=url
    )
    # Then it says the database cannot be reached (not that it needs migrating), password hidden
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"gateway: cannot reach the database at {url.replace('hunter2', '***')}: "
    )
    assert "hunter2" not in done.stderr and "migrate" not in done.stderr


# --- gateway serve on a busy port ----------------------------------------------------------


def test_serve_on_a_busy_port_says_who_holds_it_before_printing_anything(tmp_path):
    # Given something already listening on the port (this test process)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        # When `make run` starts there
        done = gateway("serve", "--demo", "--port", str(port), cwd=tmp_path, GATEWAY_DEBUG="1")
    # Then it stops at once with a message, no banner and no token
    assert done.returncode == 2
    assert done.stdout == ""
    holder_note = f" (held by pid {os.getpid()}: " if Path("/proc/net/tcp").exists() else ""
    assert done.stderr.startswith(
        f"gateway: cannot listen on 127.0.0.1:{port}: the address is already in use{holder_note}"
    )
    assert done.stderr.endswith(
        "; stop it, or choose another port with --port or GATEWAY_PORT "
        "(e.g. GATEWAY_PORT=8001 make run)\n"
    )
    # and touched nothing
    assert list(tmp_path.iterdir()) == []
