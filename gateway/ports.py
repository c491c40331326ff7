"""Whether `gateway serve` can listen where it is told to, checked before it prints or
migrates anything, and (best effort, Linux only) which process holds a port that is taken."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


class PortBusy(Exception):
    """The address cannot be listened on; the message says why and, if known, who holds it."""


def check_free(host: str, port: int) -> None:
    """Bind host:port as uvicorn will, and let it go again (uvicorn binds it a moment later;
    a process that takes the port in between still makes uvicorn fail, only less helpfully)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a port left in TIME_WAIT by a previous run is free to take.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        address = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            holder = holder_of(port)
            held = f" (held by {holder})" if holder else ""
            raise PortBusy(
                f"cannot listen on {address}: the address is already in use{held}"
            ) from None
        raise PortBusy(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.close()


def holder_of(port: int) -> str | None:
    """ "pid N: command line" of a process listening on `port`, when /proc tells (it shows
    only the caller's own processes' descriptors unless run as root)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return f"pid {proc.name}: {_command(proc)}"
        except OSError:  # gone, or not ours to look at
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the inode.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _command(proc: Path) -> str:
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        # One line, however the arguments were spelled (`python -c` scripts hold newlines).
        command = " ".join(" ".join(a.decode(errors="replace") for a in argv).split())
        command = command or (proc / "comm").read_text().strip()
    except OSError:
        return "unknown command"
    return command if len(command) <= 100 else command[:99] + "…"
