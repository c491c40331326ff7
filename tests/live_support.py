"""Real servers and real clients for live-update tests: uvicorn in the test's event loop, and a
minimal graphql-transport-ws client on the `websockets` library."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, *, ws_max_size: int = 64 * 1024) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop (its lifespan is the caller's business,
    so it shares the test's open database). Yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


class WSClient:
    """One graphql-transport-ws connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._held: dict[str, list[dict[str, Any]]] = {}  # messages for other operations

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, base: str, token: str | None = None, *, init: bool = True, origin: str | None = None
    ) -> AsyncIterator[WSClient]:
        url = base.replace("http://", "ws://") + "/graphql"
        headers = {"Origin": origin} if origin else None
        async with websockets.connect(
            url, subprotocols=[PROTOCOL], additional_headers=headers, max_size=None
        ) as ws:
            client = cls(ws)
            if init:
                await client.init(token)
            yield client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))  # type: ignore[no-any-return]

    async def init(self, token: str | None) -> None:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op = uuid.uuid4().hex[:8]
        await self.send(
            {
                "id": op,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return op

    async def next(self, op: str, timeout: float = 5) -> dict[str, Any]:
        """The next `next` payload for operation `op` (fails on anything else for it)."""
        held = self._held.setdefault(op, [])
        while not held:
            message = await self.receive(timeout)
            self._held.setdefault(message.get("id", ""), []).append(message)
        message = held.pop(0)
        assert message["type"] == "next", message
        return message["payload"]  # type: ignore[no-any-return]

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
