"""Tenants and the people in them: Portal, User, Team and team membership."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gateway.models.enums import SubscriptionTier


class Portal(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    tier = fields.CharEnumField(SubscriptionTier, max_length=16)
    timezone = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

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
    can_manage_apps = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    portal_id: int

    class Meta:
        table = "app_user"
        unique_together = (("portal", "email"),)
        indexes = (("portal_id", "sort_name", "id"),)

    @property
    def can_manage(self) -> bool:
        """The "app marketplace access" rule: super admins and managers may act on apps."""
        return self.is_super_admin or self.can_manage_apps


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
