"""Install requests (Entra's admin-consent workflow): someone without INSTALL_APPS asks for a
listing to be installed, a reviewer approves or denies, the requester may cancel, and a worker
pass expires what nobody decided. Also the notices they send: INSTALL_REQUEST notifications,
each made once by its unique key, and the requests each one lists.
"""

from __future__ import annotations

import json

from tortoise import fields
from tortoise.models import Model

from gateway.models.apps import ConnectedApp
from gateway.models.catalogue import MarketplaceListing
from gateway.models.enums import InstallRequestNotice, InstallRequestStatus
from gateway.models.notifications import Notification
from gateway.models.portal import Portal, User


class InstallRequest(Model):
    id = fields.IntField(primary_key=True)
    portal: fields.ForeignKeyRelation[Portal] = fields.ForeignKeyField(
        "models.Portal", related_name="install_requests", on_delete=fields.CASCADE
    )
    listing: fields.ForeignKeyRelation[MarketplaceListing] = fields.ForeignKeyField(
        "models.MarketplaceListing", related_name="install_requests", on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="install_requests", on_delete=fields.CASCADE
    )
    justification = fields.CharField(max_length=500)
    # The scope names asked for, as a JSON list; null when the requester left them out (an
    # approval then grants what an install without scopes grants).
    scope_list = fields.TextField(null=True)
    account_name = fields.CharField(max_length=200, null=True)
    status = fields.CharEnumField(InstallRequestStatus, max_length=16)
    created_at = fields.DatetimeField()
    # created_at + the portal's durationDays when it was made: a later policy change keeps it.
    expires_at = fields.DatetimeField()
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.CharField(max_length=500, null=True)
    app: fields.ForeignKeyNullableRelation[ConnectedApp] = fields.ForeignKeyField(
        "models.ConnectedApp", related_name="install_requests", null=True, on_delete=fields.SET_NULL
    )
    # Set while PENDING, null after: who asked for what (listing, and the account of a
    # multi-account app). Unique, so the database refuses a second pending request of the same.
    pending_key = fields.CharField(max_length=260, null=True, unique=True)

    portal_id: int
    listing_id: int
    requested_by_id: int
    decided_by_id: int | None
    app_id: int | None

    class Meta:
        table = "install_request"
        indexes = (
            ("portal_id", "created_at", "id"),
            ("requested_by_id", "created_at", "id"),
            ("status", "expires_at"),
        )

    @property
    def scopes(self) -> list[str] | None:
        return None if self.scope_list is None else list(json.loads(self.scope_list))

    @staticmethod
    def scope_text(scopes: list[str] | None) -> str | None:
        return None if scopes is None else json.dumps(list(dict.fromkeys(scopes)))

    @staticmethod
    def key_for(requester_id: int, listing_id: int, account_name: str | None) -> str:
        # Account names compare without case, as connections' do (AppConnection.key_for).
        account = "" if account_name is None else account_name.casefold()
        return f"{listing_id}:{requester_id}:{account}"


class InstallRequestNote(Model):
    """What made an INSTALL_REQUEST notification, and the key that makes it once: the kind,
    the request (NEW, OUTCOME) or the portal's local date (REMINDER), and the recipient."""

    id = fields.IntField(primary_key=True)
    notification: fields.OneToOneRelation[Notification] = fields.OneToOneField(
        "models.Notification", related_name="install_request_note", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(InstallRequestNotice, max_length=16)
    key = fields.CharField(max_length=120, unique=True)

    notification_id: int

    class Meta:
        table = "install_request_note"


class InstallRequestNoteItem(Model):
    """A request an INSTALL_REQUEST notification lists."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="install_request_items", on_delete=fields.CASCADE
    )
    request: fields.ForeignKeyRelation[InstallRequest] = fields.ForeignKeyField(
        "models.InstallRequest", related_name="note_items", on_delete=fields.CASCADE
    )

    notification_id: int
    request_id: int

    class Meta:
        table = "install_request_note_item"
        unique_together = (("notification", "request"),)
