"""Instructions per page: each server's ASGI app in this process, counted by callgrind.

`make bench-page` times the servers, and its figures drift with the machine (a third within
the hour here); a count of executed instructions does not: the same code on the same data
gives the same count within half a percent, whatever else the machine runs. So a change that
saves 2% shows up here in one run, where the timed bench would need several. Instructions are
not time (cache misses and system calls weigh differently), so the timed bench stays the
judge; this is the ruler for the steps in between.

Each server answers `--pages` pages of a scenario (after a few unmeasured ones) under
`valgrind --tool=callgrind`, counting only while the pages run (callgrind_control turns the
counting on and off). Both run in the same way, without HTTP: the app is called as uvicorn
would call it. Uses the bench's database as `make bench-page` left it (run that once first).

    .venv/bin/python bench/instructions.py [--pages 100] [--scenario my-apps|app-log|both]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import page

SCENARIOS = ("my-apps", "app-log")
SERVERS = ("gateway", "handwritten")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100, help="measured pages per server")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "both"), default="both")
    parser.add_argument("--db-url", default=page.DEFAULT_DB_URL, help="the bench's database")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep callgrind's outputs there (callgrind.<server>.<scenario>.out), for "
        "callgrind_annotate",
    )
    # Internal: run one server's pages (under callgrind).
    parser.add_argument("--child", nargs=2, metavar=("SERVER", "SCENARIO"), help=argparse.SUPPRESS)
    return parser.parse_args()


def count(server: str, scenario: str, pages: int, url: str, keep: str | None) -> float:
    """Instructions per page of `server` answering `scenario`, counted in a child process."""
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        out = Path(keep or tmp) / f"callgrind.{server}.{scenario}.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            server,
            scenario,
            "--pages",
            str(pages),
            "--db-url",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            sys.exit(f"{server} {scenario} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
        return int(found.group(1)) / pages


def _callgrind(switch: str) -> None:
    subprocess.run(
        ["callgrind_control", "--instr", switch, str(os.getpid())],
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def child(server: str, scenario: str, pages: int, url: str) -> None:
    """Answer the scenario's requests in turn, counting only the measured pages."""
    import handwritten

    from gateway.app import create_app

    apps_token, log_token = await page.prepare_database(url, skip_seed=True)
    if scenario == "my-apps":
        chosen = page.my_apps_scenario(apps_token)
    else:
        chosen = await page.app_log_scenario(url, log_token)
    if server == "gateway":
        app: Any = create_app(page.bench_settings(url))
    else:
        app = handwritten.create_app(page.asyncpg_dsn(url), page.JWT_SECRET)
    headers = [
        (b"authorization", f"Bearer {chosen.token}".encode()),
        (b"content-type", b"application/json"),
        (b"host", b"bench"),
    ]

    async def answer(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        if status != 200:
            sys.exit(f"{server} answered {status}")

    async with app.router.lifespan_context(app):
        bodies = chosen.bodies
        for i in range(10 * len(bodies)):  # caches, pools, prepared statements
            await answer(bodies[i % len(bodies)])
        _callgrind("on")
        for i in range(pages):
            await answer(bodies[i % len(bodies)])
        _callgrind("off")


def main() -> int:
    args = parse_args()
    if args.child:
        import uvloop  # as uvicorn runs the servers

        uvloop.run(child(*args.child, args.pages, args.db_url))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not on PATH: apt-get install -y valgrind")
    scenarios = SCENARIOS if args.scenario == "both" else (args.scenario,)
    print(f"instructions per page, {args.pages} pages per server, db {args.db_url}", flush=True)
    for scenario in scenarios:
        counts = {
            server: count(server, scenario, args.pages, args.db_url, args.keep)
            for server in SERVERS
        }
        ratio = counts["gateway"] / counts["handwritten"]
        figures = ", ".join(f"{server} {n / 1e6:.2f} M" for server, n in counts.items())
        print(f"{scenario}: {figures}; gateway/handwritten {ratio:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
