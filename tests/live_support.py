"""Real servers and real clients for live-update tests: uvicorn in the test's event loop, and a
minimal graphql-transport-ws client on the `websockets` library."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from gateway.hub import Hub
from gateway.ids import decode_id
from tests.helpers import until

PROTOCOL = Subprotocol("graphql-transport-ws")

# The test client's own logger (websockets logs every frame at DEBUG), so tests that inspect
# the server's log records can tell the client's apart.
CLIENT_LOG = logging.getLogger("tests.live_support.client")


@dataclass
class Served:
    """An app served by uvicorn: its base URL and its process's hub."""

    base: str
    hub: Hub


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def uvicorn_serving(
    app: Any, *, ws_max_size: int = 64 * 1024, port: int | None = None
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop (its lifespan is the caller's business,
    so it shares the test's open database), on `port` or a free one. Yields the base URL.

    Logging is left as `gateway serve` leaves it (no uvicorn configuration of its own): the
    server's records propagate to the root logger, where tests can capture them."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # it failed to start: its error, not a timeout
        return bool(server.started)

    await until(started, what="uvicorn starting")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def until_subscribed(hub: Hub, portal: str, count: int, timeout: float = 5) -> None:
    """Wait until the portal (a global id) has `count` open subscriptions in `hub`'s process,
    so an event published next reaches them."""
    portal_id = decode_id(portal, "Portal")
    assert portal_id is not None, portal
    await until(
        lambda: hub.subscription_count(portal_id) == count,
        timeout,
        f"{count} open subscriptions of {portal}",
    )


class WSClient:
    """One graphql-transport-ws connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._held: dict[str, list[dict[str, Any]]] = {}  # messages for other operations

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        base: str,
        token: str | None = None,
        *,
        init: bool = True,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/graphql",
    ) -> AsyncIterator[WSClient]:
        url = base.replace("http://", "ws://") + path
        headers = {**({"Origin": origin} if origin else {}), **(headers or {})}
        async with websockets.connect(
            url,
            subprotocols=[PROTOCOL],
            additional_headers=headers or None,
            max_size=None,
            logger=CLIENT_LOG,
        ) as ws:
            client = cls(ws)
            if init:
                await client.init(token)
            yield client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def init(self, token: str | None) -> None:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, **payload: Any
    ) -> str:
        """Start an operation (any kind: graphql-transport-ws runs them all); its id."""
        op = uuid.uuid4().hex[:8]
        await self.send(
            {
                "id": op,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}, **payload},
            }
        )
        return op

    async def message(self, op: str, timeout: float = 5) -> dict[str, Any]:
        """The next message for operation `op`, whatever its type."""
        held = self._held.setdefault(op, [])
        while not held:
            message = await self.receive(timeout)
            self._held.setdefault(message.get("id", ""), []).append(message)
        return held.pop(0)

    async def next(self, op: str, timeout: float = 5) -> dict[str, Any]:
        """The next `next` payload for operation `op` (fails on anything else for it)."""
        message = await self.message(op, timeout)
        assert message["type"] == "next", message
        return message["payload"]

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, **payload: Any
    ) -> dict[str, Any]:
        """Run a query or mutation over the socket: its one result, then `complete`."""
        op = await self.subscribe(query, variables, **payload)
        result = await self.next(op)
        assert await self.message(op) == {"id": op, "type": "complete"}
        return result

    async def refused(
        self, query: str, variables: dict[str, Any] | None = None, **payload: Any
    ) -> list[dict[str, Any]]:
        """Run an operation the server must refuse: the payload of its `error` message."""
        op = await self.subscribe(query, variables, **payload)
        message = await self.message(op)
        assert message["type"] == "error", message
        return message["payload"]

    async def nothing(self, seconds: float = 0.5) -> None:
        """Nothing arrives for a while."""
        with contextlib.suppress(TimeoutError):
            message = await self.receive(seconds)
            raise AssertionError(f"unexpected message: {message}")

    async def closed_with(self, timeout: float = 10) -> int:
        """Wait for the server to close the socket; its close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        raise AssertionError("socket still open")


def signed(
    body: dict[str, Any], secret: str, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    timestamp = str(int(at if at is not None else time.time()))
    signature = hmac.new(
        secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
    ).hexdigest()
    return raw, {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": timestamp,
        "X-Gateway-Signature": f"sha256={signature}",
    }


async def post_event(
    base: str, secret: str, type_: str, portal: str, app: str, **extra: Any
) -> httpx.Response:
    body = {
        "id": uuid.uuid4().hex,
        "type": type_,
        "occurredAt": extra.pop("occurred_at", datetime.now(UTC)).isoformat(),
        "portalId": portal,
        "appId": app,
        **extra,
    }
    raw, headers = signed(body, secret)
    async with httpx.AsyncClient() as client:
        return await client.post(f"{base}/events", content=raw, headers=headers)
