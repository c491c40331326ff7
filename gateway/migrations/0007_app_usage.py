"""App usage (DESIGN §6 "Usage"): calls and errors per app and UTC day. No enum column gains a
value (`app.usage` events are not stored by type), so no EnumValuesAdded is needed."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_install_requests")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AppUsageDay",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "app",
                    fields.ForeignKeyField(
                        "models.ConnectedApp",
                        source_field="app_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="usage_days",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("day", fields.DateField()),
                ("calls", fields.IntField()),
                ("errors", fields.IntField()),
                (
                    "last_call_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("used_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("reported_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "app_usage_day",
                "app": "models",
                "unique_together": (("app", "day"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
