"""Scope changes (DESIGN §6 "Scope changes"): the scope names a log entry's change granted and
took away, in a table beside the entries (as their alerts' reasons are), and the activity
SCOPES_CHANGED (a value of the existing VARCHAR column: see gateway/migrations/_operations.py).
"""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops

from gateway.migrations._operations import EnumValuesAdded, described
from gateway.models.enums import AppActivity


class Migration(migrations.Migration):
    dependencies = [("models", "0007_app_usage")]

    initial = False

    operations = [
        ops.CreateModel(
            name="LoggedScopeChange",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "entry",
                    fields.OneToOneField(
                        "models.AppLogEntry",
                        source_field="entry_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="scope_change",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("added", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ("removed", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={
                "table": "app_log_scope_change",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "The scope names an entry's change granted (`added`) and took away"
                    " (`removed`), as lists"
                ),
            },
            bases=["Model"],
        ),
        EnumValuesAdded(
            model_name="AppLogEntry",
            name="activity",
            field=fields.CharEnumField(
                description=described(
                    "INSTALLED",
                    "UNINSTALLED",
                    "REINSTALLED",
                    "DISCONNECTED",
                    "RECONNECTED",
                    "REAUTHORIZED",
                    "ERROR_RAISED",
                    "ERROR_RESOLVED",
                    "SCOPES_CHANGED",
                ),
                enum_type=AppActivity,
                max_length=16,
            ),
        ),
    ]
