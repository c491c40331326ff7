from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from gateway.models.enums import (
    AlertSeverity,
    AppActivity,
    DeliveryStatus,
    InstallLevel,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
    SubscriptionTier,
)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="MarketplaceListing",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("slug", fields.CharField(unique=True, max_length=100)),
                ("name", fields.CharField(max_length=200)),
                ("sort_name", fields.CharField(db_index=True, max_length=200)),
                ("vendor", fields.CharField(max_length=200)),
                ("category", fields.CharField(max_length=100)),
                ("description", fields.TextField(unique=False)),
                (
                    "install_level",
                    fields.CharEnumField(
                        description="PORTAL: PORTAL\nUSER: USER\nMULTI_ACCOUNT: MULTI_ACCOUNT",
                        enum_type=InstallLevel,
                        max_length=16,
                    ),
                ),
                ("manage_connections_url", fields.CharField(null=True, max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "marketplace_listing", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LearningResource",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "listing",
                    fields.ForeignKeyField(
                        "models.MarketplaceListing",
                        source_field="listing_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="learning_resources",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("title", fields.CharField(max_length=300)),
                ("url", fields.CharField(max_length=500)),
                ("duration_seconds", fields.IntField(null=True)),
                ("topic", fields.CharField(max_length=100)),
                ("position", fields.IntField(default=0)),
            ],
            options={"table": "learning_resource", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ListingScope",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "listing",
                    fields.ForeignKeyField(
                        "models.MarketplaceListing",
                        source_field="listing_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="scopes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("description", fields.CharField(max_length=500)),
                (
                    "required_tier",
                    fields.CharEnumField(
                        description="FREE: FREE\nSTARTER: STARTER\nPROFESSIONAL: PROFESSIONAL\nENTERPRISE: ENTERPRISE",
                        enum_type=SubscriptionTier,
                        max_length=16,
                    ),
                ),
                ("required", fields.BooleanField(default=False)),
                ("position", fields.IntField(default=0)),
            ],
            options={
                "table": "listing_scope",
                "app": "models",
                "unique_together": (("listing", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Portal",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                (
                    "tier",
                    fields.CharEnumField(
                        description="FREE: FREE\nSTARTER: STARTER\nPROFESSIONAL: PROFESSIONAL\nENTERPRISE: ENTERPRISE",
                        enum_type=SubscriptionTier,
                        max_length=16,
                    ),
                ),
                ("timezone", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "portal", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ProcessedEvent",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200),
                ),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "processed_event",
                "app": "models",
                "indexes": [Index(fields=["received_at"])],
                "pk_attr": "id",
                "table_description": "An ingested platform event's id: a retry of an applied event changes nothing.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Team",
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
                        related_name="teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("sort_name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "team",
                "app": "models",
                "unique_together": (("portal", "name"),),
                "indexes": [Index(fields=["portal_id", "sort_name", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
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
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("sort_name", fields.CharField(max_length=200)),
                ("email", fields.CharField(max_length=254)),
                ("is_super_admin", fields.BooleanField(default=False)),
                ("can_manage_apps", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "app_user",
                "app": "models",
                "unique_together": (("portal", "email"),),
                "indexes": [Index(fields=["portal_id", "sort_name", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ConnectedApp",
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
                        related_name="apps",
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
                        related_name="installs",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("sort_name", fields.CharField(max_length=200)),
                (
                    "install_level",
                    fields.CharEnumField(
                        description="PORTAL: PORTAL\nUSER: USER\nMULTI_ACCOUNT: MULTI_ACCOUNT",
                        enum_type=InstallLevel,
                        max_length=16,
                    ),
                ),
                ("installed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "installed_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="installed_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="installed_apps",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "uninstalled_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("disconnected", fields.BooleanField(default=False)),
                (
                    "mark_changed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "connected_app",
                "app": "models",
                "unique_together": (("portal", "listing"),),
                "indexes": [Index(fields=["portal_id", "sort_name", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AppAlert",
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
                        related_name="alerts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "severity",
                    fields.CharEnumField(
                        description="INFO: INFO\nWARNING: WARNING\nERROR: ERROR",
                        enum_type=AlertSeverity,
                        max_length=16,
                    ),
                ),
                ("code", fields.CharField(max_length=100)),
                ("message", fields.CharField(max_length=1000)),
                ("raised_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "resolved_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("changed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "app_alert",
                "app": "models",
                "indexes": [
                    Index(fields=["app_id", "resolved_at"]),
                    Index(fields=["app_id", "code"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AppConnection",
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
                        related_name="connections",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="connections",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("account_name", fields.CharField(null=True, max_length=200)),
                ("connected_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("key", fields.CharField(max_length=220)),
            ],
            options={
                "table": "app_connection",
                "app": "models",
                "unique_together": (("app", "key"),),
                "indexes": [Index(fields=["app_id", "connected_at", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AppLogEntry",
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
                        related_name="log_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "app",
                    fields.ForeignKeyField(
                        "models.ConnectedApp",
                        source_field="app_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="log_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="log_entries",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "activity",
                    fields.CharEnumField(
                        description="INSTALLED: INSTALLED\nUNINSTALLED: UNINSTALLED\nREINSTALLED: REINSTALLED\nDISCONNECTED: DISCONNECTED\nRECONNECTED: RECONNECTED\nREAUTHORIZED: REAUTHORIZED",
                        enum_type=AppActivity,
                        max_length=16,
                    ),
                ),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("recorded_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "app_log_entry",
                "app": "models",
                "indexes": [
                    Index(fields=["portal_id", "occurred_at", "id"]),
                    Index(fields=["app_id", "occurred_at"]),
                    Index(fields=["user_id", "occurred_at"]),
                    Index(fields=["portal_id", "recorded_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GrantedScope",
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
                        related_name="grants",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("granted_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "granted_scope",
                "app": "models",
                "unique_together": (("app", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NotificationRule",
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
                        related_name="notification_rules",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=120)),
                ("sort_name", fields.CharField(max_length=120)),
                (
                    "type",
                    fields.CharEnumField(
                        description="APP_INSTALL: APP_INSTALL\nAPP_DISCONNECT: APP_DISCONNECT\nAPP_UNINSTALL: APP_UNINSTALL",
                        enum_type=NotificationType,
                        max_length=16,
                    ),
                ),
                (
                    "frequency",
                    fields.CharEnumField(
                        description="HOURLY: HOURLY\nDAILY: DAILY\nWEEKLY: WEEKLY\nMONTHLY: MONTHLY",
                        enum_type=NotificationFrequency,
                        max_length=16,
                    ),
                ),
                ("all_apps", fields.BooleanField(default=True)),
                (
                    "audience",
                    fields.CharEnumField(
                        description="SUPER_ADMINS: SUPER_ADMINS\nEVERYONE: EVERYONE\nSPECIFIC: SPECIFIC",
                        enum_type=NotificationAudience,
                        max_length=16,
                    ),
                ),
                ("email", fields.BooleanField(default=False)),
                ("in_app", fields.BooleanField(default=False)),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="created_rules",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("cut_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notification_rule",
                "app": "models",
                "unique_together": (("portal", "sort_name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
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
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "recipient",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="recipient_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.NotificationRule",
                        source_field="rule_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "type",
                    fields.CharEnumField(
                        description="APP_INSTALL: APP_INSTALL\nAPP_DISCONNECT: APP_DISCONNECT\nAPP_UNINSTALL: APP_UNINSTALL",
                        enum_type=NotificationType,
                        max_length=16,
                    ),
                ),
                ("period_start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("period_end", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("entry_count", fields.IntField()),
                ("in_app", fields.BooleanField(default=True)),
                ("read_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notification",
                "app": "models",
                "indexes": [Index(fields=["recipient_id", "in_app", "created_at", "id"])],
                "pk_attr": "id",
                "table_description": "One digest for one recipient.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Delivery",
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
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "notification",
                    fields.ForeignKeyField(
                        "models.Notification",
                        source_field="notification_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "recipient",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="recipient_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.CharEnumField(
                        description="EMAIL: EMAIL\nIN_APP: IN_APP",
                        enum_type=NotificationChannel,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        description="PENDING: PENDING\nSENT: SENT\nRETRYING: RETRYING\nFAILED: FAILED",
                        enum_type=DeliveryStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "delivery",
                "app": "models",
                "unique_together": (("notification", "channel"),),
                "indexes": [Index(fields=["portal_id", "status", "created_at", "id"])],
                "pk_attr": "id",
                "table_description": "One notification sent on one channel (email outbox state lives here).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NotificationEntry",
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
                        related_name="notification_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "entry",
                    fields.ForeignKeyField(
                        "models.AppLogEntry",
                        source_field="entry_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notification_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "notification_entry",
                "app": "models",
                "unique_together": (("notification", "entry"),),
                "pk_attr": "id",
                "table_description": "The log entries a digest shows (its newest 100).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleApp",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.NotificationRule",
                        source_field="rule_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_apps",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "app",
                    fields.ForeignKeyField(
                        "models.ConnectedApp",
                        source_field="app_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_apps",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "notification_rule_app",
                "app": "models",
                "unique_together": (("rule", "app"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleTeam",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.NotificationRule",
                        source_field="rule_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "models.Team",
                        source_field="team_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_teams",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "notification_rule_team",
                "app": "models",
                "unique_together": (("rule", "team"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RuleUser",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "rule",
                    fields.ForeignKeyField(
                        "models.NotificationRule",
                        source_field="rule_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rule_users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "notification_rule_user",
                "app": "models",
                "unique_together": (("rule", "user"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamMembership",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "models.Team",
                        source_field="team_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "team_membership",
                "app": "models",
                "unique_together": (("team", "user"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
