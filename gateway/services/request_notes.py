"""Who hears of install requests, and the INSTALL_REQUEST notifications that tell them
(DESIGN §6 "Install requests").

- NEW: to every reviewer, in the request's own transaction.
- REMINDER: at most one per reviewer per local day of the portal (a worker pass,
  gateway/services/install_requests.py), listing the requests still pending then.
- OUTCOME: to the requester, when the request is approved, denied or expired.

Each is a Notification with no rule, no entries and `entryCount` 0, in the inbox and in the
email outbox, made exactly once by the unique key of its note: (kind, request or local date,
recipient). A second attempt at the same key (two workers racing, a retry) is refused by the
database and the caller's transaction rolls back, so nobody is told twice.

Also here, because installs call it: `fulfil_pending`, which approves the pending requests an
install answers, whoever made it (lifecycle.install_planned).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.expressions import Q

from gateway import models as m
from gateway.models.enums import (
    DeliveryStatus,
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationChannel,
    NotificationType,
)
from gateway.services.envelopes import Changes


def reviewers_q(portal_id: int) -> Q:
    """The reviewers of a portal's requests: super admins and holders of INSTALL_APPS."""
    return Q(portal_id=portal_id) & (Q(is_super_admin=True) | Q(install_apps=True))


async def reviewers(portal_id: int) -> list[int]:
    """Reviewer user ids, in id order."""
    ids: list[int] = await (
        m.User.filter(reviewers_q(portal_id)).order_by("id").values_list("id", flat=True)  # type: ignore[assignment]  # Tortoise types flat values_list() as tuples
    )
    return ids


def note_key(kind: InstallRequestNotice, about: str | int, recipient_id: int) -> str:
    """The unique key of one notice: kind, the request (NEW, OUTCOME) or the portal's local
    date (REMINDER), and the recipient."""
    return f"{kind.value.lower()}:{about}:{recipient_id}"


async def notify(
    changes: Changes,
    portal_id: int,
    kind: InstallRequestNotice,
    about: str | int,
    recipient_id: int,
    request_ids: Sequence[int],
    now: datetime,
    period: tuple[datetime, datetime] | None = None,
) -> m.Notification:
    """One notice to one person, inside the caller's transaction: the notification (its
    period is `period`, else the instant `now`), its note (the unique key: IntegrityError when
    it was made before), the requests it lists, delivered in-app at once and queued by email."""
    start, end = period or (now, now)
    notification = await m.Notification.create(
        portal_id=portal_id,
        recipient_id=recipient_id,
        rule_id=None,
        type=NotificationType.INSTALL_REQUEST,
        period_start=start,
        period_end=end,
        entry_count=0,
        in_app=True,
        created_at=now,
    )
    await m.InstallRequestNote.create(
        notification_id=notification.id, kind=kind, key=note_key(kind, about, recipient_id)
    )
    await m.InstallRequestNoteItem.bulk_create(
        [
            m.InstallRequestNoteItem(notification_id=notification.id, request_id=r)
            for r in request_ids
        ]
    )
    common = {
        "portal_id": portal_id,
        "notification_id": notification.id,
        "recipient_id": recipient_id,
        "created_at": now,
    }
    await m.Delivery.bulk_create(
        [
            m.Delivery(
                **common,
                channel=NotificationChannel.IN_APP,
                status=DeliveryStatus.SENT,
                attempts=1,
                sent_at=now,
            ),
            # The outbox: the mail sender picks it up (gateway/services/mail/outbox.py).
            m.Delivery(
                **common,
                channel=NotificationChannel.EMAIL,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
            ),
        ]
    )
    changes.notified(portal_id, notification.id)
    return notification


async def tell_outcome(changes: Changes, request: m.InstallRequest, now: datetime) -> None:
    """The requester hears that their request was approved, denied or expired."""
    await notify(
        changes,
        request.portal_id,
        InstallRequestNotice.OUTCOME,
        request.id,
        request.requested_by_id,
        [request.id],
        now,
    )


async def fulfil_pending(
    changes: Changes,
    installer_id: int,
    app: m.ConnectedApp,
    account_name: str | None,
    now: datetime,
) -> list[int]:
    """The pending requests an install answers become APPROVED, decided by the installer, and
    their requesters are told: for a PORTAL app every pending request of its listing, for a
    MULTI_ACCOUNT app those of the account just connected. A request past its `expiresAt` is
    left for the worker pass to expire, as a decision on it would. The ids approved."""
    pending = m.InstallRequest.filter(
        portal_id=app.portal_id,
        listing_id=app.listing_id,
        status=InstallRequestStatus.PENDING,
        expires_at__gt=now,
    )
    found = await pending.select_for_update().order_by("id")
    if app.install_level is InstallLevel.MULTI_ACCOUNT:
        account = (account_name or "").casefold()
        found = [r for r in found if (r.account_name or "").casefold() == account]
    approved = []
    for request in found:
        done = await m.InstallRequest.filter(
            id=request.id, status=InstallRequestStatus.PENDING
        ).update(
            status=InstallRequestStatus.APPROVED,
            pending_key=None,
            decided_by_id=installer_id,
            decided_at=now,
            app_id=app.id,
        )
        if done == 1:
            await tell_outcome(changes, request, now)
            changes.request_changed(app.portal_id, request.id)
            approved.append(request.id)
    return approved
