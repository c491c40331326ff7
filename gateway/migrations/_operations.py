"""Migration operations of our own, where Tortoise's would harm an SQLite database.

To alter or drop a column of an SQLite table Tortoise rebuilds the table, and the rebuilt table
lacks the old one's indexes and unique constraints. (A module whose name starts with "_" is not
a migration to Tortoise's loader.)
"""

import re
from typing import Any

from tortoise.migrations import operations as ops


def described(*values: str) -> str:
    """An enum column's description, for the enum's values as they are at a migration (a later
    value needs a later migration)."""
    return "\n".join(f"{v}: {v}" for v in values)


def _on_sqlite(state_editor: Any) -> bool:
    return bool(state_editor.client.capabilities.dialect == "sqlite")


class DropColumn(ops.RemoveField):
    """RemoveField by `ALTER TABLE … DROP COLUMN` on either database (SQLite has dropped
    columns itself since 3.35)."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None:
            return
        model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        await state_editor.client.execute_script(
            f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{self.name}"'
        )


class EnumValuesAdded(ops.AlterField):
    """An enum column whose enum gained values. The column is a VARCHAR wide enough for them,
    so only its description changes: a comment on PostgreSQL, nothing at all in SQLite, which
    keeps no comments (and whose AlterField would rebuild the table)."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None or _on_sqlite(state_editor):
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None or _on_sqlite(state_editor):
            return
        await super().database_backward(app_label, old_state, new_state, state_editor)


class DropNotNull(ops.AlterField):
    """A column that becomes nullable, its indexes and constraints kept. PostgreSQL: `ALTER
    COLUMN … DROP NOT NULL`. SQLite cannot alter a column, and Tortoise's rebuild of the table
    loses its indexes; removing a NOT NULL constraint changes nothing stored, so the table's
    definition in the schema is edited in place, the procedure SQLite's documentation gives for
    such changes (https://sqlite.org/lang_altertable.html#otheralter)."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        await self._set(app_label, new_state, state_editor, nullable=True)

    async def database_backward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        await self._set(app_label, old_state, state_editor, nullable=False)

    async def _set(self, app_label: str, state: Any, state_editor: Any, *, nullable: bool) -> None:
        if state_editor is None:
            return
        model = state.apps.get_model(f"{app_label}.{self.model_name}")
        table = model._meta.db_table
        field = model._meta.fields_map[self.name]
        column = getattr(field, "source_field", None) or self.name
        client = state_editor.client
        if not _on_sqlite(state_editor):
            change = "DROP NOT NULL" if nullable else "SET NOT NULL"
            await client.execute_script(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" {change}')
            return
        rows = await client.execute_query_dict(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
        )
        sql = rows[0]["sql"]
        declared = re.compile(rf'("{re.escape(column)}" [A-Z]+(?:\(\d+\))?)( NOT NULL)?')
        found = declared.search(sql)
        if found is None:
            raise RuntimeError(f"column {column} not found in the definition of {table}")
        definition = found.group(1) if nullable else found.group(1) + " NOT NULL"
        sql = sql[: found.start()] + definition + sql[found.end() :]
        version = (await client.execute_query_dict("PRAGMA schema_version"))[0]["schema_version"]
        await client.execute_script("PRAGMA writable_schema = ON")
        try:
            await client.execute_query(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", [sql, table]
            )
            # Makes every connection read the edited definition again.
            await client.execute_script(f"PRAGMA schema_version = {int(version) + 1}")
        finally:
            await client.execute_script("PRAGMA writable_schema = OFF")
