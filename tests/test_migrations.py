"""`gateway migrate` on an empty database yields exactly the models' schema."""

from __future__ import annotations

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
