"""Database wiring: the Tortoise config built from settings, migrations, and open/close."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionalDBClient, TransactionContextPooled
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection, get_connections
from tortoise.migrations.api import migrate as migrate_api

MODELS_MODULE = "gateway.models"
MIGRATIONS_MODULE = "gateway.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> str | dict[str, Any]:
    """The connection's config. On PostgreSQL, a connection going back to the pool skips
    asyncpg's reset statement (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`),
    a round trip after every request: nothing here leaves session state behind (no session
    advisory locks, LISTEN, SET or cursors outside a transaction), and asyncpg still rolls back
    a transaction left open before a connection is reused."""
    config = expand_db_url(database_url)
    if config["engine"] != "tortoise.backends.asyncpg":
        return database_url
    config["credentials"]["reset"] = _keep_session
    return config


async def _keep_session(_connection: Any) -> None:
    """The pool's reset: nothing beyond asyncpg's own (see `_connection`)."""


# For `tortoise makemigrations` (a developer tool: `make migrations`); it needs no database.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


async def migrate(database_url: str) -> None:
    """Apply every pending migration, then release the connections."""
    try:
        await migrate_api(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def open_db(database_url: str) -> None:
    # The global fallback lets request tasks (not children of the lifespan task) see the ORM.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def ping(timeout: float = 2.0) -> bool:
    """Whether the database answers a trivial query within `timeout` seconds."""
    import asyncio

    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), timeout)
    except Exception:
        return False
    return True


def one_connection() -> AbstractAsyncContextManager[Any]:
    """All statements of a block on one connection (a query's: the pool would otherwise hand
    out a connection per statement).

    On PostgreSQL a pooled connection is held for the block without BEGIN and COMMIT, two
    round trips a request would otherwise pay: each statement then sees what was committed
    before it, exactly as under a READ COMMITTED transaction, and a transaction opened inside
    the block is a real one. On SQLite, whose one connection every statement shares anyway, the
    block is a transaction: one snapshot for all its reads. Inside a `request_connection`, the
    request's connection is the one. No database configured (a schema run on its own): nothing
    to hold."""
    client = _current()
    if client is None or isinstance(client, _RequestClient):
        return nullcontext()
    if _pooled(client):
        return _Held(TransactionWrapper(client), client._pool_init_lock)
    return client._in_transaction()


def request_connection() -> AbstractAsyncContextManager[Any]:
    """One pooled connection for an HTTP request's statements, from its viewer's on, held as
    `one_connection` holds one (PostgreSQL; elsewhere nothing is held): the execution of a
    query goes on with it, instead of giving the viewer's connection back and taking another.

    Anything else is run after `hand_back`: a mutation's transactions take their own
    connections, and anything it starts outlives the request."""
    client = _current()
    if client is not None and _pooled(client):
        return _Held(_RequestClient(client), client._pool_init_lock)
    return nullcontext()


async def hand_back() -> None:
    """The `request_connection`'s connection back to the pool now, if one is held: what runs
    next takes connections from the pool as it needs them."""
    client = _current()
    if isinstance(client, _RequestClient):
        get_connections().set(client.connection_name, client._parent)
        await client.held.release()


def _current() -> Any:
    """The ORM's client in this context, or None when Tortoise is not set up."""
    try:
        return get_connection("default")
    except RuntimeError:
        return None


def _pooled(client: Any) -> bool:
    """Whether `client` is PostgreSQL's pool (not a connection already held)."""
    return isinstance(client, AsyncpgDBClient) and not isinstance(client, TransactionalDBClient)


class _RequestClient(TransactionWrapper):
    """The client of a `request_connection`, so that `one_connection` and `hand_back` know it."""

    held: _Held  # set when the connection is taken


class _Held(TransactionContextPooled):
    """Tortoise's pooled transaction context (it makes the ORM's statements in the block use
    the held connection) without the transaction. Tortoise is pinned: its private parts are
    the ones `TransactionContextPooled` itself uses."""

    __slots__ = ("released",)

    async def __aenter__(self) -> Any:
        await self.ensure_connection()
        self.client._connection = await self.client._parent._pool.acquire()
        self.released = False
        if isinstance(self.client, _RequestClient):
            self.client.held = self
        self.token = get_connections().set(self.connection_name, self.client)
        return self.client

    async def release(self) -> None:
        """The connection back to the pool, once (`hand_back` may have done it already)."""
        if not self.released:
            self.released = True
            await self.client._parent._pool.release(self.client._connection)

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await self.release()
        finally:
            get_connections().reset(self.token)
