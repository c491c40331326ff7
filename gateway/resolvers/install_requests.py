"""Resolvers of install requests: the batch functions of their fields and of the fields other
types gain (a listing's `viewerCanRequest`, a notification's `installRequests`), the portal's
list, and the mutations (decode the input, call gateway/services/install_requests.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway import models as m
from gateway.context import Context, Info
from gateway.loaders import load_all, load_optional
from gateway.models.enums import InstallLevel, InstallRequestNotice, InstallRequestStatus
from gateway.pagination import NEWEST_CREATED_FIRST, Page, PageRequest, paginate_queryset
from gateway.resolvers.app_mutations import actor, decode, run
from gateway.services import access
from gateway.services import install_requests as service
from gateway.services.problems import Problem

PENDING = InstallRequestStatus.PENDING


# --- InstallRequest's fields -----------------------------------------------------------------


async def listings(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[Any]:
    return await load_all(ctx.loaders.listing_by_id, [r.listing_id for r in requests])


async def requesters(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[Any]:
    return await load_all(ctx.loaders.user_by_id, [r.requested_by_id for r in requests])


async def deciders(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[Any]:
    return await load_optional(ctx.loaders.user_by_id, [r.decided_by_id for r in requests])


async def apps(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[Any]:
    return await load_optional(ctx.loaders.app_by_id, [r.app_id for r in requests])


def scopes(_ctx: Context, requests: Sequence[m.InstallRequest]) -> list[list[str] | None]:
    return [r.scopes for r in requests]


def _open(request: m.InstallRequest, now: datetime) -> bool:
    return request.status is PENDING and request.expires_at > now


def viewer_can_decide(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[bool]:
    may = ctx.viewer.can_install
    now = datetime.now(UTC)
    return [may and _open(r, now) for r in requests]


def viewer_can_cancel(ctx: Context, requests: Sequence[m.InstallRequest]) -> list[bool]:
    viewer_id = ctx.viewer.id
    now = datetime.now(UTC)
    return [r.requested_by_id == viewer_id and _open(r, now) for r in requests]


# --- fields other types gain -----------------------------------------------------------------


async def viewer_pending_requests(
    ctx: Context, listings_: Sequence[m.MarketplaceListing]
) -> list[m.InstallRequest | None]:
    """The viewer's newest pending request for each listing (a multi-account listing may have
    several, one per account), or null."""
    mine = await ctx.loaders.pending_requests_by_requester.load(ctx.viewer.id)
    newest: dict[int, m.InstallRequest] = {}
    for request in mine:  # oldest first: the newest wins
        newest[request.listing_id] = request
    return [newest.get(listing.id) for listing in listings_]


async def viewer_can_request(ctx: Context, listings_: Sequence[m.MarketplaceListing]) -> list[bool]:
    """A request by the viewer would be taken now: they lack INSTALL_APPS (who holds it
    installs), the listing is PORTAL-wide and not installed, with no pending request of theirs
    waiting for it, or MULTI_ACCOUNT (each request names a new account), and every required
    scope is within the portal's tier."""
    if ctx.viewer.can_install:
        return [False] * len(listings_)
    loaders = ctx.loaders
    installed = {a.listing_id for a in await loaders.installed_apps_by_portal.load(ctx.portal.id)}
    now = datetime.now(UTC)
    waiting = {
        r.listing_id
        for r in await loaders.pending_requests_by_requester.load(ctx.viewer.id)
        if r.expires_at > now
    }
    requested = await load_all(loaders.scopes_by_listing, [listing.id for listing in listings_])
    out = []
    for listing, scopes_ in zip(listings_, requested, strict=True):
        level = listing.install_level
        askable = level is InstallLevel.MULTI_ACCOUNT or (
            level is InstallLevel.PORTAL
            and listing.id not in installed
            and listing.id not in waiting
        )
        out.append(askable and access.within_plan(scopes_, ctx.portal.tier))
    return out


async def notification_requests(
    ctx: Context, notifications: Sequence[m.Notification]
) -> list[list[m.InstallRequest]]:
    """The requests an INSTALL_REQUEST notification lists, those the viewer may see."""
    loaders = ctx.loaders
    items = await load_all(loaders.note_items_by_notification, [n.id for n in notifications])
    found = await load_all(
        loaders.install_request_by_id, [item.request_id for group in items for item in group]
    )
    by_id = {r.id: r for r in found if r is not None and service.may_see(ctx.viewer, r)}
    return [
        [by_id[item.request_id] for item in group if item.request_id in by_id] for group in items
    ]


async def notification_notices(
    ctx: Context, notifications: Sequence[m.Notification]
) -> list[InstallRequestNotice | None]:
    notes = await load_all(ctx.loaders.note_by_notification, [n.id for n in notifications])
    return [note.kind if note is not None else None for note in notes]


# --- the portal's -----------------------------------------------------------------------------


async def portal_requests(
    portal: m.Portal,
    info: Info,
    first: int | None,
    after: str | None,
    status: InstallRequestStatus | None,
) -> Page[m.InstallRequest]:
    ctx = info.context
    request = PageRequest.of(first, after, NEWEST_CREATED_FIRST, ctx.settings.max_page_size)
    return await paginate_queryset(service.visible_requests(portal.id, ctx.viewer, status), request)


def policy(portal: m.Portal) -> service.Policy:
    return service.Policy.of(portal)


# --- mutations --------------------------------------------------------------------------------


async def request_app_install(
    info: Info,
    listing_id: str,
    justification: str,
    scopes_: list[str] | None,
    account_name: str | None,
) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, listing_id, "MarketplaceListing", "input", "listingId")
    problems += service.request_input_problems(justification, scopes_, account_name)
    return await run(
        info,
        problems,
        lambda: service.request_install(actor(info), pk, justification, scopes_, account_name),
    )


async def approve(info: Info, request_id: str, note: str | None) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, request_id, "InstallRequest", "input", "requestId")
    problems += service.decision_input_problems(note, required=False)
    return await run(info, problems, lambda: service.approve(actor(info), pk, note))


async def deny(info: Info, request_id: str, note: str | None) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, request_id, "InstallRequest", "input", "requestId")
    problems += service.decision_input_problems(note, required=True)
    return await run(info, problems, lambda: service.deny(actor(info), pk, note))


async def cancel(info: Info, request_id: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    pk = decode(problems, request_id, "InstallRequest", "input", "requestId")
    return await run(info, problems, lambda: service.cancel(actor(info), pk))


async def update_policy(
    info: Info, duration_days: int | None, reminders_enabled: bool | None
) -> tuple[Any, list[Problem]]:
    return await run(
        info, [], lambda: service.update_policy(actor(info), duration_days, reminders_enabled)
    )
