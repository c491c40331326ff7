"""WEBHOOK and SLACK channels and "send test" (DESIGN §6 "More channels and 'send test'").

Rules gain their URLs, the encrypted signing secret and the time of their last test send.
Deliveries gain their rule (filled in for existing ones from their notification), and for the
new channels, which deliver one message per digest and not per person, the cut, the period,
the URL's host and the entries; their notification and recipient become nullable (see
`DropNotNull`: SQLite keeps the table's indexes). (rule, cut, channel) is unique, so a digest
goes out once per channel whatever workers race. WEBHOOK and SLACK are new values of the
existing VARCHAR column (`EnumValuesAdded`).
"""

from typing import Any

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

from gateway.migrations._operations import DropNotNull, EnumValuesAdded, described
from gateway.models.enums import NotificationChannel


async def fill_delivery_rules(_apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(
        'UPDATE "delivery" SET "rule_id" = (SELECT "rule_id" FROM "notification" '
        'WHERE "notification"."id" = "delivery"."notification_id") '
        'WHERE "notification_id" IS NOT NULL'
    )


async def drop_channel_deliveries(_apps: Any, schema_editor: Any) -> None:
    # Going back: the old schema has no room for deliveries without a notification.
    await schema_editor.client.execute_script(
        'DELETE FROM "delivery" WHERE "notification_id" IS NULL OR "recipient_id" IS NULL'
    )


def _nullable_datetime() -> fields.DatetimeField:
    return fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)


class Migration(migrations.Migration):
    dependencies = [("models", "0008_scope_changes")]

    initial = False

    operations = [
        EnumValuesAdded(
            model_name="Delivery",
            name="channel",
            field=fields.CharEnumField(
                description=described("EMAIL", "IN_APP", "WEBHOOK", "SLACK"),
                enum_type=NotificationChannel,
                max_length=16,
            ),
        ),
        ops.RunPython(ops.RunPython.noop, drop_channel_deliveries),
        DropNotNull(
            model_name="Delivery",
            name="notification",
            field=fields.ForeignKeyField(
                "models.Notification",
                source_field="notification_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="deliveries",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        DropNotNull(
            model_name="Delivery",
            name="recipient",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="recipient_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="deliveries",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(model_name="Delivery", name="cut_at", field=_nullable_datetime()),
        ops.AddField(model_name="Delivery", name="entry_count", field=fields.IntField(null=True)),
        ops.AddField(
            model_name="Delivery",
            name="entry_ids",
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name="Delivery",
            name="is_test",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(model_name="Delivery", name="period_end", field=_nullable_datetime()),
        ops.AddField(model_name="Delivery", name="period_start", field=_nullable_datetime()),
        ops.AddField(
            model_name="Delivery",
            name="rule",
            field=fields.ForeignKeyField(
                "models.NotificationRule",
                source_field="rule_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="deliveries",
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddField(
            model_name="Delivery", name="target", field=fields.CharField(null=True, max_length=255)
        ),
        ops.RunPython(fill_delivery_rules, ops.RunPython.noop),
        ops.AddConstraint(
            model_name="Delivery",
            constraint=UniqueConstraint(fields=("rule", "cut_at", "channel"), name=None),
        ),
        ops.AddField(
            model_name="Notification",
            name="is_test",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="NotificationRule",
            name="slack_webhook_url",
            field=fields.CharField(null=True, max_length=2048),
        ),
        ops.AddField(
            model_name="NotificationRule", name="test_sent_at", field=_nullable_datetime()
        ),
        ops.AddField(
            model_name="NotificationRule",
            name="webhook_secret",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name="NotificationRule",
            name="webhook_url",
            field=fields.CharField(null=True, max_length=2048),
        ),
    ]
