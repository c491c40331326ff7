"""Who sees the deliveries of a portal's digests (DESIGN §1 "Visibility inside a portal")."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from gateway import models as m
from gateway.models.enums import DeliveryStatus


def visible_deliveries(
    portal_id: int, viewer: m.User, status: DeliveryStatus | None = None
) -> QuerySet[m.Delivery]:
    """The portal's deliveries, optionally of one status. For holders of MANAGE_NOTIFICATIONS
    only: anyone else sees none (an empty list, never an error)."""
    qs = m.Delivery.filter(portal_id=portal_id)
    if not viewer.can_manage_notifications:
        qs = qs.filter(id__in=[])
    if status is not None:
        qs = qs.filter(status=status)
    return qs
