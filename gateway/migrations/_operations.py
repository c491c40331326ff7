"""Migration operations of our own, where Tortoise's would harm an SQLite database.

To alter or drop a column of an SQLite table Tortoise rebuilds the table, and the rebuilt table
lacks the old one's indexes and unique constraints. (A module whose name starts with "_" is not
a migration to Tortoise's loader.)
"""

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
