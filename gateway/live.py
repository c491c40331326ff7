"""Live updates over WebSocket (graphql-transport-ws only): sockets, auth, limits, fan-out.

The hub receives every envelope the broker delivers to this process and hands it to the
subscriptions of that envelope's portal, each with a bounded queue. One fresh set of loaders
is made per envelope and shared by all its subscribers, so the pushed objects are read once
per event, never from an earlier event's cache. Close codes are DESIGN §3's.

Each operation over a socket is a request of its own, as over HTTP: its user is read again (a
user deleted or moved out of the portal closes the socket with 4403), it gets fresh loaders and
a request id, and its parameters and errors are checked and coded as over HTTP. Between
operations, the hub checks every open socket's user periodically, so revoked access also ends
subscriptions nobody touches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.utils.aio import aclosing

from gateway.auth import AuthenticationFailed, authenticate, load_viewer, portals_of
from gateway.broker import Broker
from gateway.context import Context
from gateway.errors import present_errors
from gateway.loaders import Loaders
from gateway.request_ids import accepted_request_id
from gateway.services.envelopes import Envelope
from gateway.settings import Settings

log = logging.getLogger("gateway.live")

CLOSE_POLICY = 1008  # too many sockets for this user
CLOSE_TRY_AGAIN = 1013  # fell behind, or the broker is lost: reconnect and refetch
CLOSE_FORBIDDEN = 4403


_closing: set[asyncio.Task[None]] = set()


class SubscriberClosed(Exception):
    pass


@dataclass(eq=False)
class Socket:
    """One authenticated WebSocket: who it is, and how to close it."""

    websocket: WebSocket
    user_id: int
    portal_id: int
    subscribers: set[Subscriber] = field(default_factory=set)
    closed: bool = False

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        # Called from synchronous fan-out; the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(self._close(code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self.websocket.close(code=code, reason=reason)


@dataclass(eq=False)
class Subscriber:
    """One subscription's queue of (envelope, loaders) pairs."""

    socket: Socket
    queue: asyncio.Queue[tuple[Envelope, Loaders]]

    async def next(self) -> tuple[Envelope, Loaders]:
        return await self.queue.get()


