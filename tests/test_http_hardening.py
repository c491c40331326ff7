"""What every HTTP answer is protected by, whatever the route (gateway/middleware.py, the app
factory): the request header limit (431), nosniff, no-store on /graphql, no redirect built
from the Host header, and CORS for the configured browser origins only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import websockets
from starlette.types import Message
from websockets.exceptions import InvalidStatus

from gateway.middleware import HeaderSizeLimit
from tests.conftest import EVENTS_SECRET
from tests.helpers import token_for
from tests.live_support import PROTOCOL, signed, uvicorn_serving

ADMIN = "admin@demo.example"
VIEWER = "{ viewer { user { email } } }"
VIEWER_DATA = {"data": {"viewer": {"user": {"email": ADMIN}}}}
KIB = 1024
MAX_HEADER_BYTES = 16 * KIB
CONSOLE = "https://console.example"
EVIL = "https://evil.example"
TOO_LARGE_BODY = {
    "errors": [
        {
            "message": "Request headers are larger than 16384 bytes in all",
            "extensions": {"code": "REQUEST_HEADER_FIELDS_TOO_LARGE"},
        }
    ]
}


@pytest.fixture
async def token(settings: Any, demo: object) -> str:
    return await token_for(settings, ADMIN)


@pytest.fixture
async def served(app: object) -> AsyncIterator[str]:
    async with uvicorn_serving(app) as base:
        yield base


# ---- request headers: 16 KiB in all, counted as sent ("Name: value" and CRLF per field)


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_get(path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def header_block_size(headers: list[tuple[str, str]]) -> int:
    return sum(len(name) + len(value) + 4 for name, value in headers)


def padded_to(total: int, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`headers` plus an X-Padding field that makes the header block exactly `total` bytes."""
    room = total - header_block_size(headers) - len("X-Padding") - 4
    assert room >= 0
    padded = [*headers, ("X-Padding", "p" * room)]
    assert header_block_size(padded) == total
    return padded


