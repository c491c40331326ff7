"""What the benchmarks share: their own PostgreSQL database, and free ports."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The URL in asyncpg's scheme, optionally pointing at another database."""
    parts = urlsplit(url.replace("asyncpg://", "postgres://", 1))
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def create_database(url: str) -> None:
    name = database_name(url)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        sys.exit(f"unexpected database name {name!r} in {url}")
    conn = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            print(f"creating database {name}", flush=True)
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def reset_schema(url: str) -> None:
    """Start from empty, as the migrations expect."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def create_users(portal: Any, names: list[str], domain: str) -> list[Any]:
    """A bench portal's people (the first a super admin, the first five managers), read back:
    bulk_create leaves primary keys unset."""
    from gateway import models as m

    await m.User.bulk_create(
        m.User(
            portal=portal,
            name=name,
            sort_name=name.lower(),
            email=f"{name.lower().replace(' ', '.')}@{domain}",
            is_super_admin=i == 0,
            # The first five hold the three app permissions (what app marketplace access was).
            install_apps=i < 5,
            approve_scopes=i < 5,
            uninstall_apps=i < 5,
        )
        for i, name in enumerate(names)
    )
    return list(await m.User.filter(portal=portal).order_by("id"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess on a local port, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    server: Server,
    timeout: float,
    path: str = "/healthz",
    accept: Callable[[bytes], bool] = lambda _body: True,
) -> None:
    """Until `server` answers `path` with 200 and a body `accept` takes; an error at once if
    it exits first, or when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    url = server.base + path
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and accept(response.read()):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"{server.name} was not ready ({url}) within {timeout:.0f} s:\n{server.log_tail()}"
    )
