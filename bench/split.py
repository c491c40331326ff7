"""Where one page's time goes, in-process and without a profiler.

A few functions every path to the database, the ORM and the response bytes goes through are
wrapped with timers while a page is requested N times through the ASGI app (no load, no
network):

- database: the time the event loop sits idle in its selector waiting for I/O. In-process the
  only I/O is PostgreSQL's answers, so this is the wait for the database, and it never overlaps
  the CPU work below. asyncpg's Connection and PreparedStatement query methods and
  Connection.reset (which the pool runs on every release) count the statements and resets
  sent; this sits below the ORM, so it also sees SQL sent through the ORM's connection without
  the ORM.
- row mapping: Tortoise's Model._init_from_db, and the gateway's row mapper (gateway/rows.py),
  which build each model object from a row.
- GraphQL: the CPU time spent inside the schema's `execute` (parse, validate, plan, execute,
  loaders and their SQL building, asyncpg's decoding), whichever executor runs, less the row
  mapping inside it. Waits for the database are not CPU time, so they are not in it.
- JSON: orjson.dumps, as the gateway and the hand-written endpoint call it.
- the rest of the CPU time: the transport, middleware and auth (its statement's decoding
  included). Nothing here depends on the gateway's executor, so it keeps working whichever
  executor runs.

Wall time covers the app call only (not the client's); CPU is the process's time over the same
calls. The database's own CPU runs in PostgreSQL's processes and is not in it. What is left of
the wall time is time the process was runnable but had no core (the machine is shared).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg.connection
import asyncpg.prepared_stmt
import orjson

_QUERY_METHODS = {
    asyncpg.connection.Connection: ("execute", "executemany", "fetch", "fetchrow", "fetchval"),
    asyncpg.prepared_stmt.PreparedStatement: ("executemany", "fetch", "fetchrow", "fetchval"),
}
# Set while a wrapped call runs in this task: a nested one (asyncpg calling itself) is the same
# round trip, not a second one.
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("bench_split_inside", default=False)


@dataclass
class Tally:
    wall: float = 0.0
    cpu: float = 0.0
    db: float = 0.0
    mapping: float = 0.0
    graphql: float = 0.0
    json: float = 0.0
    statements: int = 0
    resets: int = 0
    models: int = 0
    json_calls: int = 0
    pages: int = 0


def _db_wrapper(
    current: Callable[[], Tally], method: Callable[..., Awaitable[Any]], is_reset: bool
) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return await method(*args, **kwargs)
        token = _inside.set(True)
        tally = current()
        if is_reset:
            tally.resets += 1
        else:
            tally.statements += 1
        try:
            return await method(*args, **kwargs)
        finally:
            _inside.reset(token)

    return timed


@contextmanager
def probes(current: Callable[[], Tally]) -> Iterator[None]:
    """The timers, installed on the classes (every connection, pool or not) and on the running
    event loop's selector until exit, adding to the tally `current` gives: the page being
    answered's server's (one page at a time)."""
    from tortoise.models import Model

    originals: list[tuple[Any, str, Any]] = []
    # asyncio's selector event loop (the default) blocks in _selector.select for I/O.
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]  # no public hook for the loop's wait
    select = selector.select

    def timed_select(timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return select(timeout)
        finally:
            current().db += time.perf_counter() - started

    selector.select = timed_select

    def replace(owner: Any, name: str, new: Any) -> None:
        originals.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, new)

    for cls, names in _QUERY_METHODS.items():
        for name in names:
            replace(cls, name, _db_wrapper(current, getattr(cls, name), False))
    connection = asyncpg.connection.Connection
    replace(connection, "reset", _db_wrapper(current, connection.reset, True))

    init_from_db = Model.__dict__["_init_from_db"].__func__

    def timed_init(cls: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return init_from_db(cls, **kwargs)
        finally:
            tally = current()
            tally.mapping += time.perf_counter() - started
            tally.models += 1

    replace(Model, "_init_from_db", classmethod(timed_init))

    from gateway import rows
    from gateway.schema.schema import GatewaySchema

    make_builder = rows._builder

    def timed_builder(*args: Any) -> Any:
        build = make_builder(*args)

        def timed_build(row: Any) -> Any:
            started = time.perf_counter()
            try:
                return build(row)
            finally:
                tally = current()
                tally.mapping += time.perf_counter() - started
                tally.models += 1

        return timed_build

    # The row mapper's builders, made anew while the probes are in, are timed.
    replace(rows, "_builder", timed_builder)
    replace(rows, "_mappers", {})
    # The gateway's own `execute`: prepared texts never reach Strawberry's.
    execute = GatewaySchema.__dict__["execute"]

    async def timed_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        # One page at a time in this process, so the CPU over this span is this page's.
        started = time.process_time()
        try:
            return await execute(self, *args, **kwargs)
        finally:
            current().graphql += time.process_time() - started

    replace(GatewaySchema, "execute", timed_execute)

    dumps = orjson.dumps

    def timed_dumps(*args: Any, **kwargs: Any) -> bytes:
        started = time.perf_counter()
        try:
            return dumps(*args, **kwargs)
        finally:
            tally = current()
            tally.json += time.perf_counter() - started
            tally.json_calls += 1

    originals.append((orjson, "dumps", dumps))
    orjson.dumps = timed_dumps
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
        del selector.select  # the class's method again


def timed_app(app: Any, tally: Tally) -> Any:
    """The ASGI app, adding each call's wall and CPU time to `tally`."""

    async def call(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            await app(scope, receive, send)
        finally:
            tally.wall += time.perf_counter() - wall
            tally.cpu += time.process_time() - cpu
            tally.pages += 1

    return call


def _ms(seconds: float, pages: int) -> str:
    return f"{seconds * 1000 / max(pages, 1):.2f}"


def print_split(title: str, tallies: dict[str, Tally]) -> None:
    """One line per server: per-page averages in ms, then counts per page."""
    print(f"\n{title}: in-process time per page (ms), no load")
    print(
        f"{'server':<12} {'pages':>5} {'wall':>7} {'CPU':>7} {'db wait':>7} {'GraphQL':>8} "
        f"{'rows->models':>12} {'JSON':>6} {'rest':>6} {'no core':>7}  "
        "per page: statements, pool resets, models, JSON calls"
    )
    for name, t in tallies.items():
        n = max(t.pages, 1)
        # The row mapping happens inside GraphQL's span (the loaders): shown apart.
        graphql = max(t.graphql - t.mapping, 0.0) if t.graphql else 0.0
        rest = t.cpu - graphql - t.mapping - t.json
        waiting = t.wall - t.cpu - t.db
        print(
            f"{name:<12} {t.pages:>5} {_ms(t.wall, n):>7} {_ms(t.cpu, n):>7} {_ms(t.db, n):>7} "
            f"{_ms(graphql, n):>8} {_ms(t.mapping, n):>12} {_ms(t.json, n):>6} "
            f"{_ms(rest, n):>6} {_ms(waiting, n):>7}  "
            f"{t.statements / n:g}, {t.resets / n:g}, {t.models / n:g}, {t.json_calls / n:g}"
        )
    print(
        "  wall = CPU + db wait + no core; CPU = GraphQL + rows->models + JSON + rest. GraphQL:"
        " the schema's\n  execute (parse, validate, execute, loaders, SQL building, asyncpg"
        " decoding); rest: HTTP,\n  middleware, auth. no core: runnable but not running (other"
        " processes had the cores).\n  JSON 0 with 0 calls: the response was not written by"
        " orjson.dumps."
    )
