"""Live updates: this process's sockets and subscriptions, and the fan-out of events to them.

Subscribers whose subscription has the same document, operation, variables and portal, and
who agree on the viewer facts its fields declare (gateway/executor/batch.py), form a group;
`notificationReceived` declares the viewer's id, so its groups are per user. The hub takes the
broker's envelopes one at a time, in the order they arrive. For each group of the envelope's
portal it asks the subscription's field what the event means to it (gateway/resolvers/
subscriptions.py), executes each value once, with a request id of its own and fresh loaders,
serializes the payload once, and hands every member the same text framed with its own
operation id. An idle subscription is a small record in its group: no task, queue, generator
or context of its own.

Each socket writes its frames in order, at once while its peer keeps up. One that reads too
slowly falls behind into its outbox; past `ws_queue_size` frames or `ws_outbox_bytes`
characters it is closed with 1013 on its own, without delaying anyone else. Close codes are
DESIGN §3's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import defaultdict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from graphql import DocumentNode, ExecutionResult, parse
from strawberry.utils.await_maybe import await_maybe

from gateway.auth import users_by_id
from gateway.broker import Broker
from gateway.context import Context
from gateway.errors import as_graphql_error, present_errors
from gateway.executor import eager, event_roots, subscription_shape
from gateway.loaders import Loaders
from gateway.metrics import Metrics
from gateway.models import Portal, User
from gateway.request_ids import accepted_request_id
from gateway.services.envelopes import Envelope
from gateway.services.faults import pause_point
from gateway.settings import Settings

log = logging.getLogger("gateway.live")

CLOSE_POLICY = 1008  # too many sockets for this user
CLOSE_TRY_AGAIN = 1013  # fell behind, or the broker is lost: reconnect and refetch
CLOSE_FORBIDDEN = 4403

# When the broker is lost, every subscribed socket must reconnect: closed over up to this many
# seconds (one more second per 2,000 sockets), so they don't all come back at once.
MOST_SECONDS_TO_CLOSE = 5.0
SOCKETS_CLOSED_PER_SECOND = 2000
# Subscription texts (with their operation and variables) whose shape is kept.
MAX_SHAPES = 1000

_closing: set[asyncio.Task[None]] = set()


class Peer(Protocol):
    """The other end of a socket, as the transport (gateway/live.py) gives it."""

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...


@dataclass(eq=False, slots=True)
class Socket:
    """One authenticated WebSocket: who it is, its subscriptions, what it has yet to write."""

    websocket: Peer
    user_id: int
    portal_id: int
    # How far its peer may fall behind: frames, and characters, waiting in its outbox.
    max_frames: int = 100
    max_chars: int = 1 << 20
    members: set[Member] = field(default_factory=set)
    closed: bool = False
    # Frames waiting while an earlier one is being written; made only once one waits (an
    # empty deque is some 600 bytes, and most sockets never need one).
    outbox: deque[str] | None = None
    outbox_chars: int = 0
    writer: asyncio.Task[None] | None = None

    def push(self, frame: str) -> None:
        """Send `frame` after those before it: at once if nothing waits, else from the outbox."""
        if self.closed:
            return
        if self.writer is None:
            self.writer = eager.start(self._write(frame))
            return
        if self.outbox is None:
            self.outbox = deque()
        self.outbox.append(frame)
        self.outbox_chars += len(frame)
        if len(self.outbox) > self.max_frames or self.outbox_chars > self.max_chars:
            # A slow reader is dropped rather than stalling others or growing memory.
            self.close(CLOSE_TRY_AGAIN, "Too far behind; reconnect and refetch")

    async def _write(self, frame: str) -> None:
        try:
            while not self.closed:
                await pause_point("live:before-push")
                await self.websocket.send_text(frame)
                if not self.outbox:
                    break
                frame = self.outbox.popleft()
                self.outbox_chars -= len(frame)
        except Exception:
            self._drop_outbox()  # the peer is gone: its receive loop ends the socket
        finally:
            self.writer = None
            if not self.outbox:
                self.outbox = None

    def _drop_outbox(self) -> None:
        self.outbox = None
        self.outbox_chars = 0

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_outbox()
        # Called from synchronous fan-out; the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(self._close(code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self.websocket.close(code=code, reason=reason)


class Member:
    """One subscription: its socket, its operation id and the start of its frames."""

    __slots__ = ("group", "operation_id", "prefix", "socket")

    group: Group  # set when it joins one

    def __init__(self, socket: Socket, operation_id: str) -> None:
        self.socket = socket
        self.operation_id = operation_id
        self.prefix = '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'


@dataclass(frozen=True)
class Shape:
    """A subscription's operation: its text, operation name and variables (`key`, in which
    equal variables are equal bytes), its parsed document and the viewer facts its fields
    declare, sorted. Worked out once for all who send the same."""

    key: Hashable
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None
    facts: tuple[str, ...]
    field: str  # the subscription's root field, a bounded metric label


@dataclass(eq=False)
class Group:
    """Subscribers who get the same answer to every event: one execution serves them all."""

    key: Hashable
    shape: Shape
    portal_id: int
    # One member's viewer: every member agrees with it on the facts the fields read.
    viewer: User
    portal: Portal
    # A dict as an ordered set: members get each event in the order they joined.
    members: dict[Member, None] = field(default_factory=dict)


class Hub:
    """This process's sockets and subscription groups, fed by the broker."""

    def __init__(self, broker: Broker, settings: Settings, schema: Any, metrics: Metrics) -> None:
        self.broker = broker
        self.settings = settings
        self.schema = schema
        self.metrics = metrics
        self._sockets_by_user: dict[int, set[Socket]] = defaultdict(set)
        self._groups: dict[Hashable, Group] = {}
        self._groups_by_portal: dict[int, dict[Group, None]] = defaultdict(dict)
        self._shapes: dict[Hashable, Shape] = {}
        self._events: asyncio.Queue[Envelope] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Executions of an event for a group, since start (one serves all its members).
        self.executions = 0
        broker.listen(self.deliver)
        broker.on_lost(self.lost)

    # Sockets
    def open_socket(self, websocket: Peer, user_id: int, portal_id: int) -> Socket | None:
        """A new socket, or None when the user already has as many as allowed."""
        sockets = self._sockets_by_user[user_id]
        if len(sockets) >= self.settings.ws_max_sockets_per_user:
            if not sockets:
                del self._sockets_by_user[user_id]
            return None
        socket = Socket(
            websocket,
            user_id,
            portal_id,
            max_frames=self.settings.ws_queue_size,
            max_chars=self.settings.ws_outbox_bytes,
        )
        sockets.add(socket)
        if not self._tasks:
            # Run while this process has sockets, whether or not the app's lifespan runs.
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._watch_access()), loop.create_task(self._pump())]
        return socket

    def close_socket(self, socket: Socket) -> None:
        socket.closed = True
        self._sockets_by_user[socket.user_id].discard(socket)
        if not self._sockets_by_user[socket.user_id]:
            del self._sockets_by_user[socket.user_id]
        for member in list(socket.members):
            self.leave(member)
        if not self._sockets_by_user:
            for task in self._tasks:
                task.cancel()
            self._tasks = []
            self._events = asyncio.Queue()  # nobody is left to receive what waits

    async def _watch_access(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ws_access_check_interval)
            try:
                await self.check_access()
            except Exception:
                # The database may be briefly unreachable: the next round tries again.
                log.warning("could not check the users of open sockets", exc_info=True)

    async def check_access(self) -> None:
        """Read every open socket's user again, in one statement: close with 4403 the sockets
        whose user was deleted or left the portal since they connected, and move the
        subscriptions of users whose facts changed (a permission, say) to their new group."""
        if not self._sockets_by_user:
            return
        users = await users_by_id(list(self._sockets_by_user))
        for user_id, sockets in list(self._sockets_by_user.items()):
            user = users.get(user_id)
            for socket in list(sockets):
                if user is None or user.portal_id != socket.portal_id:
                    log.info(
                        "socket closed: user %s is no longer in portal %s",
                        user_id,
                        socket.portal_id,
                    )
                    socket.close(CLOSE_FORBIDDEN, "Forbidden")
        for group in list(self._groups.values()):
            for member in list(group.members):
                user = users.get(member.socket.user_id)
                if user is not None and not member.socket.closed:
                    facts = group.shape.facts
                    if _fact_values(facts, user) != _fact_values(facts, group.viewer):
                        self.leave(member)
                        self._add(member, group.shape, user, group.portal)

    # Subscriptions
    @property
    def open_subscriptions(self) -> int:
        return sum(len(g.members) for g in self._groups.values())

    def subscription_count(self, portal_id: int) -> int:
        """Open subscriptions of one portal in this process: once a subscription counts here,
        events published for its portal reach it."""
        return sum(len(g.members) for g in self._groups_by_portal.get(portal_id, ()))

    def join(
        self,
        socket: Socket,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        viewer: User,
        portal: Portal,
    ) -> Member | None:
        """A subscription whose checks passed joins its group (made if it is the first); None
        when live updates are unavailable (the socket is then closed with 1013)."""
        if not self.broker.healthy:
            socket.close(CLOSE_TRY_AGAIN, "Live updates are unavailable; try again later")
            return None
        key = (query, operation_name, _canonical(variables))
        shape = self._shapes.get(key)
        if shape is None:
            document = parse(query)  # it passed the checks, parsing included
            facts, field = subscription_shape(
                self.schema._schema, document, variables, operation_name
            )
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            shape = Shape(key, document, operation_name, variables, tuple(sorted(facts)), field)
            self._shapes[key] = shape
        return self._add(Member(socket, operation_id), shape, viewer, portal)

    def _add(self, member: Member, shape: Shape, viewer: User, portal: Portal) -> Member:
        key = (shape.key, portal.id, _fact_values(shape.facts, viewer))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, shape, portal.id, viewer, portal)
            self._groups_by_portal[portal.id][group] = None
        member.group = group
        group.members[member] = None
        member.socket.members.add(member)
        self.metrics.subscriptions.labels(shape.field).inc()
        return member

    def leave(self, member: Member) -> None:
        """The subscription ends (`complete`, or its socket closed): it gets nothing more, even
        of an event being executed now. Its group goes with its last member."""
        group = member.group
        member.socket.members.discard(member)
        if member not in group.members:
            return
        del group.members[member]
        self.metrics.subscriptions.labels(group.shape.field).dec()
        if not group.members:
            del self._groups[group.key]
            portal_groups = self._groups_by_portal[group.portal_id]
            del portal_groups[group]
            if not portal_groups:
                del self._groups_by_portal[group.portal_id]

    # Events
    def deliver(self, envelope: Envelope) -> None:
        """The broker's envelopes, in the order it delivers them: executed in that order."""
        if envelope.portal_id in self._groups_by_portal:
            self._events.put_nowait(envelope)

    async def _pump(self) -> None:
        while True:
            envelope = await self._events.get()
            for group in list(self._groups_by_portal.get(envelope.portal_id, ())):
                if group.members:  # it may have emptied while an earlier group ran
                    try:
                        await self._execute(group, envelope)
                    except Exception:
                        log.exception("live update for portal %s failed", envelope.portal_id)

    async def _execute(self, group: Group, envelope: Envelope) -> None:
        """One event for one group: each value its field yields executed once, its payload
        serialized once, and framed for each member still in the group."""
        request_id = accepted_request_id(None)
        context = Context(
            settings=self.settings,
            viewer=group.viewer,
            portal=group.portal,
            request_id=request_id,
            publisher=self.broker,
            # Fresh for each event and group: nothing read for an earlier event or another
            # viewer's group is served from a cache.
            loaders=Loaders(),
            envelope=envelope,
        )
        shape = group.shape
        document, variables, name = shape.document, shape.variables, shape.operation_name
        results: list[ExecutionResult] = []
        try:
            roots = await event_roots(self.schema._schema, document, context, variables, name)
        except Exception as exc:
            results.append(ExecutionResult(data=None, errors=[as_graphql_error(exc)]))
            roots = []
        for root in roots:
            executed = self.schema.execute_event(document, root, context, variables, name)
            results.append(await await_maybe(executed))
        self.executions += 1
        await pause_point("live:execute")
        debug = self.settings.debug
        for result in results:
            payload = _payload(result, request_id, debug)
            members = list(group.members)  # those still there now
            for member in members:
                member.socket.push(member.prefix + payload + "}")
            self.metrics.subscription_messages.labels(shape.field).inc(len(members))
        context.loaders.clear()

    def lost(self) -> None:
        """The broker is gone: updates may be missed, so subscribed sockets must refetch. They
        get nothing more from now on, and are closed over a few seconds, with jitter."""
        sockets = {m.socket for g in self._groups.values() for m in g.members}
        for group in list(self._groups.values()):
            for member in list(group.members):
                self.leave(member)
        spread = min(MOST_SECONDS_TO_CLOSE, len(sockets) / SOCKETS_CLOSED_PER_SECOND)
        loop = asyncio.get_running_loop()
        for socket in sockets:
            loop.call_later(
                random.uniform(0, spread),  # jitter, not a secret
                socket.close,
                CLOSE_TRY_AGAIN,
                "Live updates were interrupted; reconnect",
            )


def _canonical(variables: dict[str, Any] | None) -> str:
    """Equal variables, equal text, whatever the order of their keys. (The json module, not
    orjson: a variable the operation ignores may hold an integer past 64 bits.)"""
    return json.dumps(variables or {}, sort_keys=True, separators=(",", ":"))


def _fact_values(facts: tuple[str, ...], viewer: User) -> tuple[Any, ...]:
    return tuple(getattr(viewer, fact) for fact in facts)


def _payload(result: ExecutionResult, request_id: str, debug: bool) -> str:
    """A `next` message's payload, as graphql-transport-ws sends an execution result."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        presented = present_errors(list(result.errors), request_id, debug)
        body["errors"] = [error.formatted for error in presented]
    return orjson.dumps(body).decode()
