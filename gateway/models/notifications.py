"""Notification rules, the digests they produce, and their deliveries."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gateway.models.apps import ConnectedApp
from gateway.models.enums import (
    DeliveryStatus,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
)
from gateway.models.log import AppLogEntry
from gateway.models.portal import Portal, Team, User


class NotificationRule(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="notification_rules", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    sort_name = fields.CharField(max_length=120)
    type = fields.CharEnumField(NotificationType, max_length=16)
    frequency = fields.CharEnumField(NotificationFrequency, max_length=16)
    all_apps = fields.BooleanField(default=True)
    audience = fields.CharEnumField(NotificationAudience, max_length=16)
    email = fields.BooleanField(default=False)
    in_app = fields.BooleanField(default=False)
    # WEBHOOK and SLACK: a channel is on when its URL is set (DESIGN §6 "More channels"). The
    # URLs are credentials, shown only to MANAGE_NOTIFICATIONS holders; the signing secret is
    # kept encrypted (gateway/services/secrets.py) and never shown again after it is made.
    webhook_url = fields.CharField(max_length=2048, null=True)
    slack_webhook_url = fields.CharField(max_length=2048, null=True)
    webhook_secret = fields.TextField(null=True)
    # The last sendTestNotification: at most one a minute per rule, across processes (a
    # compare-and-set UPDATE on this column, gateway/services/test_sends.py).
    test_sent_at = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="created_rules", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # The recorded time up to which this rule has covered the log (DESIGN §1 "Digests").
    cut_at = fields.DatetimeField()
    # A worker's claim on making this rule's next digest; an expired lease may be taken over.
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_until = fields.DatetimeField(null=True)

    portal_id: int
    created_by_id: int | None

    class Meta:
        table = "notification_rule"
        unique_together = (("portal", "sort_name"),)

    @property
    def channels(self) -> list[NotificationChannel]:
        out = []
        if self.email:
            out.append(NotificationChannel.EMAIL)
        if self.in_app:
            out.append(NotificationChannel.IN_APP)
        if self.webhook_url:
            out.append(NotificationChannel.WEBHOOK)
        if self.slack_webhook_url:
            out.append(NotificationChannel.SLACK)
        return out

    @property
    def person_channels(self) -> bool:
        """The rule delivers to people (EMAIL or IN_APP), so it needs an audience."""
        return self.email or self.in_app


class RuleApp(Model):
    id = fields.IntField(primary_key=True)
    rule: fields.ForeignKeyRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule", related_name="rule_apps", on_delete=fields.CASCADE
    )
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="rule_apps", on_delete=fields.CASCADE
    )

    rule_id: int
    app_id: int

    class Meta:
        table = "notification_rule_app"
        unique_together = (("rule", "app"),)


class RuleUser(Model):
    id = fields.IntField(primary_key=True)
    rule: fields.ForeignKeyRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule", related_name="rule_users", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="rule_users", on_delete=fields.CASCADE
    )

    rule_id: int
    user_id: int

    class Meta:
        table = "notification_rule_user"
        unique_together = (("rule", "user"),)


class RuleTeam(Model):
    id = fields.IntField(primary_key=True)
    rule: fields.ForeignKeyRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule", related_name="rule_teams", on_delete=fields.CASCADE
    )
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="rule_teams", on_delete=fields.CASCADE
    )

    rule_id: int
    team_id: int

    class Meta:
        table = "notification_rule_team"
        unique_together = (("rule", "team"),)


class Notification(Model):
    """One digest for one recipient."""

    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="notifications", on_delete=fields.CASCADE
    )
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    # A deleted rule leaves its past digests in place.
    rule: fields.ForeignKeyNullableRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule",
        related_name="notifications",
        null=True,
        on_delete=fields.SET_NULL,
    )
    type = fields.CharEnumField(NotificationType, max_length=16)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    entry_count = fields.IntField()
    # In the recipient's inbox: the rule had IN_APP when the digest was made.
    in_app = fields.BooleanField(default=True)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    # The rule's cut this digest started from: with the rule and the recipient, a unique key,
    # so a digest is made once per recipient whatever workers crash or race.
    cut_at = fields.DatetimeField(null=True)
    # A sample from sendTestNotification, not a digest (it has no cut).
    is_test = fields.BooleanField(default=False, db_default=False)

    portal_id: int
    recipient_id: int
    rule_id: int | None

    class Meta:
        table = "notification"
        unique_together = (("rule", "cut_at", "recipient"),)
        indexes = (("recipient_id", "in_app", "created_at", "id"),)


class NotificationEntry(Model):
    """The log entries a digest shows (its newest 100)."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="notification_entries", on_delete=fields.CASCADE
    )
    entry: fields.ForeignKeyRelation[AppLogEntry] = fields.ForeignKeyField(
        "models.AppLogEntry", related_name="notification_entries", on_delete=fields.CASCADE
    )

    notification_id: int
    entry_id: int

    class Meta:
        table = "notification_entry"
        unique_together = (("notification", "entry"),)


class Delivery(Model):
    """One notification sent on one channel (email outbox state lives here).

    For WEBHOOK and SLACK: one digest of a rule sent to its URL, with no notification and no
    recipient (DESIGN §6 "More channels")."""

    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="deliveries", on_delete=fields.CASCADE
    )
    notification: fields.ForeignKeyNullableRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    recipient: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    # The rule whose digest (or test) this is: `lastDelivery` reads it. A deleted rule's
    # deliveries stay, with no rule.
    rule: fields.ForeignKeyNullableRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule", related_name="deliveries", null=True, on_delete=fields.SET_NULL
    )
    # WEBHOOK and SLACK deliveries: the rule's cut the digest started from (with the rule and
    # the channel a unique key: one message per digest and channel, whatever workers race;
    # null for tests), the period, the URL's host, and the entries the message lists (ids,
    # newest first, at most MAX_ENTRIES) with how many there were.
    cut_at = fields.DatetimeField(null=True)
    period_start = fields.DatetimeField(null=True)
    period_end = fields.DatetimeField(null=True)
    target = fields.CharField(max_length=255, null=True)
    entry_ids = fields.JSONField[list[int] | None](null=True)
    entry_count = fields.IntField(null=True)
    is_test = fields.BooleanField(default=False, db_default=False)
    channel = fields.CharEnumField(NotificationChannel, max_length=16)
    status = fields.CharEnumField(DeliveryStatus, max_length=16)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    # A sender's claim on this message while it talks to the mail server.
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_until = fields.DatetimeField(null=True)

    portal_id: int
    notification_id: int | None
    recipient_id: int | None
    rule_id: int | None

    class Meta:
        table = "delivery"
        unique_together = (("notification", "channel"), ("rule", "cut_at", "channel"))
        indexes = (("portal_id", "status", "created_at", "id"),)
