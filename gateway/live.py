"""Live updates over WebSocket (graphql-transport-ws only): the protocol, with our
authentication, socket cap, token expiry, and each operation run as a request of its own.

Each operation over a socket is a request of its own, as over HTTP: its user is read again (a
user deleted or moved out of the portal closes the socket with 4403), it gets fresh loaders and
a request id, and its parameters and errors are checked and coded as over HTTP. A subscription
that passes its checks joins its group in the hub (gateway/hub.py), which executes each event
once per group and writes the frames; between operations, the hub checks every open socket's
user periodically, so revoked access also ends subscriptions nobody touches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.utils.aio import aclosing

from gateway.auth import AuthenticationFailed, authenticate, load_viewer
from gateway.broker import Broker
from gateway.context import Context
from gateway.errors import present_errors
from gateway.hub import CLOSE_FORBIDDEN, CLOSE_POLICY, Hub, Member, Socket
from gateway.request_ids import accepted_request_id
from gateway.settings import Settings

log = logging.getLogger("gateway.live")


class GatewayTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with our authentication, socket cap, token expiry, and each
    operation run as a request of its own."""

    view: LiveView
    _socket: Socket | None = None
    _expiry: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The subscriptions of this socket in the hub's groups, by operation id.
        self._members: dict[str, Member] = {}

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
        )
        problem = _parameter_problem(operation)
        if problem is not None:
            error = GraphQLError(problem, extensions={"code": "BAD_REQUEST"})
            presented = present_errors([error], context.request_id, self.view.settings.debug)
            await operation.send_initial_errors(presented)
            return
        # A subscription runs here only to be checked: without an event its field yields
        # nothing, so its stream ends at once, or gives the errors that refuse it.
        result_source = await self.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.operation_name,
        )
        async with aclosing(result_source):
            results = [result async for result in result_source]
        if not results and _is_subscription(operation.query, operation.operation_name):
            member = self.view.hub.join(
                socket,
                operation.id,
                operation.query,
                operation.operation_name,
                operation.variables,
                viewer.user,
                viewer.portal,
            )
            if member is not None and operation.id in self.operations:
                self._members[operation.id] = member
            elif member is not None:  # completed by the client while it was checked
                self.view.hub.leave(member)
            return
        await self._send_result_stream(operation, _stream(results))
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # A document that doesn't parse, or whose operation can't be chosen, is the request's
        # fault, not the protocol's: it gets an `error` message and the socket stays open.
        return None

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self._members.pop(operation_id, None)
        if member is not None:
            self.view.hub.leave(member)
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._socket is not None:
            self.view.hub.close_socket(self._socket)
        await super().shutdown()


async def _stream(results: list[Any]) -> AsyncGenerator[Any, None]:
    for result in results:
        yield result


def _is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the operation a text names is a subscription (it passed its checks, so it
    parses and names one)."""
    operation = get_operation_ast(parse(query), operation_name)
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


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
        )
