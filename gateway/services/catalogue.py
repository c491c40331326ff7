"""The marketplace as a portal sees it (DESIGN §1): the listings it may install."""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from gateway import models as m


def installable_listings(
    portal_id: int, search: str | None = None, category: str | None = None
) -> QuerySet[m.MarketplaceListing]:
    """Listings not currently installed in the portal (an uninstalled one shows again: it is
    reinstallable), optionally only those whose name, vendor or description contains `search`
    and those of `category` (both case-insensitive)."""
    installed = m.ConnectedApp.filter(portal_id=portal_id, uninstalled_at=None).values("listing_id")
    qs = m.MarketplaceListing.filter(~Q(id__in=Subquery(installed)))
    if search:
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(vendor__icontains=search)
            | Q(description__icontains=search)
        )
    if category is not None:
        qs = qs.filter(category__iexact=category)
    return qs


def general_resources(limit: int) -> QuerySet[m.LearningResource]:
    """The general (not listing-specific) learning resources, in their editorial order."""
    return m.LearningResource.filter(listing_id=None).order_by("position", "id").limit(limit)
