"""The floor of the live-updates bench: bare uvicorn pushing one pre-encoded frame per event.

A plain ASGI app, served exactly as `gateway serve` serves the gateway (uvicorn,
`websockets-sansio`, 64 KiB frames, no permessage-deflate, uvicorn's 20 s keep-alive pings, no
access log), speaking just enough graphql-transport-ws for the bench's clients:

- a socket must offer the `graphql-transport-ws` subprotocol; `connection_init` is answered
  with `connection_ack` (the token is not checked), `ping` with `pong`; `subscribe` records the
  operation id (the document is not read), `complete` forgets it;
- `POST /events` takes the bench's event body (JSON with `type`, `appId` and `occurredAt`; the
  signature is not checked), builds the payload the gateway would send for
  `appStatusChanged { app { id status } status occurredAt }` once, then hands every
  subscription its `next` frame (its id, then that payload) and answers 202;
- `GET /healthz` and `GET /readyz` answer 200.

It is the lower bound of the bench's figures: the same sockets, frames and event loop, with no
GraphQL, database, authentication or broker. Each socket's frames are written in order, at once
while its peer keeps up, from a task only when the transport pushes back (as gateway/hub.py).

Run by bench/subscriptions.py: `python bench/floor.py --port P` (with BENCH_CPUS and
BENCH_GC_LOG, bench/serverhooks.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import serverhooks

PROTOCOL = "graphql-transport-ws"
WS_MAX_FRAME_BYTES = 64 * 1024  # gateway.settings.Settings.ws_max_frame_bytes

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class FloorSocket:
    """One open socket: its subscriptions' frame prefixes, and the frames it has yet to write."""

    __slots__ = ("closed", "outbox", "prefixes", "send", "writer")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.prefixes: dict[str, str] = {}
        self.outbox: deque[str] = deque()
        self.writer: asyncio.Task[None] | None = None
        self.closed = False

    def push(self, frame: str) -> None:
        if self.closed:
            return
        if self.writer is not None:
            self.outbox.append(frame)
            return
        coroutine = self.send({"type": "websocket.send", "text": frame})
        assert isinstance(coroutine, Coroutine)
        try:
            waiting_for = coroutine.send(None)  # written now, unless the transport is paused
        except StopIteration:
            return
        except Exception:
            self.closed = True  # the peer is gone: its receive loop ends the socket
            return
        self.writer = asyncio.ensure_future(self._write_rest(coroutine, waiting_for))

    async def _write_rest(self, coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        try:
            await _rest(coroutine, waiting_for)
            while self.outbox and not self.closed:
                await self.send({"type": "websocket.send", "text": self.outbox.popleft()})
        except Exception:
            self.closed = True
        finally:
            self.outbox.clear()
            self.writer = None


@types.coroutine
def _rest(coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> Generator[Any, Any, Any]:
    """The rest of a coroutine already started by hand, from the future it is waiting for."""
    while True:
        try:
            sent = yield waiting_for
        except BaseException as exc:
            try:
                waiting_for = coroutine.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting_for = coroutine.send(sent)
            except StopIteration as stop:
                return stop.value


SOCKETS: set[FloorSocket] = set()


def fan_out(event: dict[str, Any]) -> int:
    """One payload for the event, framed for every subscription. Returns the frames pushed."""
    status = "DISCONNECTED" if event.get("type") == "app.disconnected" else "CONNECTED"
    change = {
        "app": {"id": event.get("appId"), "status": status},
        "status": status,
        "occurredAt": event.get("occurredAt"),
    }
    payload = json.dumps({"data": {"appStatusChanged": change}}, separators=(",", ":"))
    frames = 0
    for socket in list(SOCKETS):
        for prefix in list(socket.prefixes.values()):
            socket.push(prefix + payload + "}")
            frames += 1
    return frames


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    method, path = scope["method"], scope["path"]
    if method == "GET" and path in ("/healthz", "/readyz"):
        await respond(send, 200, b'{"status":"ok"}')
    elif method == "POST" and path == "/events":
        try:
            event = json.loads(body)
        except ValueError:
            await respond(send, 400, b'{"error":"not JSON"}')
            return
        frames = fan_out(event if isinstance(event, dict) else {})
        await respond(send, 202, b'{"accepted":true,"frames":%d}' % frames)
    else:
        await respond(send, 404, b'{"error":"not found"}')


async def websocket(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if PROTOCOL not in scope.get("subprotocols", ()):
        await send({"type": "websocket.close", "code": 4406})
        return
    await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
    socket = FloorSocket(send)
    SOCKETS.add(socket)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode()
            try:
                request = json.loads(text)
                kind = request.get("type")
            except (ValueError, AttributeError):
                await send({"type": "websocket.close", "code": 4400})
                break
            if kind == "connection_init":
                socket.push('{"type":"connection_ack"}')
            elif kind == "subscribe":
                operation_id = str(request.get("id"))
                socket.prefixes[operation_id] = (
                    '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
                )
            elif kind == "complete":
                socket.prefixes.pop(str(request.get("id")), None)
            elif kind == "ping":
                socket.push('{"type":"pong"}')
    finally:
        socket.closed = True
        SOCKETS.discard(socket)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        await http(scope, receive, send)
    elif kind == "websocket":
        with contextlib.suppress(Exception):  # a peer gone mid-write ends its socket only
            await websocket(scope, receive, send)
    elif kind == "lifespan":
        await lifespan(receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description="bare uvicorn graphql-transport-ws fan-out")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serverhooks.install()
    import uvicorn

    # As gateway/cli.py does before serving: what start-up built stays out of collections.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
