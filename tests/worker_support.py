"""Where worker processes run in tests: a fresh SQLite file, prepared and read by subprocesses
(the test process's ORM is bound to the session database), or the session's PostgreSQL
database, read in this process. Either way a test module's async functions set a scenario up
and read its outcome as JSON, and `gateway worker --once` runs as a real process."""

from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REDIS_URL

GATEWAY = str(Path(sys.executable).parent / "gateway")
ROOT = Path(__file__).resolve().parents[1]

# A database `gateway migrate` made this session, once made (`Database.migrate`).
_migrated: Path | None = None

# Runs one of a module's async functions against a database: argv is the database URL, the
# module, the function and its arguments as JSON; it prints the result as JSON.
_SCRIPT = """
import asyncio, importlib, json, sys
from gateway import db

async def main():
    await db.open_db(sys.argv[1])
    try:
        function = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
        result = await function(*json.loads(sys.argv[4]))
    finally:
        await db.close_db()
    print(json.dumps(result))

asyncio.run(main())
"""


@dataclass
class Database:
    url: str
    # PostgreSQL: the session's database, open in this process; SQLite: a file of the test's.
    in_process: bool
    tmp: Path
    portals: list[int] = field(default_factory=list)
    # The module whose functions `call` runs.
    functions: str = "tests.test_worker_processes"

    async def call(self, name: str, *args: Any) -> Any:
        if self.in_process:
            function = getattr(importlib.import_module(self.functions), name)
            return json.loads(json.dumps(await function(*args)))
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _SCRIPT, self.url, self.functions, name, json.dumps(args)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_DATABASE_URL=self.url,
            GATEWAY_MAIL_DIR=str(self.tmp / "mail"),
            PYTHONPATH=str(ROOT),
        )
        if self.in_process and REDIS_URL:
            env["GATEWAY_REDIS_URL"] = REDIS_URL  # in-app digests published through Redis
        env.update(extra)
        return env

    def emails(self) -> list[Path]:
        return sorted((self.tmp / "mail").glob("*.eml"))

    def migrate(self) -> None:
        """Create the SQLite file's tables with `gateway migrate`: run for real once per
        session, into a file every later database is a copy of (from empty, Tortoise replays
        each migration's model states, seconds a database)."""
        global _migrated
        path = Path(self.url.removeprefix("sqlite://"))
        if _migrated is not None:
            shutil.copyfile(_migrated, path)
            return
        done = subprocess.run(
            [GATEWAY, "migrate"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp,
        )
        assert done.returncode == 0, done.stderr
        folder = tempfile.mkdtemp(prefix="gateway-migrated-")
        atexit.register(shutil.rmtree, folder, True)
        _migrated = Path(folder) / path.name
        shutil.copyfile(path, _migrated)  # the process has ended: its WAL is checkpointed

    async def worker(self, *args: str, **env: str) -> tuple[int, str, str]:
        """`gateway worker` with `args`: its exit code, stdout and stderr."""
        proc = await asyncio.create_subprocess_exec(
            GATEWAY,
            "worker",
            *args,
            env=self.env(**env),
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None  # communicate() waits for the process to exit
        return proc.returncode, out.decode(), err.decode()
