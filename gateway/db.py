"""Database wiring: the Tortoise config built from settings, migrations, and open/close."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate as migrate_api

MODELS_MODULE = "gateway.models"
MIGRATIONS_MODULE = "gateway.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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
