"""Live updates over WebSocket: graphql-transport-ws, spoken here directly on ASGI.

A socket holds only what its protocol needs: its state, its operations by id, and two timers
(the `connection_init` deadline, the token's expiry); subscriptions are records in the hub's
groups (gateway/hub.py), which executes each event once per group and writes the frames.

Each operation over a socket is a request of its own, as over HTTP: its user is read again (a
user deleted or moved out of the portal closes the socket with 4403), it gets fresh loaders and
a request id, and its parameters and errors are checked and coded as over HTTP, by the same
schema pipeline. Between operations, the hub checks every open socket's user periodically, so
revoked access also ends subscriptions nobody touches. Close codes are DESIGN §3's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.types import Message, Receive, Scope, Send
from strawberry.http.websocket_origin import (
    is_same_origin,
    normalize_allowed_origins,
    normalize_origin,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from gateway.auth import AuthenticationFailed, authenticate, load_viewer
from gateway.broker import Broker
from gateway.context import Context
from gateway.drain import Drain
from gateway.errors import present_errors
from gateway.hub import CLOSE_FORBIDDEN, CLOSE_POLICY, Hub, Member, Socket
from gateway.persisted import PersistedDocuments, PersistedProblem
from gateway.policy import Policy, Ticket
from gateway.request_ids import accepted_request_id
from gateway.settings import Settings

log = logging.getLogger("gateway.live")

PROTOCOL = "graphql-transport-ws"
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_SUBPROTOCOL = 4406
CLOSE_INIT_TIMEOUT = 4408
CLOSE_DUPLICATE_ID = 4409
CLOSE_TOO_MANY_INITS = 4429

_background: set[asyncio.Task[Any]] = set()


def _in_background(coroutine: Any) -> None:
    # The loop keeps only weak references to tasks.
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


class LiveEndpoint:
    """The ASGI app of WebSocket connections to /graphql."""

    def __init__(
        self,
        schema: Any,
        settings: Settings,
        hub: Hub,
        broker: Broker,
        policy: Policy,
        persisted: PersistedDocuments,
        *,
        drain: Drain | None = None,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.hub = hub
        self.broker = broker
        self.policy = policy
        self.persisted = persisted
        self.drain = drain or Drain()  # the app's: open sockets are closed when it drains
        self.allowed_origins = normalize_allowed_origins(settings.allowed_origins)
        keep_credentials_out_of_socket_logs()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if not self._origin_allowed(scope):
            # Closing before accepting makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": ""})
            return
        metrics = self.policy.metrics
        if PROTOCOL not in scope.get("subprotocols", ()):
            await send({"type": "websocket.accept", "subprotocol": None})
            await send(
                {
                    "type": "websocket.close",
                    "code": CLOSE_SUBPROTOCOL,
                    "reason": "Subprotocol not acceptable",
                }
            )
            metrics.websocket_closes.labels(str(CLOSE_SUBPROTOCOL)).inc()
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        connection = Connection(self, scope, send)
        metrics.websocket_connections.inc()
        self.drain.opened(connection)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                await connection.received(message)
        finally:
            metrics.websocket_connections.dec()
            connection.shutdown()
            self.drain.closed(connection)

    def _origin_allowed(self, scope: Scope) -> bool:
        """Strawberry's rule: no Origin (not a browser), the same origin, or a listed one."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin is None:
            return True
        host = headers.get("host")
        if headers.get("sec-fetch-site") == "same-origin" or is_same_origin(origin, host):
            return True
        if "*" in self.allowed_origins or normalize_origin(origin) in self.allowed_origins:
            return True
        log.warning("refused a WebSocket from origin %r to host %r", origin, host)
        return False


