"""Acme's install requests, one of each case worth trying: one pending (so a reviewer can
approve or deny it, and its requester cancel it), one that expired, one that was denied.

Written straight through the models at offsets from the anchor, as the rest of the demo is;
the notices they would have sent are not (the demo's inboxes hold digests only). A worker
pass after the anchor sends the reviewers their daily reminder of the pending one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.demo.portals import ADMIN_EMAIL, MEMBER2_EMAIL, MEMBER_EMAIL
from gateway.models import InstallRequest, MarketplaceListing, Portal, User
from gateway.models.enums import InstallRequestStatus

PENDING_SLUG, EXPIRED_SLUG, DENIED_SLUG = "taskboard", "eventry", "payport"


@dataclass(frozen=True)
class RequestSpec:
    slug: str  # a PORTAL listing Acme has not installed
    requester: str
    justification: str
    days_ago: float  # when it was asked, before the anchor
    status: InstallRequestStatus
    scopes: tuple[str, ...] | None = None
    decided_by: str | None = None
    note: str | None = None
    decided_days_ago: float | None = None


ACME_REQUESTS = (
    RequestSpec(
        PENDING_SLUG,
        "sam@demo.example",
        "Our team tracks deals on boards; Taskboard would save us the weekly export.",
        2.25,
        InstallRequestStatus.PENDING,
        scopes=("oauth", "crm.objects.deals.read", "crm.objects.owners.read"),
    ),
    RequestSpec(
        EXPIRED_SLUG,
        MEMBER2_EMAIL,
        "We run four webinars a quarter and register attendees by hand.",
        41.5,
        InstallRequestStatus.EXPIRED,
        decided_days_ago=11.5,
    ),
    RequestSpec(
        DENIED_SLUG,
        MEMBER_EMAIL,
        "Customers ask to pay invoices online.",
        16.2,
        InstallRequestStatus.DENIED,
        decided_by=ADMIN_EMAIL,
        note="Finance is choosing a payment provider this quarter; ask again in January.",
        decided_days_ago=15.8,
    ),
)


async def seed_requests(
    portal: Portal,
    users: dict[str, User],
    listings: dict[str, MarketplaceListing],
    anchor: datetime,
) -> None:
    duration = timedelta(days=portal.request_duration_days)
    for spec in ACME_REQUESTS:
        asked = anchor - timedelta(days=spec.days_ago)
        decided = (
            anchor - timedelta(days=spec.decided_days_ago)
            if spec.decided_days_ago is not None
            else None
        )
        requester, listing = users[spec.requester], listings[spec.slug]
        pending = spec.status is InstallRequestStatus.PENDING
        await InstallRequest.create(
            portal_id=portal.id,
            listing_id=listing.id,
            requested_by_id=requester.id,
            justification=spec.justification,
            scope_list=InstallRequest.scope_text(list(spec.scopes) if spec.scopes else None),
            status=spec.status,
            created_at=asked.replace(microsecond=0),
            expires_at=(asked + duration).replace(microsecond=0),
            decided_by_id=users[spec.decided_by].id if spec.decided_by else None,
            decided_at=decided.replace(microsecond=0) if decided else None,
            decision_note=spec.note,
            pending_key=InstallRequest.key_for(requester.id, listing.id, None) if pending else None,
        )
