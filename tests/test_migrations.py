"""`gateway migrate` on an empty database yields exactly the models' schema."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tortoise.connection import get_connection
from tortoise.context import get_current_context
from tortoise.migrations.autodetector import MigrationAutodetector

from gateway import db
from gateway.models import __models__


async def columns_and_indexes(table: str) -> tuple[set[str], set[tuple[str, ...]]]:
    """The table's columns, and the column lists of its indexes, read from the database."""
    conn = get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        columns = {
            r["name"] for r in await conn.execute_query_dict(f'PRAGMA table_info("{table}")')
        }
        indexes = set()
        for index in await conn.execute_query_dict(f'PRAGMA index_list("{table}")'):
            info = await conn.execute_query_dict(f'PRAGMA index_info("{index["name"]}")')
            indexes.add(tuple(r["name"] for r in sorted(info, key=lambda r: r["seqno"])))
        return columns, indexes
    columns = {
        r["column_name"]
        for r in await conn.execute_query_dict(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table]
        )
    }
    rows = await conn.execute_query_dict(
        """SELECT i.indexrelid, a.attname, k.ord
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           WHERE t.relname = $1""",
        [table],
    )
    by_index: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        by_index.setdefault(r["indexrelid"], []).append((r["ord"], r["attname"]))
    return columns, {tuple(name for _, name in sorted(cols)) for cols in by_index.values()}


async def test_migrated_database_has_every_model_table_column_and_index(app):
    # Given the session database, created empty and migrated by `gateway.db.migrate`
    for model in __models__:
        meta = model._meta
        columns, indexes = await columns_and_indexes(meta.db_table)
        # Then every field is a column
        expected = {meta.fields_db_projection[name] for name in meta.db_fields}
        assert columns == expected, meta.db_table
        # and every declared index and unique constraint exists with its columns in order
        for index in meta.indexes:
            assert tuple(index) in indexes, (meta.db_table, index)
        for unique in meta.unique_together:
            cols = tuple(meta.fields_map[f].source_field or f for f in unique)
            assert cols in indexes, (meta.db_table, unique)


async def test_migrations_are_up_to_date_with_the_models(app):
    # The migration files describe the current models: makemigrations would write nothing
    config = db.tortoise_config("sqlite://:memory:")["apps"]
    detector = MigrationAutodetector(get_current_context().apps, config)
    assert await detector.changes() == []


MIGRATE_TO = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from gateway.db import tortoise_config

async def main(url, target):
    try:
        await migrate(config=tortoise_config(url), target=target or None)
    finally:
        await Tortoise.close_connections()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def migrate_to(url: str, target: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-c", MIGRATE_TO, url, target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_holders_of_app_marketplace_access_get_the_three_app_permissions(tmp_path) -> None:
    # given a database from before the permissions, with a manager, a member and a super admin
    path = tmp_path / "before.sqlite3"
    migrate_to(f"sqlite://{path}", "models.0003_digest_leases")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO portal (name, tier, timezone, created_at) VALUES ('P', 'FREE', 'UTC', '2026-01-01')"
        )
        for name, admin, manager in (("Manager", 0, 1), ("Member", 0, 0), ("Admin", 1, 0)):
            conn.execute(
                "INSERT INTO app_user (portal_id, name, sort_name, email, is_super_admin, "
                "can_manage_apps, created_at) VALUES (1, ?, ?, ?, ?, ?, '2026-01-01')",
                (name, name.lower(), f"{name}@p.test", admin, manager),
            )
    # when it is migrated
    migrate_to(f"sqlite://{path}")
    # then the manager holds the three app permissions, and nobody was given notifications
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, install_apps, approve_scopes, uninstall_apps, manage_notifications "
            "FROM app_user ORDER BY name"
        ).fetchall()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(app_user)")]
    assert rows == [("Admin", 0, 0, 0, 0), ("Manager", 1, 1, 1, 0), ("Member", 0, 0, 0, 0)]
    assert "can_manage_apps" not in columns