class Hub:
    """This process's sockets and subscriptions, fed by the broker."""

    def __init__(self, broker: Broker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self._by_portal: dict[int, set[Subscriber]] = defaultdict(set)
        self._sockets_by_user: dict[int, set[Socket]] = defaultdict(set)
        self._access_watch: asyncio.Task[None] | None = None
        broker.listen(self.deliver)
        broker.on_lost(self.lost)

    # Sockets
    def open_socket(self, websocket: WebSocket, user_id: int, portal_id: int) -> Socket | None:
        """A new socket, or None when the user already has as many as allowed."""
        sockets = self._sockets_by_user[user_id]
        if len(sockets) >= self.settings.ws_max_sockets_per_user:
            if not sockets:
                del self._sockets_by_user[user_id]
            return None
        socket = Socket(websocket, user_id, portal_id)
        sockets.add(socket)
        if self._access_watch is None:
            # Runs while this process has sockets, whether or not the app's lifespan runs.
            self._access_watch = asyncio.get_running_loop().create_task(self._watch_access())
        return socket

    def close_socket(self, socket: Socket) -> None:
        socket.closed = True
        self._sockets_by_user[socket.user_id].discard(socket)
        if not self._sockets_by_user[socket.user_id]:
            del self._sockets_by_user[socket.user_id]
        for subscriber in list(socket.subscribers):
            self._unsubscribe(subscriber)
        if not self._sockets_by_user and self._access_watch is not None:
            self._access_watch.cancel()
            self._access_watch = None

    async def _watch_access(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ws_access_check_interval)
            try:
                await self.check_access()
            except Exception:
                # The database may be briefly unreachable: the next round tries again.
                log.warning("could not check the users of open sockets", exc_info=True)

    async def check_access(self) -> None:
        """Close with 4403 the sockets whose user was deleted or left the portal since they
        connected: one statement for all of this process's sockets."""
        if not self._sockets_by_user:
            return
        portals = await portals_of(list(self._sockets_by_user))
        for user_id, sockets in list(self._sockets_by_user.items()):
            for socket in list(sockets):
                if portals.get(user_id) != socket.portal_id:
                    log.info(
                        "socket closed: user %s is no longer in portal %s",
                        user_id,
                        socket.portal_id,
                    )
                    socket.close(CLOSE_FORBIDDEN, "Forbidden")

    @property
    def open_subscriptions(self) -> int:
        return sum(len(s) for s in self._by_portal.values())

    def subscription_count(self, portal_id: int) -> int:
        """Open subscriptions of one portal in this process: once a subscription counts here,
        events published for its portal reach it."""
        return len(self._by_portal.get(portal_id, ()))

    # Subscriptions
    @contextlib.contextmanager
    def subscribe(self, socket: Socket) -> Iterator[Subscriber]:
        if not self.broker.healthy:
            socket.close(CLOSE_TRY_AGAIN, "Live updates are unavailable; try again later")
            raise SubscriberClosed
        subscriber = Subscriber(socket, asyncio.Queue(maxsize=self.settings.ws_queue_size))
        self._by_portal[socket.portal_id].add(subscriber)
        socket.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._unsubscribe(subscriber)

    def _unsubscribe(self, subscriber: Subscriber) -> None:
        portal = subscriber.socket.portal_id
        self._by_portal[portal].discard(subscriber)
        if not self._by_portal[portal]:
            self._by_portal.pop(portal, None)
        subscriber.socket.subscribers.discard(subscriber)

    def deliver(self, envelope: Envelope) -> None:
        subscribers = self._by_portal.get(envelope.portal_id)
        if not subscribers:
            return
        loaders = Loaders()  # fresh for this event, shared by its subscribers
        for subscriber in list(subscribers):
            try:
                subscriber.queue.put_nowait((envelope, loaders))
            except asyncio.QueueFull:
                # A slow reader is dropped rather than stalling others or growing memory.
                subscriber.socket.close(CLOSE_TRY_AGAIN, "Too far behind; reconnect and refetch")
                self._unsubscribe(subscriber)

    def lost(self) -> None:
        """The broker is gone: updates may be missed, so subscribed sockets must refetch."""
        for subscribers in list(self._by_portal.values()):
            for subscriber in list(subscribers):
                subscriber.socket.close(CLOSE_TRY_AGAIN, "Live updates were interrupted; reconnect")
                self._unsubscribe(subscriber)


class GatewayTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with our authentication, socket cap, token expiry, and each
    operation run as a request of its own."""

    view: LiveView
    _socket: Socket | None = None
    _expiry: asyncio.TimerHandle | None = None

    async def handle_connection_init(self, message: Any) -> None:
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        try:
            viewer, expires = await authenticate(payload.get("authorization"), self.view.settings)
        except AuthenticationFailed as exc:
            log.info("socket authentication failed: %s", exc)
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")
            return
        socket = self.view.hub.open_socket(self.context.websocket, viewer.user.id, viewer.portal.id)
        if socket is None:
            await self.websocket.close(
                code=CLOSE_POLICY, reason="Too many open sockets for this user"
            )
            return
        self._socket = socket
        delay = max((expires - datetime.now(UTC)).total_seconds(), 0)
        self._expiry = asyncio.get_running_loop().call_later(
            delay, socket.close, CLOSE_FORBIDDEN, "Token expired"
        )
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """One operation (query, mutation or subscription), with the user as they are now,
        fresh loaders and a request id of its own; refused parameters and errors before
        execution are answered with an `error` message, as HTTP answers them."""
        request_id = accepted_request_id(None)  # the socket's id is its handshake's
        try:
            await self._run_operation(operation, request_id)
        except Exception as exc:
            # Unexpected: masked (and logged once) like any other, and the operation ends.
            error = GraphQLError(str(exc), original_error=exc)
            presented = present_errors([error], request_id, self.view.settings.debug)
            with contextlib.suppress(Exception):  # the socket may be gone
                await operation.send_initial_errors(presented)
            self.operations.pop(operation.id, None)

    async def _run_operation(self, operation: Operation[Context, None], request_id: str) -> None:
        socket = self._socket
        assert socket is not None  # no operation runs before connection_ack
        viewer = await load_viewer(socket.user_id, socket.portal_id)
        if viewer is None:
            log.info(
                "socket closed: user %s is no longer in portal %s", socket.user_id, socket.portal_id
            )
            self.operations.pop(operation.id, None)
            socket.close(CLOSE_FORBIDDEN, "Forbidden")
            return
        context = Context(
            settings=self.view.settings,
            viewer=viewer.user,
            portal=viewer.portal,
            request_id=request_id,
            publisher=self.view.broker,
            websocket=self.context.websocket,
            socket=socket,
            hub=self.view.hub,
        )
        problem = _parameter_problem(operation)
        if problem is not None:
            error = GraphQLError(problem, extensions={"code": "BAD_REQUEST"})
            presented = present_errors([error], context.request_id, self.view.settings.debug)
            await operation.send_initial_errors(presented)
            return
        result_source = await self.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.operation_name,
        )
        async with aclosing(result_source):
            await self._send_result_stream(operation, result_source)
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # A document that doesn't parse, or whose operation can't be chosen, is the request's
        # fault, not the protocol's: it gets an `error` message and the socket stays open.
        return None

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._socket is not None:
            self.view.hub.close_socket(self._socket)
        await super().shutdown()


def _parameter_problem(operation: Operation[Context, None]) -> str | None:
    """Why a `subscribe` payload's parameters can't be run, checked as over HTTP; or None."""
    query, name, variables = operation.query, operation.operation_name, operation.variables
    if not isinstance(query, str) or not query.strip():
        return "`query` must be a non-empty string"
    if name is not None and not isinstance(name, str):
        return "`operationName` must be a string"
    if variables is not None and not isinstance(variables, dict):
        return "`variables` must be an object"
    return None


class _NoCredentialsInSocketLogs(logging.Filter):
    """The `websockets` protocol (which uvicorn runs with its `uvicorn.error` logger) logs, at
    DEBUG, every handshake header and the start and end of every frame: `connection_init`
    carries the bearer token, and some clients also send it as a header or in the URL. Frames
    keep their type and size, credential headers and query strings are left out."""

    _FRAME = frozenset({"< %s", "> %s"})
    _HEADER = frozenset({"< %s: %s", "> %s: %s"})
    _DATA_OPCODES = frozenset({"TEXT", "BINARY", "CONT"})
    _CREDENTIAL_HEADERS = frozenset(
        {"authorization", "proxy-authorization", "cookie", "set-cookie"}
    )

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or not args:
            return True
        if record.msg in self._FRAME and len(args) == 1:
            frame = args[0]
            opcode = getattr(getattr(frame, "opcode", None), "name", None)
            if opcode in self._DATA_OPCODES:
                record.args = (f"{opcode} [{len(getattr(frame, 'data', b''))} bytes]",)
        elif record.msg in self._HEADER and len(args) == 2:
            if str(args[0]).lower() in self._CREDENTIAL_HEADERS:
                record.args = (args[0], "[not logged]")
        else:
            # Request lines and uvicorn's "WebSocket /path?query" [accepted] lines.
            record.args = tuple(_without_query(a) for a in args)
        return True


def _without_query(arg: object) -> object:
    if isinstance(arg, str) and arg.startswith("/") and "?" in arg:
        return arg.partition("?")[0] + "?[not logged]"
    return arg


# uvicorn passes its own logger to the protocol; websockets' own default is the other one.
_SOCKET_LOGGERS = ("uvicorn.error", "websockets.server")


def keep_credentials_out_of_socket_logs() -> None:
    """Install the filter on the loggers the WebSocket protocol writes to (once)."""
    for name in _SOCKET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoCredentialsInSocketLogs) for f in logger.filters):
            logger.addFilter(_NoCredentialsInSocketLogs())


class LiveView(GraphQL[Context, None]):
    """Strawberry's ASGI view, used for WebSockets only (HTTP is gateway.graphql_http)."""

    graphql_transport_ws_handler_class = GatewayTransportWS

    def __init__(self, schema: Any, settings: Settings, hub: Hub, broker: Broker) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
        )
        self.settings = settings
        self.hub = hub
        self.broker = broker
        keep_credentials_out_of_socket_logs()

    async def get_context(self, request: Any, response: Any) -> Context:
        # Who it is arrives with connection_init; until then the socket can do nothing.
        return Context(
            settings=self.settings,
            # No operation runs before connection_init has set who it is.
            viewer=None,  # type: ignore[arg-type]  # see above
            portal=None,  # type: ignore[arg-type]  # see above
            request_id=accepted_request_id(request.headers.get("x-request-id")),
            publisher=self.broker,
            websocket=request,
            hub=self.hub,
        )
