"""Installed apps and what hangs off them: connections, granted scopes, alerts.

The status is never stored: it is derived from `uninstalled_at`, the install level, the
disconnected mark and the open alerts (DESIGN §1 "Status").
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gateway.models.catalogue import MarketplaceListing
from gateway.models.enums import AlertSeverity, InstallLevel
from gateway.models.portal import Portal, User


class ConnectedApp(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="apps", on_delete=fields.CASCADE
    )
    listing: fields.ForeignKeyRelation[MarketplaceListing] = fields.ForeignKeyField(
        "models.MarketplaceListing", related_name="installs", on_delete=fields.RESTRICT
    )
    # Copied from the listing (which never changes them) so app lists sort and filter
    # without a join.
    name = fields.CharField(max_length=200)
    sort_name = fields.CharField(max_length=200)
    install_level = fields.CharEnumField(InstallLevel, max_length=16)
    # The first install's date and installer: a reinstall keeps them (DESIGN §1).
    installed_at = fields.DatetimeField()
    installed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="installed_apps", null=True, on_delete=fields.SET_NULL
    )
    uninstalled_at = fields.DatetimeField(null=True)
    disconnected = fields.BooleanField(default=False)
    # occurredAt of the last applied change of the disconnected mark: older events don't move it.
    mark_changed_at = fields.DatetimeField(null=True)

    portal_id: int
    listing_id: int
    installed_by_id: int | None

    class Meta:
        table = "connected_app"
        unique_together = (("portal", "listing"),)
        indexes = (("portal_id", "sort_name", "id"),)


class AppConnection(Model):
    id = fields.IntField(primary_key=True)
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="connections", on_delete=fields.CASCADE
    )
    # A USER app's connection names the user; a MULTI_ACCOUNT app's names the external account
    # (and the user who added it).
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="connections", null=True, on_delete=fields.CASCADE
    )
    account_name = fields.CharField(max_length=200, null=True)
    connected_at = fields.DatetimeField()
    # Who or what is connected, unique per app, so the database refuses a second connection of
    # the same user (USER apps) or the same external account (MULTI_ACCOUNT apps).
    key = fields.CharField(max_length=220)

    app_id: int
    user_id: int | None

    class Meta:
        table = "app_connection"
        unique_together = (("app", "key"),)
        indexes = (("app_id", "connected_at", "id"),)

    @staticmethod
    def key_for(user_id: int | None, account_name: str | None) -> str:
        # External account names compare without case: "@Acme" and "@acme" are one account.
        if account_name is not None:
            return f"account:{account_name.casefold()}"
        return f"user:{user_id}"


class GrantedScope(Model):
    id = fields.IntField(primary_key=True)
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="grants", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    granted_at = fields.DatetimeField()

    app_id: int

    class Meta:
        table = "granted_scope"
        unique_together = (("app", "name"),)


class AppAlert(Model):
    id = fields.IntField(primary_key=True)
    app: fields.ForeignKeyRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="alerts", on_delete=fields.CASCADE
    )
    severity = fields.CharEnumField(AlertSeverity, max_length=16)
    code = fields.CharField(max_length=100)
    message = fields.CharField(max_length=1000)
    raised_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    # occurredAt of the last applied change of this alert: older events don't move it.
    changed_at = fields.DatetimeField()
    # Who dismissed the problem, when and why (DESIGN §6): a change of reason clears them.
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="acknowledged_alerts", null=True, on_delete=fields.SET_NULL
    )
    acknowledge_note = fields.CharField(max_length=500, null=True)

    app_id: int
    acknowledged_by_id: int | None

    class Meta:
        table = "app_alert"
        indexes = (("app_id", "resolved_at"), ("app_id", "code"))
