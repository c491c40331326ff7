"""Sort keys compare byte by byte on PostgreSQL too.

Lists are ordered by lower-cased name, then id, and must come out the same on SQLite and
PostgreSQL whatever the database's locale: SQLite compares text by bytes, so PostgreSQL's sort
columns use the "C" collation (a locale-aware one would ignore spaces and punctuation).
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

SORT_COLUMNS = [
    ("app_user", 200),
    ("team", 200),
    ("marketplace_listing", 200),
    ("connected_app", 200),
    ("notification_rule", 120),
]


async def use_c_collation(_apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for table, length in SORT_COLUMNS:
        await client.execute_script(
            f'ALTER TABLE "{table}" ALTER COLUMN "sort_name" TYPE VARCHAR({length}) COLLATE "C"'
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [ops.RunPython(use_c_collation, ops.RunPython.noop)]