async def send_raw(base: str, request: bytes) -> RawAnswer:
    """One request on its own connection (it asks the server to close it), read to the end."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), headers, body)


def viewer_request(base: str, token: str, total: int) -> bytes:
    headers = [
        ("Host", urlsplit(base).netloc),
        ("Authorization", f"Bearer {token}"),
        ("Accept", "application/json"),
        ("Connection", "close"),
    ]
    return raw_get(f"/graphql?query={quote(VIEWER)}", padded_to(total, headers))


async def test_headers_of_15_kib_are_served(served: str, token: str) -> None:
    # given a query whose request headers are 15 KiB in all
    request = viewer_request(served, token, 15 * KIB)
    # when it is sent to the served gateway
    answer = await send_raw(served, request)
    # then it runs
    assert (answer.status, answer.json()) == (200, VIEWER_DATA)


async def test_headers_of_exactly_16_kib_are_served(served: str, token: str) -> None:
    answer = await send_raw(served, viewer_request(served, token, MAX_HEADER_BYTES))

    assert (answer.status, answer.json()) == (200, VIEWER_DATA)


@pytest.mark.parametrize("extra", [1, 64 * KIB], ids=["one byte over", "64 KiB over"])
async def test_headers_over_16_kib_are_431(
    served: str, token: str, executions: list[str], extra: int
) -> None:
    # given the same query with request headers over 16 KiB in all
    request = viewer_request(served, token, MAX_HEADER_BYTES + extra)
    # when it is sent
    answer = await send_raw(served, request)
    # then it is refused with 431 and a GraphQL-shaped error before anything runs
    assert answer.status == 431
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.json() == TOO_LARGE_BODY
    assert executions == []


async def test_the_limit_covers_every_route(served: str) -> None:
    # given requests to other routes with 17 KiB of headers
    for path in ("/healthz", "/events", "/no-such-page"):
        headers = [("Host", urlsplit(served).netloc), ("Connection", "close")]
        # when each is sent
        answer = await send_raw(served, raw_get(path, padded_to(17 * KIB, headers)))
        # then each is refused the same way
        assert (answer.status, answer.json()) == (431, TOO_LARGE_BODY), path


def padding(size: int) -> dict[str, str]:
    """About `size` bytes of headers in fields of 4 KiB (the handshake parser of the
    `websockets` library refuses a single line over 8 KiB before the gateway sees it)."""
    fields = size // (4 * KIB) + 1
    return {f"X-Padding-{i}": "p" * (size // fields) for i in range(fields)}


async def test_a_websocket_handshake_over_16_kib_is_refused_with_431(served: str) -> None:
    # given a WebSocket handshake carrying 17 KiB of headers
    url = served.replace("http://", "ws://") + "/graphql"
    # when it is attempted
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            url, subprotocols=[PROTOCOL], additional_headers=padding(17 * KIB)
        ):
            pass
    # then the handshake is answered with 431 and the same body
    response = refused.value.response
    assert response.status_code == 431
    assert json.loads(response.body) == TOO_LARGE_BODY


async def test_a_websocket_handshake_under_the_limit_is_accepted(served: str, token: str) -> None:
    url = served.replace("http://", "ws://") + "/graphql"

    async with websockets.connect(
        url, subprotocols=[PROTOCOL], additional_headers=padding(15 * KIB)
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": _init(token)}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert ack["type"] == "connection_ack"


def _init(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# ---- nosniff on every answer, no-store on /graphql


async def test_every_answer_says_nosniff(client: httpx.AsyncClient, token: str) -> None:
    # given requests to every route, accepted and refused
    raw, signed_headers = signed({"id": "x"}, EVENTS_SECRET)
    answers = [
        await client.post("/graphql", json={"query": VIEWER}, headers=_auth(token)),
        await client.post("/graphql", json={"query": VIEWER}),
        await client.put("/graphql", headers=_auth(token)),
        await client.get("/healthz"),
        await client.get("/readyz"),
        await client.post("/events", content=raw, headers=signed_headers),
        await client.post("/events", content=b"{}"),
        await client.get("/no-such-page"),
    ]
    # then every answer tells browsers not to guess its media type
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


async def test_graphql_answers_are_not_stored(client: httpx.AsyncClient, token: str) -> None:
    # given a query that runs, a request refused after authentication, and an anonymous one
    answers = [
        await client.get("/graphql", params={"query": VIEWER}, headers=_auth(token)),
        await client.post("/graphql", json=[{"query": VIEWER}], headers=_auth(token)),
        await client.get("/graphql", params={"query": VIEWER}),
    ]
    # then none of them may be kept by a cache (a viewer's data in a shared cache)
    assert [r.status_code for r in answers] == [200, 400, 401]
    for response in answers:
        assert response.headers["cache-control"] == "no-store"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- /graphql/ with a trailing slash: answered, never redirected to the Host header


async def test_graphql_with_a_trailing_slash_is_answered_not_redirected(
    client: httpx.AsyncClient, token: str
) -> None:
    # given a request to /graphql/ whose Host header names another site
    forged = {**_auth(token), "Host": "evil.example"}
    # when a query is sent by GET and by POST
    got = await client.get("/graphql/", params={"query": VIEWER}, headers=forged)
    posted = await client.post("/graphql/", json={"query": VIEWER}, headers=forged)
    # then it runs there, and nothing points the client at the forged host
    for response in (got, posted):
        assert (response.status_code, response.json()) == (200, VIEWER_DATA)
        assert "location" not in response.headers


async def test_no_route_redirects_to_the_host_header(client: httpx.AsyncClient) -> None:
    # given requests with a trailing slash to routes that have none
    for path in ("/healthz/", "/events/", "/readyz/"):
        # when each is sent with a forged Host
        response = await client.get(path, headers={"Host": "evil.example"})
        # then it is not found, and not redirected to the forged host
        assert response.status_code == 404, path
        assert "location" not in response.headers


async def test_a_websocket_at_graphql_with_a_trailing_slash_works(served: str, token: str) -> None:
    url = served.replace("http://", "ws://") + "/graphql/"

    async with websockets.connect(url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": _init(token)}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert ack["type"] == "connection_ack"


# ---- CORS: GATEWAY_ALLOWED_ORIGINS


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_listed_origin_may_call_the_api(make_client: Any, token: str) -> None:
    # given a gateway that allows the console's origin
    async with make_client(allowed_origins=(CONSOLE,)) as console_client:
        # when the browser sends its preflight, then the POST itself
        checked = await console_client.options("/graphql", headers=preflight(CONSOLE))
        response = await console_client.post(
            "/graphql", json={"query": VIEWER}, headers={**_auth(token), "Origin": CONSOLE}
        )
    # then the preflight allows the method and the headers, and the answer may be read,
    # X-Request-ID included
    assert checked.status_code == 200
    assert checked.headers["access-control-allow-origin"] == CONSOLE
    assert {m.strip() for m in checked.headers["access-control-allow-methods"].split(",")} == {
        "GET",
        "POST",
    }
    allowed_headers = {
        h.strip().lower() for h in checked.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed_headers
    assert "access-control-allow-credentials" not in checked.headers
    assert (response.status_code, response.json()) == (200, VIEWER_DATA)
    assert response.headers["access-control-allow-origin"] == CONSOLE
    assert response.headers["access-control-expose-headers"].lower() == "x-request-id"
    assert "Origin" in response.headers["vary"]


async def test_an_unlisted_origin_gets_no_cors_headers(make_client: Any, token: str) -> None:
    # given a gateway that allows the console's origin only
    async with make_client(allowed_origins=(CONSOLE,)) as console_client:
        # when another origin sends a preflight and a POST
        checked = await console_client.options("/graphql", headers=preflight(EVIL))
        response = await console_client.post(
            "/graphql", json={"query": VIEWER}, headers={**_auth(token), "Origin": EVIL}
        )
    # then neither answer lets a browser on that origin read it
    assert checked.status_code == 400
    for answer in (checked, response):
        assert "access-control-allow-origin" not in answer.headers


async def test_without_allowed_origins_there_is_no_cors(
    client: httpx.AsyncClient, token: str
) -> None:
    # given the default gateway (no GATEWAY_ALLOWED_ORIGINS)
    # when the console's origin sends a preflight and a POST
    checked = await client.options("/graphql", headers=preflight(CONSOLE))
    response = await client.post(
        "/graphql", json={"query": VIEWER}, headers={**_auth(token), "Origin": CONSOLE}
    )
    # then no answer carries CORS headers
    for answer in (checked, response):
        assert not [h for h in answer.headers if h.startswith("access-control-")], answer.headers


async def test_without_the_http_response_extension_an_oversized_handshake_is_closed() -> None:
    """Servers without ASGI's websocket.http.response extension can't send a 431: the
    handshake is closed instead (they answer it with 403), and the app is never reached."""
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"x-padding", b"p" * MAX_HEADER_BYTES)],
        "extensions": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await HeaderSizeLimit(app)(scope, receive, send)

    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == []
