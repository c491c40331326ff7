"""Database wiring: the Tortoise config built from settings, migrations, and open/close."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
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

    from tortoise.connection import get_connection

    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), timeout)
    except Exception:
        return False
    return True
