"""Errors in the log, alerts acknowledged (DESIGN §6 "Errors in the log, alerts acknowledged,
told once"): the reason an ERROR_RAISED/ERROR_RESOLVED entry announces, who acknowledged an
alert, and the new activities and notification type (values of existing VARCHAR columns)."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from gateway.migrations._operations import EnumValuesAdded, described
from gateway.models.enums import AlertSeverity, AppActivity, NotificationType

_NOTIFICATION_TYPES = described("APP_INSTALL", "APP_DISCONNECT", "APP_UNINSTALL", "APP_ERROR")


class Migration(migrations.Migration):
    dependencies = [("models", "0004_permissions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="LoggedAlert",
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
                        related_name="logged_alert",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "alert",
                    fields.ForeignKeyField(
                        "models.AppAlert",
                        source_field="alert_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="log_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "severity",
                    fields.CharEnumField(
                        description=described("INFO", "WARNING", "ERROR"),
                        enum_type=AlertSeverity,
                        max_length=16,
                    ),
                ),
                ("code", fields.CharField(max_length=100)),
                ("message", fields.CharField(max_length=1000)),
            ],
            options={
                "table": "app_log_alert",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "The alert an ERROR_RAISED or ERROR_RESOLVED entry announces, with its reason"
                    " as it was"
                ),
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="AppAlert",
            name="acknowledge_note",
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddField(
            model_name="AppAlert",
            name="acknowledged_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="AppAlert",
            name="acknowledged_by",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="acknowledged_by_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="acknowledged_alerts",
                on_delete=OnDelete.SET_NULL,
            ),
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
                ),
                enum_type=AppActivity,
                max_length=16,
            ),
        ),
        EnumValuesAdded(
            model_name="Notification",
            name="type",
            field=fields.CharEnumField(
                description=_NOTIFICATION_TYPES,
                enum_type=NotificationType,
                max_length=16,
            ),
        ),
        EnumValuesAdded(
            model_name="NotificationRule",
            name="type",
            field=fields.CharEnumField(
                description=_NOTIFICATION_TYPES,
                enum_type=NotificationType,
                max_length=16,
            ),
        ),
    ]
