"""`gateway serve` as deployed, started the bench's way: pinned to the CPUs of BENCH_CPUS and
with its collector's pauses logged to BENCH_GC_LOG (bench/serverhooks.py). Arguments are
`gateway`'s: `python bench/serve_gateway.py serve --port P`."""

from __future__ import annotations

import sys

import serverhooks

serverhooks.install()  # before the gateway is imported: its threads inherit the pinning

from gateway.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
