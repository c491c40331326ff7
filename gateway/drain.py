"""Graceful shutdown (DESIGN §3 "Graceful shutdown"): the process drains before it exits.

On the first SIGTERM/SIGINT the app's `Drain` begins: /readyz answers 503 so the load balancer
stops sending traffic, GraphQL over HTTP is still served meanwhile (the balancer takes seconds
to notice), new WebSocket handshakes are refused with 503 and open sockets are closed with 1001
over a second, so their clients reconnect to other instances, not all in the same instant. The
process exits once nothing runs any more, or when the grace ends (what still runs is cancelled
and logged). A second signal exits at once with code 1.

uvicorn's own handling would close the listener on the first signal (new requests refused
while the balancer still sends them), so `DrainingServer` installs ours instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, Protocol

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("gateway.drain")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
GOING_AWAY = 1001
GOING_AWAY_REASON = "Server is shutting down"
# Open sockets are closed at random instants within this many seconds, so their clients don't
# all reconnect (and authenticate) elsewhere in the same instant.
CLOSE_SPREAD = 1.0

_REFUSED_BODY = orjson.dumps(
    {
        "errors": [
            {
                "message": "The server is shutting down: connect again",
                "extensions": {"code": "SERVICE_UNAVAILABLE"},
            }
        ]
    }
)


class Closable(Protocol):
    """An open live socket, as `gateway.live.Connection` is."""

    async def close(self, code: int, reason: str = "") -> None: ...


class Drain:
    """What the process still runs, and whether it is draining."""

    def __init__(self) -> None:
        self.draining = False
        self._requests: dict[int, tuple[asyncio.Task[Any] | None, Scope, float]] = {}
        self._sockets: set[Closable] = set()
        self._held: set[asyncio.Task[Any]] = set()
        self._on_begin: list[Callable[[], object]] = []
        self._closing: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self._changed = asyncio.Event()  # bound to a loop at the first wait, not here

    # What runs
    def track(self, app: ASGIApp) -> ASGIApp:
        """`app`, counting its HTTP requests in flight and refusing WebSocket handshakes while
        draining (so a socket never opens on an instance that is going away)."""

        async def tracked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "websocket" and self.draining:
                await _refuse_socket(scope, receive, send)
                return
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            key = id(scope)  # not the task: a server may run several requests in one
            self._requests[key] = (asyncio.current_task(), scope, time.monotonic())
            try:
                await app(scope, receive, send)
            finally:
                del self._requests[key]
                if self.draining:  # only a drain waits for it
                    self._changed.set()

        return tracked

    def opened(self, socket: Closable) -> None:
        """An accepted socket; one accepted as the drain began is closed like the others."""
        self._sockets.add(socket)
        if self.draining:
            self._close_soon(socket)

    def closed(self, socket: Closable) -> None:
        self._sockets.discard(socket)
        self._changed.set()

    def hold(self, task: asyncio.Task[Any]) -> None:
        """A task the drain waits for too (the embedded digest worker finishing its job)."""
        self._held.add(task)
        task.add_done_callback(lambda _task: self._changed.set())

    def on_begin(self, callback: Callable[[], object]) -> None:
        """Called when the drain begins (e.g. the embedded worker's stop)."""
        self._on_begin.append(callback)

    @property
    def idle(self) -> bool:
        return not self._requests and not self._sockets and all(t.done() for t in self._held)

    def still_running(self) -> list[str]:
        """What runs, for the log: each request, the open sockets, the held tasks."""
        now = time.monotonic()
        out = [
            f"{scope.get('method', '?')} {scope.get('path', '?')} (for {now - at:.1f}s)"
            for _task, scope, at in self._requests.values()
        ]
        if self._sockets:
            out.append(f"{len(self._sockets)} open WebSocket(s)")
        out += [t.get_name() for t in self._held if not t.done()]
        return out

    # Draining
    def begin(self) -> None:
        """Start draining (again: nothing more). Runs on the event loop."""
        if self.draining:
            return
        self.draining = True
        for callback in self._on_begin:
            callback()
        for socket in list(self._sockets):
            self._close_soon(socket)
        self._changed.set()

    def _close_soon(self, socket: Closable) -> None:
        asyncio.get_running_loop().call_later(random.uniform(0, CLOSE_SPREAD), self._close, socket)

    def _close(self, socket: Closable) -> None:
        if socket in self._sockets:  # not closed meanwhile
            task = asyncio.get_running_loop().create_task(
                socket.close(GOING_AWAY, GOING_AWAY_REASON)
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing runs (True), or `timeout` seconds (False if something still
        runs then)."""
        try:
            async with asyncio.timeout(timeout):
                while not self.idle:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return self.idle
        return True

    def cancel_requests(self) -> int:
        """Cancel the HTTP requests still in flight (the grace has ended); how many."""
        tasks = [task for task, _what, _at in self._requests.values() if task is not None]
        for task in tasks:
            task.cancel("the shutdown grace has ended")
        return len(tasks)


async def _refuse_socket(scope: Scope, receive: Receive, send: Send) -> None:
    """503 to a WebSocket handshake, where the server lets the app answer it over HTTP;
    otherwise the handshake is closed before it is accepted (which the server answers 403)."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_REFUSED_BODY)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": _REFUSED_BODY})
    else:
        await send({"type": "websocket.close", "code": GOING_AWAY, "reason": ""})


