"""What the bench adds to a server process it starts, before the server's own code runs: its CPU
pinning, and a log of the cycle collector's pauses. Both come from environment variables, so the
server's command line stays as deployed:

- BENCH_CPUS: CPUs the process may run on ("0", or "0,1"); threads started later inherit them.
- BENCH_GC_LOG: a file that gets one line per collection, written as the collection ends:
  `<wall time at its start, s> <pause, ms> <generation> <objects collected>`.

The line is written at once, from the collector's callback (one small unbuffered write). uvicorn
re-raises SIGTERM on shutdown, so nothing kept for `atexit` would be written, and a thread that
wrote tallies now and then would take the interpreter's lock from the event loop when it woke.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

CPUS_ENV = "BENCH_CPUS"
GC_LOG_ENV = "BENCH_GC_LOG"


def parse_cpus(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x.strip()}


def pin_from_env() -> None:
    cpus = os.environ.get(CPUS_ENV)
    if cpus:
        os.sched_setaffinity(0, parse_cpus(cpus))


def log_gc_from_env() -> None:
    path = os.environ.get(GC_LOG_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    started = [0.0, 0.0]  # wall time, perf_counter

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0], started[1] = time.time(), time.perf_counter()
            return
        pause_ms = (time.perf_counter() - started[1]) * 1000
        line = f"{started[0]:.6f} {pause_ms:.4f} {info.get('generation', -1)} "
        line += f"{info.get('collected', 0)}\n"
        os.write(fd, line.encode())

    gc.callbacks.append(callback)


def install() -> None:
    pin_from_env()
    log_gc_from_env()


def read_gc_log(path: str | os.PathLike[str], since: float, until: float) -> list[float]:
    """The pauses (ms) of the collections that started between `since` and `until` (wall time)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        return []
    pauses = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and since <= float(parts[0]) <= until:
            pauses.append(float(parts[1]))
    return pauses
