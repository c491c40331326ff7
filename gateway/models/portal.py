"""Tenants and the people in them: Portal, User, Team and team membership."""

from __future__ import annotations

from typing import ClassVar

from tortoise import fields
from tortoise.models import Model

from gateway.models.enums import APP_PERMISSIONS, Permission, SubscriptionTier


class Portal(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    tier = fields.CharEnumField(SubscriptionTier, max_length=16)
    timezone = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The install request policy (DESIGN §6 "Install requests"): how long a request waits for
    # a decision, and whether reviewers get a daily reminder of the waiting ones.
    request_duration_days = fields.IntField(default=30, db_default=30)
    request_reminders = fields.BooleanField(default=True, db_default=True)

    class Meta:
        table = "portal"


class User(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="users", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    # Lower-cased name: lists sort by it, then id, the same on SQLite and PostgreSQL.
    sort_name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    is_super_admin = fields.BooleanField(default=False)
    # The permissions a user holds besides a super admin's (enums.Permission, one column each).
    # A default in the database too: the migration that made them added them to existing rows.
    install_apps = fields.BooleanField(default=False, db_default=False)
    approve_scopes = fields.BooleanField(default=False, db_default=False)
    uninstall_apps = fields.BooleanField(default=False, db_default=False)
    manage_notifications = fields.BooleanField(default=False, db_default=False)
    # Who set them last, and when (None: never set since the user was made).
    permissions_changed_at = fields.DatetimeField(null=True)
    permissions_changed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", null=True, on_delete=fields.SET_NULL, related_name=False
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    portal_id: int
    permissions_changed_by_id: int | None

    # Read by nothing but SQL (the API shows no user's creation): the gateway's own reads of
    # users (gateway/rows.py) leave it out, as every request reads its viewer and a log page
    # some 20 users, and a timestamp is the dearest column to decode. Such a user is partial
    # and cannot be saved whole; users are changed by `update` only.
    UNREAD: ClassVar[frozenset[str]] = frozenset({"created_at"})

    class Meta:
        table = "app_user"
        unique_together = (("portal", "email"),)
        indexes = (("portal_id", "sort_name", "id"),)

    def holds(self, permission: Permission) -> bool:
        return self.is_super_admin or bool(getattr(self, permission.column))

    @property
    def permissions(self) -> tuple[Permission, ...]:
        """The permissions the user holds, in the enum's order (every one, for a super admin)."""
        return tuple(p for p in Permission if self.holds(p))

    # Viewer facts (gateway/executor/batch.py): what fields that depend on them declare.
    @property
    def can_install(self) -> bool:
        return self.holds(Permission.INSTALL_APPS)

    @property
    def can_approve(self) -> bool:
        return self.holds(Permission.APPROVE_SCOPES)

    @property
    def can_uninstall(self) -> bool:
        return self.holds(Permission.UNINSTALL_APPS)

    @property
    def can_manage_notifications(self) -> bool:
        return self.holds(Permission.MANAGE_NOTIFICATIONS)

    @property
    def can_manage(self) -> bool:
        """The old "app marketplace access" promise (`canManageApps`): all three app
        permissions, so no client offers an action that is then refused."""
        return all(self.holds(p) for p in APP_PERMISSIONS)


class Team(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="teams", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    sort_name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    portal_id: int

    class Meta:
        table = "team"
        unique_together = (("portal", "name"),)
        indexes = (("portal_id", "sort_name", "id"),)


class TeamMembership(Model):
    id = fields.IntField(primary_key=True)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="memberships", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )

    team_id: int
    user_id: int

    class Meta:
        table = "team_membership"
        unique_together = (("team", "user"),)