# Signals
def signal_handler(
    loop: asyncio.AbstractEventLoop, first: Callable[[str], object]
) -> Callable[[int, FrameType | None], None]:
    """A handler for SIGTERM/SIGINT: the first signal calls `first(name)` on `loop`; a second
    one (an operator who does not want to wait) exits at once with code 1."""
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            # A signal.signal handler runs between two bytecodes of whatever the loop was
            # doing: hand over to the loop instead of touching its state here.
            loop.call_soon_threadsafe(first, name)
            return
        log.warning("%s received while draining: exiting at once", name)
        for output in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                output.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    return handler


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the gateway's signal handling: the first signal drains `drain`
    for up to `grace` seconds, and only then does uvicorn shut down (listener closed, what
    remains cancelled after `config.timeout_graceful_shutdown`, lifespan ended)."""

    def __init__(self, config: uvicorn.Config, drain: Drain, grace: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.grace = grace
        self._drained: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only: whoever runs us there handles them
            return
        handler = signal_handler(asyncio.get_running_loop(), self._begin)
        original = {sig: signal.signal(sig, handler) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, previous in original.items():
                signal.signal(sig, previous)
        # Unlike uvicorn's, the signal is not raised again once served: a drained process
        # exits 0.

    def _begin(self, name: str) -> None:
        running = self.drain.still_running()
        log.info(
            "%s received: draining for up to %gs (%s)",
            name,
            self.grace,
            ", ".join(running) if running else "nothing in flight",
        )
        self.drain.begin()
        self._drained = asyncio.get_running_loop().create_task(self._exit_when_drained())

    async def _exit_when_drained(self) -> None:
        if await self.drain.wait_idle(self.grace):
            log.info("drained: shutting down")
        else:
            log.warning(
                "shutdown grace of %gs ended: cancelling %s",
                self.grace,
                ", ".join(self.drain.still_running()),
            )
            self.drain.cancel_requests()
        self.should_exit = True


async def within_grace(work: Awaitable[None], stop: asyncio.Event, grace: float, what: str) -> None:
    """Run `work`, which ends by itself some time after `stop` is set; once it is set, give
    it `grace` seconds, then cancel it (logged). For `gateway worker`."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            log.info("stopping: %s gets up to %gs to finish what it holds", what, grace)
            await asyncio.wait({task}, timeout=grace)
        if not task.done():
            log.warning("%s still running after the shutdown grace of %gs: cancelled", what, grace)
            task.cancel()
            await asyncio.wait({task})
    finally:
        stopping.cancel()
        task.cancel()  # (done by now, unless we were cancelled ourselves)
    if not task.cancelled():
        task.result()  # its exception, if it failed
