"""The app log: one row per lifecycle event, never updated."""

from __future__ import annotations

from typing import ClassVar

from tortoise import fields
from tortoise.models import Model

from gateway.models.apps import AppAlert, ConnectedApp
from gateway.models.enums import AlertSeverity, AppActivity
from gateway.models.portal import Portal, User


class AppLogEntry(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="log_entries", on_delete=fields.CASCADE
    )
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="log_entries", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="log_entries", null=True, on_delete=fields.SET_NULL
    )
    activity = fields.CharEnumField(AppActivity, max_length=16)
    # When it happened, as reported; lists sort by it.
    occurred_at = fields.DatetimeField()
    # When the gateway recorded it; digests cover by it, so late events are not lost.
    recorded_at = fields.DatetimeField()

    portal_id: int
    app_id: int
    user_id: int | None

    # Columns that only SQL reads back (the digests' cut): the gateway's own reads of entries
    # (gateway/rows.py) leave them out, as a page decodes hundreds of entries and a timestamp
    # is the dearest column to decode. Such an entry lacks the attribute and cannot be saved
    # whole (it is partial); entries are never updated anyway.
    UNREAD: ClassVar[frozenset[str]] = frozenset({"recorded_at"})

    class Meta:
        table = "app_log_entry"
        indexes = (
            ("portal_id", "occurred_at", "id"),
            ("app_id", "occurred_at"),
            ("user_id", "occurred_at"),
            ("portal_id", "recorded_at"),
        )


class LoggedAlert(Model):
    """The alert an ERROR_RAISED or ERROR_RESOLVED entry announces, with its reason as it was
    then (the alert's message may change later). A table of its own rather than columns of the
    entry: few entries have one, and a log page reads its entries' columns whether asked or not."""

    id = fields.IntField(primary_key=True)
    entry: fields.OneToOneRelation[AppLogEntry] = fields.OneToOneField(
        "models.AppLogEntry", related_name="logged_alert", on_delete=fields.CASCADE
    )
    alert: fields.ForeignKeyRelation[AppAlert] = fields.ForeignKeyField(
        "models.AppAlert", related_name="log_entries", on_delete=fields.CASCADE
    )
    severity = fields.CharEnumField(AlertSeverity, max_length=16)
    code = fields.CharField(max_length=100)
    message = fields.CharField(max_length=1000)

    entry_id: int
    alert_id: int

    class Meta:
        table = "app_log_alert"


class LoggedScopeChange(Model):
    """The scope names an entry's change granted (`added`) and took away (`removed`), as lists
    in the order they were shown: REAUTHORIZED and REINSTALLED (and INSTALLED: what the install
    granted), SCOPES_CHANGED (what the listing's request gained and lost), and UNINSTALLED (the
    grants the uninstall revoked, which a later reinstall compares its grants with). A table of
    its own for the reason LoggedAlert is one."""

    id = fields.IntField(primary_key=True)
    entry: fields.OneToOneRelation[AppLogEntry] = fields.OneToOneField(
        "models.AppLogEntry", related_name="scope_change", on_delete=fields.CASCADE
    )
    # JSON lists of names.
    added = fields.JSONField[list[str]]()
    removed = fields.JSONField[list[str]]()

    entry_id: int

    class Meta:
        table = "app_log_scope_change"


class ProcessedEvent(Model):
    """An ingested platform event's id: a retry of an applied event changes nothing."""

    id = fields.CharField(max_length=200, primary_key=True)
    received_at = fields.DatetimeField()

    class Meta:
        table = "processed_event"
        indexes = (("received_at",),)
