"""ASGI middleware the app factory puts around every route: what every answer carries, and the
request header limit, decided before any route runs."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# uvicorn's httptools parser takes request headers of any size, so the limit is ours.
MAX_HEADER_BYTES = 16 * 1024

_RESPONSE_STARTS = ("http.response.start", "websocket.http.response.start")


def header_bytes(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The size of a header block as sent: `Name: value` and CRLF for each field."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


class HeaderSizeLimit:
    """Requests and WebSocket handshakes whose headers are over `max_bytes` in all are refused
    with 431 Request Header Fields Too Large, in the shape of a GraphQL error."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (
            header_bytes(scope["headers"]) <= self.max_bytes
        ):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            {
                "errors": [
                    {
                        "message": f"Request headers are larger than {self.max_bytes} bytes in all",
                        "extensions": {"code": "REQUEST_HEADER_FIELDS_TOO_LARGE"},
                    }
                ]
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 431, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 431, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the extension answers the refused handshake with 403
            await send({"type": "websocket.close", "code": 1008})


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every answer: a browser never second-guesses the
    media type (a JSON error echoing a query is never run as HTML or script)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] in _RESPONSE_STARTS:
                MutableHeaders(scope=message)["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_with_header)