class Connection:
    """One socket's protocol state: acknowledged or not, its operations, its timers."""

    __slots__ = (
        "_expiry",
        "_init_deadline",
        "_send",
        "acknowledged",
        "closed",
        "endpoint",
        "init_received",
        "operations",
        "scope",
        "socket",
    )

    def __init__(self, endpoint: LiveEndpoint, scope: Scope, send: Send) -> None:
        self.endpoint = endpoint
        self.scope = scope
        self._send = send
        self.acknowledged = False
        self.init_received = False
        self.closed = False
        self.socket: Socket | None = None
        # Running operations (a task) and open subscriptions (their record in a group).
        self.operations: dict[str, asyncio.Task[None] | Member] = {}
        self._expiry: asyncio.TimerHandle | None = None
        self._init_deadline: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            endpoint.settings.ws_init_timeout, self._init_timed_out
        )

    # What the hub writes through (gateway/hub.py's Socket.websocket).
    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.endpoint.policy.metrics.websocket_closes.labels(str(code)).inc()
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def _init_timed_out(self) -> None:
        self._init_deadline = None
        if not self.init_received:
            _in_background(self.close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout"))

    async def _send_json(self, message: dict[str, Any]) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # gone: its receive loop ends the socket
                await self.send_text(json.dumps(message))

    # Messages
    async def received(self, message: Message) -> None:
        if self.closed:
            return
        text = message.get("text")
        if text is None:
            await self.close(CLOSE_BAD_MESSAGE, "WebSocket message type must be text")
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # nested past the parser's depth: not ours to run
            await self.close(CLOSE_BAD_MESSAGE, "WebSocket message must be valid JSON")
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            await self.close(CLOSE_BAD_MESSAGE, "Failed to parse message")
        elif kind == "connection_init":
            await self._connection_init(data)
        elif kind == "ping":
            await self._send_json({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(data)
        elif kind == "complete":
            await self._complete(data)
        else:
            await self.close(CLOSE_BAD_MESSAGE, f"Unknown message type: {kind}")

    async def _connection_init(self, message: dict[str, Any]) -> None:
        if self.init_received:
            await self.close(CLOSE_TOO_MANY_INITS, "Too many initialisation requests")
            return
        self.init_received = True
        if self._init_deadline is not None:
            self._init_deadline.cancel()
            self._init_deadline = None
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            await self.close(CLOSE_BAD_MESSAGE, "Invalid connection init payload")
            return
        settings = self.endpoint.settings
        try:
            viewer, expires = await authenticate(payload.get("authorization"), settings)
        except AuthenticationFailed as exc:
            log.info("socket authentication failed: %s", exc)
            # Charged to the address, as over HTTP: guessing tokens is slow.
            decision = await self.endpoint.policy.charge_anonymous(self.scope)
            if decision is not None and not decision.allowed:
                await self.close(CLOSE_TOO_MANY_INITS, "Too many requests")
            else:
                await self.close(CLOSE_FORBIDDEN, "Forbidden")
            return
        socket = self.endpoint.hub.open_socket(self, viewer.user.id, viewer.portal.id)
        if socket is None:
            await self.close(CLOSE_POLICY, "Too many open sockets for this user")
            return
        self.socket = socket
        delay = max((expires - datetime.now(UTC)).total_seconds(), 0)
        self._expiry = asyncio.get_running_loop().call_later(
            delay, socket.close, CLOSE_FORBIDDEN, "Token expired"
        )
        await self._send_json({"type": "connection_ack"})
        self.acknowledged = True

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(CLOSE_UNAUTHORIZED, "Unauthorized")
            return
        operation_id, payload = message.get("id"), message.get("payload")
        if not isinstance(operation_id, str) or not isinstance(payload, dict):
            await self.close(CLOSE_BAD_MESSAGE, "Failed to parse message")
            return
        if operation_id in self.operations:
            await self.close(CLOSE_DUPLICATE_ID, f"Subscriber for {operation_id} already exists")
            return
        if len(self.operations) >= self.endpoint.settings.ws_max_subscriptions:
            error = GraphQLError("Subscription limit reached")
            await self._send_json(
                {"id": operation_id, "type": "error", "payload": [error.formatted]}
            )
            return
        task = asyncio.get_running_loop().create_task(self._operation(operation_id, payload))
        self.operations[operation_id] = task

    async def _complete(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        if not isinstance(operation_id, str):
            await self.close(CLOSE_BAD_MESSAGE, "Failed to parse message")
            return
        self._end(self.operations.pop(operation_id, None))

    def _end(self, operation: asyncio.Task[None] | Member | None) -> None:
        if isinstance(operation, Member):
            self.endpoint.hub.leave(operation)
        elif operation is not None:
            operation.cancel()

    def shutdown(self) -> None:
        for timer in (self._init_deadline, self._expiry):
            if timer is not None:
                timer.cancel()
        for operation in self.operations.values():
            self._end(operation)
        self.operations.clear()
        if self.socket is not None:
            self.endpoint.hub.close_socket(self.socket)

    # Operations
    async def _operation(self, operation_id: str, payload: dict[str, Any]) -> None:
        """One operation (query, mutation or subscription), with the user as they are now,
        fresh loaders and a request id of its own; refused parameters and errors before
        execution are answered with an `error` message, as HTTP answers them."""
        request_id = accepted_request_id(None)  # the socket's id is its handshake's
        policy = self.endpoint.policy
        ticket = policy.ticket()
        try:
            with policy.current(ticket):
                await self._run(operation_id, payload, request_id, ticket)
        except Exception as exc:
            # Unexpected: masked (and logged once) like any other, and the operation ends.
            error = GraphQLError(str(exc), original_error=exc)
            presented = self._presented([error], request_id)
            ticket.answered("error", presented)
            await self._finish(operation_id, "error", presented)
        finally:
            ticket.finish()

    async def _run(
        self, operation_id: str, payload: dict[str, Any], request_id: str, ticket: Ticket
    ) -> None:
        socket, endpoint = self.socket, self.endpoint
        assert socket is not None  # no operation runs before connection_ack
        viewer = await load_viewer(socket.user_id, socket.portal_id)
        if viewer is None:
            log.info(
                "socket closed: user %s is no longer in portal %s", socket.user_id, socket.portal_id
            )
            ticket.answered_with("refused", "UNAUTHENTICATED")
            self.operations.pop(operation_id, None)
            socket.close(CLOSE_FORBIDDEN, "Forbidden")
            return
        ticket.charge_to(viewer.user.id)
        name, variables = payload.get("operationName"), payload.get("variables")
        problem = _parameter_problem(name, variables, payload.get("extensions"))
        if problem is not None:
            # Checked as over HTTP, and answered as a refused request.
            error = GraphQLError(problem, extensions={"code": "BAD_REQUEST"})
            await self._refuse(operation_id, ticket, self._presented([error], request_id))
            return
        try:
            lookup = await endpoint.persisted.lookup(
                payload.get("query"), payload.get("extensions"), payload.get("documentId")
            )
        except PersistedProblem as miss:
            error = GraphQLError(miss.message, extensions={"code": miss.code})
            await self._refuse(operation_id, ticket, [error.formatted])
            return
        query = ticket.document = lookup.query
        context = Context(
            settings=endpoint.settings,
            viewer=viewer.user,
            portal=viewer.portal,
            request_id=request_id,
            publisher=endpoint.broker,
            ticket=ticket,
        )
        # A subscription runs here only to be checked: without an event its field yields
        # nothing, so its stream ends at once, or gives the errors that refuse it.
        source = await endpoint.schema.stream(
            query, variable_values=variables, context_value=context, operation_name=name
        )
        async with aclosing(source):
            results = [result async for result in source]
        refused = bool(results) and _before_execution(results[0])
        if not refused:
            # It passed validation: an automatic persisted query is kept from now on.
            await endpoint.persisted.register(lookup)
        if not results and _is_subscription(query, name):
            member = endpoint.hub.join(
                socket, operation_id, query, name, variables, viewer.user, viewer.portal
            )
            if member is None:
                ticket.answered("error")
                return
            ticket.answered("ok")
            if self.operations.get(operation_id) is asyncio.current_task():
                self.operations[operation_id] = member
            else:  # completed by the client, or the socket closed, while it was checked
                endpoint.hub.leave(member)
            return
        errors: list[Any] = []
        for index, result in enumerate(results):
            if index == 0 and refused:
                await self._refuse(operation_id, ticket, [e.formatted for e in result.errors or []])
                return
            if not isinstance(result, ExecutionResult):
                error = GraphQLError(
                    "Incremental delivery is not supported over graphql-transport-ws"
                )
                await self._refuse(operation_id, ticket, [error.formatted])
                return
            errors += [e.formatted for e in result.errors or []]
            await self._next(operation_id, result)
        ticket.answered("error" if errors else "ok", errors)
        await self._finish(operation_id, "complete")

    async def _refuse(self, operation_id: str, ticket: Ticket, errors: list[Any]) -> None:
        """An operation answered with an `error` message: not executed, a point charged."""
        await ticket.refused()
        ticket.answered("refused", errors)
        await self._finish(operation_id, "error", errors)

    async def _next(self, operation_id: str, result: ExecutionResult) -> None:
        if operation_id not in self.operations:
            return  # completed by the client meanwhile
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        await self._send_json({"id": operation_id, "type": "next", "payload": payload})

    async def _finish(self, operation_id: str, kind: str, payload: Any = None) -> None:
        """The operation's last message (`error` or `complete`): its id is free again first."""
        if self.operations.pop(operation_id, None) is None:
            return
        message: dict[str, Any] = {"id": operation_id, "type": kind}
        if payload is not None:
            message["payload"] = payload
        await self._send_json(message)

    def _presented(self, errors: list[GraphQLError], request_id: str) -> list[Any]:
        debug = self.endpoint.settings.debug
        return [error.formatted for error in present_errors(errors, request_id, debug)]


def _before_execution(result: Any) -> bool:
    """Whether a first result refuses the operation. Strawberry's stream gives a
    subscription refused by a hook before execution (the node limit, the rate limit) as a
    plain result: one without data whose errors have no path."""
    if isinstance(result, PreExecutionError):
        return True
    errors: list[Any] = list(getattr(result, "errors", None) or ())
    return bool(errors) and result.data is None and all(e.path is None for e in errors)


def _is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the operation a text names is a subscription (it passed its checks, so it
    parses and names one)."""
    operation = get_operation_ast(parse(query), operation_name)
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


def _parameter_problem(name: Any, variables: Any, extensions: Any) -> str | None:
    """Why a `subscribe` payload's parameters can't be run, checked as over HTTP; or None.
    (`query` is checked with the persisted documents: with a hash it may be absent.)"""
    if name is not None and not isinstance(name, str):
        return "`operationName` must be a string"
    if variables is not None and not isinstance(variables, dict):
        return "`variables` must be an object"
    if extensions is not None and not isinstance(extensions, dict):
        return "`extensions` must be an object"
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
