"""The demo gateway and a headless Chromium, for what looks at the console from outside:
`make screenshots` (tools/screenshots.py) and the console's load bench (bench/console.py).

`demo_gateway` runs `gateway serve` as `make run` does (debug, embedded worker), on a fresh
SQLite file seeded with the demo data at a fixed anchor, so two runs show the same data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.demo import ACME_NAME, ADMIN_EMAIL  # noqa: E402
from tests.browser_support import chrome  # noqa: E402
from tests.live_support import free_port  # noqa: E402

GATEWAY = str(Path(sys.executable).parent / "gateway")
ANCHOR = "2026-11-02T09:00:00Z"


@contextmanager
def demo_gateway(anchor: str = ANCHOR) -> Iterator[tuple[str, str]]:
    """(base URL, the demo super admin's token) of a demo gateway on data seeded at `anchor`."""
    with tempfile.TemporaryDirectory(prefix="console-demo-") as folder:
        port = free_port()
        env = {
            **os.environ,
            "GATEWAY_DEBUG": "1",
            "GATEWAY_DATABASE_URL": f"sqlite://{folder}/demo.sqlite3",
            "GATEWAY_PORT": str(port),
            "TZ": "UTC",
        }
        env.pop("GATEWAY_REDIS_URL", None)

        def run(*args: str) -> str:
            done = subprocess.run(
                [GATEWAY, *args], env=env, cwd=folder, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                sys.exit(f"gateway {' '.join(args)} failed:\n{done.stderr}")
            return done.stdout.strip()

        run("migrate")
        run("seed", "--demo", "--anchor", anchor)
        token = run("token", "--email", ADMIN_EMAIL, "--portal", ACME_NAME)
        server = subprocess.Popen(
            [GATEWAY, "serve"],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, server)
            yield base, token
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(
                f"gateway serve exited:\n{server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit("gateway serve did not become ready within 60 s")


__all__ = ["ANCHOR", "chrome", "demo_gateway"]
