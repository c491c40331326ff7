"""Install requests (DESIGN §6 "Install requests"): the requests, the notes that make each
INSTALL_REQUEST notification once and the requests each lists, and the portal's policy.

`NotificationType` gains INSTALL_REQUEST: the `type` columns stay varchar(16), only their
description changes (see gateway/migrations/_operations.py).
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from gateway.migrations._operations import EnumValuesAdded
from gateway.models.enums import InstallRequestNotice, InstallRequestStatus, NotificationType


class Migration(migrations.Migration):
    dependencies = [("models", "0005_alert_reasons")]

    initial = False

    operations = [
        ops.CreateModel(
            name="InstallRequest",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "portal",
                    fields.ForeignKeyField(
                        "models.Portal",
                        source_field="portal_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="install_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "listing",
                    fields.ForeignKeyField(
                        "models.MarketplaceListing",
                        source_field="listing_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="install_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="requested_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="install_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("justification", fields.CharField(max_length=500)),
                ("scope_list", fields.TextField(null=True, unique=False)),
                ("account_name", fields.CharField(null=True, max_length=200)),
                (
                    "status",
                    fields.CharEnumField(
                        description="PENDING: PENDING\nAPPROVED: APPROVED\nDENIED: DENIED\nCANCELLED: CANCELLED\nEXPIRED: EXPIRED",
                        enum_type=InstallRequestStatus,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "decided_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="decided_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("decision_note", fields.CharField(null=True, max_length=500)),
                (
                    "app",
                    fields.ForeignKeyField(
                        "models.ConnectedApp",
                        source_field="app_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="install_requests",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("pending_key", fields.CharField(null=True, unique=True, max_length=260)),
            ],
            options={
                "table": "install_request",
                "app": "models",
                "indexes": [
                    Index(fields=["portal_id", "created_at", "id"]),
                    Index(fields=["requested_by_id", "created_at", "id"]),
                    Index(fields=["status", "expires_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InstallRequestNote",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "notification",
                    fields.OneToOneField(
                        "models.Notification",
                        source_field="notification_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="install_request_note",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="NEW: NEW\nREMINDER: REMINDER\nOUTCOME: OUTCOME",
                        enum_type=InstallRequestNotice,
                        max_length=16,
                    ),
                ),
                ("key", fields.CharField(unique=True, max_length=120)),
            ],
            options={
                "table": "install_request_note",
                "app": "models",
                "pk_attr": "id",
                "table_description": "What made an INSTALL_REQUEST notification, and the key that makes it once: the kind,",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InstallRequestNoteItem",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "notification",
                    fields.ForeignKeyField(
                        "models.Notification",
                        source_field="notification_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="install_request_items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "request",
                    fields.ForeignKeyField(
                        "models.InstallRequest",
                        source_field="request_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="note_items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "install_request_note_item",
                "app": "models",
                "unique_together": (("notification", "request"),),
                "pk_attr": "id",
                "table_description": "A request an INSTALL_REQUEST notification lists.",
            },
            bases=["Model"],
        ),
        EnumValuesAdded(
            model_name="Notification",
            name="type",
            field=fields.CharEnumField(
                description="APP_INSTALL: APP_INSTALL\nAPP_DISCONNECT: APP_DISCONNECT\nAPP_UNINSTALL: APP_UNINSTALL\nAPP_ERROR: APP_ERROR\nINSTALL_REQUEST: INSTALL_REQUEST",
                enum_type=NotificationType,
                max_length=16,
            ),
        ),
        EnumValuesAdded(
            model_name="NotificationRule",
            name="type",
            field=fields.CharEnumField(
                description="APP_INSTALL: APP_INSTALL\nAPP_DISCONNECT: APP_DISCONNECT\nAPP_UNINSTALL: APP_UNINSTALL\nAPP_ERROR: APP_ERROR\nINSTALL_REQUEST: INSTALL_REQUEST",
                enum_type=NotificationType,
                max_length=16,
            ),
        ),
        ops.AddField(
            model_name="Portal",
            name="request_duration_days",
            field=fields.IntField(default=30, db_default=30),
        ),
        ops.AddField(
            model_name="Portal",
            name="request_reminders",
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
