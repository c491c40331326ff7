"""Install requests (DESIGN §6 "Install requests"; Entra's admin-consent workflow).

Someone without INSTALL_APPS asks for a PORTAL listing that is not installed, or for a new
account of a MULTI_ACCOUNT listing, with a justification. Reviewers (INSTALL_APPS holders and
super admins) approve it, which installs it exactly as `installApp` would with the requested
scopes, or deny it with a note; the requester may cancel it; a worker pass expires it once its
`expiresAt` has come. Only a PENDING request changes, and each change commits with its
notices (gateway/services/request_notes.py) and is published for `installRequestChanged`.

Visibility: reviewers see every request of their portal; anyone else sees only their own, and
someone else's answers NOT_FOUND exactly like an id that does not exist.

A decision (or a cancellation) attempted at or after `expiresAt`, before the worker pass has
expired the request, expires it there and then and answers CONFLICT: the request is past its
time whichever way one looks at it, and the requester is told once, by the unique key of the
notice, whoever gets there first.

Races are settled by the database: `pending_key` (unique while PENDING) refuses a second
pending request for the same listing and account by the same person, the request row is locked
for a decision, and every change of status is a conditional update from PENDING.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from gateway import models as m
from gateway.models.enums import (
    InstallLevel,
    InstallRequestNotice,
    InstallRequestStatus,
    NotificationFrequency,
    Permission,
)
from gateway.services import lifecycle, request_notes, text
from gateway.services.access import require
from gateway.services.envelopes import Changes, Publisher, unit_of_work
from gateway.services.faults import pause_point
from gateway.services.lifecycle import Actor
from gateway.services.periods import period_containing
from gateway.services.problems import (
    Problem,
    Refused,
    conflict,
    forbidden,
    invalid,
    not_found,
    refuse_if,
    retry_once_on_clash,
)

log = logging.getLogger("gateway.install_requests")

PENDING = InstallRequestStatus.PENDING
# A justification or a decision's note: prose, so line breaks are fine (NUL never is).
REQUEST_TEXT = text.Bound(500, shown=False)
MIN_DAYS, MAX_DAYS = 1, 90
# A reminder lists the requests that have waited at least this long.
REMINDER_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class Policy:
    """A portal's install request policy."""

    duration_days: int
    reminders_enabled: bool

    @classmethod
    def of(cls, portal: m.Portal) -> Policy:
        return cls(portal.request_duration_days, portal.request_reminders)


# --- who sees what ---------------------------------------------------------------------------


def is_reviewer(user: m.User) -> bool:
    """Reviewers decide requests and see all of them: INSTALL_APPS holders (super admins too)."""
    return user.holds(Permission.INSTALL_APPS)


def may_see(user: m.User, request: m.InstallRequest) -> bool:
    return request.portal_id == user.portal_id and (
        is_reviewer(user) or request.requested_by_id == user.id
    )


def visible_requests(
    portal_id: int, viewer: m.User, status: InstallRequestStatus | None = None
) -> QuerySet[m.InstallRequest]:
    """The requests of the portal the viewer may see (optionally of one status)."""
    qs = m.InstallRequest.filter(portal_id=portal_id)
    if not is_reviewer(viewer):
        qs = qs.filter(requested_by_id=viewer.id)
    if status is not None:
        qs = qs.filter(status=status)
    return qs


# --- what an input says by itself -------------------------------------------------------------


def _prose(value: str | None, what: str, *field: str, required: bool) -> Problem | None:
    if value is None or not value.strip():
        return invalid(f"Write {what} (1 to 500 characters)", *field) if required else None
    return text.input_problem(value.strip(), REQUEST_TEXT, *field)


def request_input_problems(
    justification: str, scopes: list[str] | None, account_name: str | None
) -> list[Problem]:
    """The texts of a request that no listing could take. Resolvers report them with the
    input's other problems; `request_install` checks them again, so no caller skips them."""
    problems = lifecycle.install_input_problems(scopes, account_name)
    bad = _prose(justification, "why you need the app", "input", "justification", required=True)
    return ([bad] if bad else []) + problems


def decision_input_problems(note: str | None, *, required: bool) -> list[Problem]:
    bad = _prose(note, "a note for the requester", "input", "note", required=required)
    return [bad] if bad else []


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


# --- requesting -------------------------------------------------------------------------------


async def request_install(
    actor: Actor,
    listing_id: int,
    justification: str,
    scopes: list[str] | None,
    account_name: str | None,
) -> m.InstallRequest:
    """A new PENDING request, with a NEW notice to every reviewer in the same transaction."""
    refuse_if(request_input_problems(justification, scopes, account_name))
    listing = await m.MarketplaceListing.get_or_none(id=listing_id)
    if listing is None:
        raise Refused([not_found("listing", "input", "listingId")])
    problems = await _request_problems(actor, listing, scopes, account_name)
    refuse_if(problems)
    account = _clean(account_name) if listing.install_level is InstallLevel.MULTI_ACCOUNT else None
    key = m.InstallRequest.key_for(actor.user.id, listing.id, account)
    now = actor.now

    async def work() -> m.InstallRequest:
        async with unit_of_work(actor.publisher) as changes:
            earlier = await m.InstallRequest.filter(pending_key=key).select_for_update().first()
            if earlier is not None:
                if earlier.expires_at > now:
                    raise Refused([_already_asked(listing)])
                await _expire(
                    changes, earlier, now
                )  # past its time: it no longer stands in the way
            request = await m.InstallRequest.create(
                portal_id=actor.portal.id,
                listing_id=listing.id,
                requested_by_id=actor.user.id,
                justification=justification.strip(),
                scope_list=m.InstallRequest.scope_text(scopes),
                account_name=account,
                status=PENDING,
                created_at=now,
                expires_at=now + timedelta(days=actor.portal.request_duration_days),
                pending_key=key,
            )
            for reviewer in await request_notes.reviewers(actor.portal.id):
                await request_notes.notify(
                    changes,
                    actor.portal.id,
                    InstallRequestNotice.NEW,
                    request.id,
                    reviewer,
                    [request.id],
                    now,
                )
            changes.request_changed(actor.portal.id, request.id)
            return request

    return await retry_once_on_clash(work, _already_asked(listing))


def _already_asked(listing: m.MarketplaceListing) -> Problem:
    what = "this account" if listing.install_level is InstallLevel.MULTI_ACCOUNT else "this app"
    return conflict(f"You already have a pending request for {what}", "input", "listingId")


async def _request_problems(
    actor: Actor,
    listing: m.MarketplaceListing,
    scopes: list[str] | None,
    account_name: str | None,
) -> list[Problem]:
    """Everything wrong with asking for `listing` now, all at once."""
    level = listing.install_level
    if level is InstallLevel.USER:
        return [invalid("Anyone may use this app: connect to it directly", "input", "listingId")]
    problems: list[Problem] = []
    if is_reviewer(actor.user):
        problems.append(
            invalid(
                "You hold INSTALL_APPS: install the app directly instead of asking",
                "input",
                "listingId",
            )
        )
    app = await m.ConnectedApp.get_or_none(
        portal_id=actor.portal.id, listing_id=listing.id, uninstalled_at=None
    )
    account = _clean(account_name)
    if level is InstallLevel.PORTAL:
        if account_name is not None:
            problems.append(
                invalid("Only multi-account apps take an accountName", "input", "accountName")
            )
        if app is not None:
            problems.append(conflict("The app is already installed", "input", "listingId"))
    elif account is None:
        problems.append(invalid("Name the external account to connect", "input", "accountName"))
    elif app is not None and await m.AppConnection.exists(
        app_id=app.id, key=m.AppConnection.key_for(None, account)
    ):
        problems.append(conflict("This account is already connected", "input", "accountName"))
    # Read first for a complete answer; the unique key settles a race (`request_install`).
    key = m.InstallRequest.key_for(
        actor.user.id, listing.id, account if level is InstallLevel.MULTI_ACCOUNT else None
    )
    if await m.InstallRequest.exists(pending_key=key, expires_at__gt=actor.now):
        problems.append(_already_asked(listing))
    listing_scopes = await m.ListingScope.filter(listing_id=listing.id).order_by("position", "id")
    _grants, scope_problems = lifecycle.install_scopes(listing_scopes, scopes, actor.portal.tier)
    return problems + scope_problems


# --- deciding ---------------------------------------------------------------------------------


async def _visible(
    actor: Actor, request_id: int, problems: list[Problem] | None = None
) -> m.InstallRequest:
    """The request, if the viewer may see it (else NOT_FOUND, as for one that does not exist),
    refused with `problems` of the rest of the input too."""
    problems = list(problems or ())
    request = await m.InstallRequest.get_or_none(id=request_id)
    if request is None or not may_see(actor.user, request):
        problems.insert(0, not_found("install request", "input", "requestId"))
    refuse_if(problems)
    assert request is not None
    return request


async def _expire(changes: Changes, request: m.InstallRequest, now: datetime) -> bool:
    """PENDING → EXPIRED, telling the requester; False when it was no longer pending."""
    done = await m.InstallRequest.filter(id=request.id, status=PENDING).update(
        status=InstallRequestStatus.EXPIRED, pending_key=None, decided_at=now
    )
    if done != 1:
        return False
    await request_notes.tell_outcome(changes, request, now)
    changes.request_changed(request.portal_id, request.id)
    return True


def _not_pending(request: m.InstallRequest) -> Problem:
    return conflict(
        f"The request is {request.status.value.lower()} already; only a pending request changes",
        "input",
        "requestId",
    )


async def _still_open(actor: Actor, request: m.InstallRequest) -> None:
    """Refuse unless the request is pending and within its time. One past its time is expired
    now, committed before the refusal (CONFLICT "expired"), as the worker pass would have."""
    if request.status is not PENDING:
        raise Refused([_not_pending(request)])
    if request.expires_at > actor.now:
        return
    try:
        async with unit_of_work(actor.publisher) as changes:
            await _expire(changes, request, actor.now)
    except IntegrityError:
        pass  # the pass (or another decision) expired it and told the requester meanwhile
    raise Refused(
        [
            conflict(
                f"The request expired at {request.expires_at.isoformat()}",
                "input",
                "requestId",
            )
        ]
    )


async def _locked_open(request_id: int) -> m.InstallRequest:
    """The request, locked for the decision; refused if someone decided it meanwhile."""
    locked = await m.InstallRequest.filter(id=request_id).select_for_update().first()
    assert locked is not None  # requests are never deleted but with their portal
    if locked.status is not PENDING:
        raise Refused([_not_pending(locked)])
    return locked


async def approve(
    actor: Actor, request_id: int, note: str | None
) -> tuple[m.InstallRequest, m.ConnectedApp]:
    """Install the request's listing as the approver would with `installApp` (the requested
    scopes, the account), and mark it APPROVED, in one transaction. An install that is refused
    (the tier, the listing's scopes changed, …) answers its problems and leaves the request
    PENDING."""
    request = await _visible(actor, request_id, decision_input_problems(note, required=False))
    require(actor.user, Permission.INSTALL_APPS, "input", "requestId")
    await _still_open(actor, request)
    try:
        plan = await lifecycle.plan_install(
            actor, request.listing_id, request.scopes, request.account_name
        )
    except Refused as refused:
        # The install's problems name its input; this input names the request.
        raise Refused(
            [Problem(p.code, p.message, ("input", "requestId")) for p in refused.problems]
        ) from None

    async def work() -> tuple[m.InstallRequest, m.ConnectedApp]:
        async with unit_of_work(actor.publisher) as changes:
            locked = await _locked_open(request.id)
            # Decided first, so that the install's own fulfilment of pending requests (other
            # people's for the same listing) leaves this one to this decision.
            await m.InstallRequest.filter(id=locked.id, status=PENDING).update(
                status=InstallRequestStatus.APPROVED,
                pending_key=None,
                decided_by_id=actor.user.id,
                decided_at=actor.now,
                decision_note=_clean(note),
            )
            try:
                app = await lifecycle.install_planned(changes, actor, plan)
            except Refused as refused:
                raise Refused(
                    [Problem(p.code, p.message, ("input", "requestId")) for p in refused.problems]
                ) from None
            await m.InstallRequest.filter(id=locked.id).update(app_id=app.id)
            await request_notes.tell_outcome(changes, locked, actor.now)
            changes.request_changed(locked.portal_id, locked.id)
            return await m.InstallRequest.get(id=locked.id), app

    clash = Problem(plan.clash.code, plan.clash.message, ("input", "requestId"))
    return await retry_once_on_clash(work, clash)


async def deny(actor: Actor, request_id: int, note: str | None) -> m.InstallRequest:
    """DENIED with the reviewer's note (required), telling the requester."""
    request = await _visible(actor, request_id, decision_input_problems(note, required=True))
    require(actor.user, Permission.INSTALL_APPS, "input", "requestId")
    await _still_open(actor, request)
    async with unit_of_work(actor.publisher) as changes:
        locked = await _locked_open(request.id)
        await m.InstallRequest.filter(id=locked.id, status=PENDING).update(
            status=InstallRequestStatus.DENIED,
            pending_key=None,
            decided_by_id=actor.user.id,
            decided_at=actor.now,
            decision_note=_clean(note),
        )
        await request_notes.tell_outcome(changes, locked, actor.now)
        changes.request_changed(locked.portal_id, locked.id)
    return await m.InstallRequest.get(id=request.id)


async def cancel(actor: Actor, request_id: int) -> m.InstallRequest:
    """CANCELLED by its requester; nobody is told (the reviewers' lists update live)."""
    request = await _visible(actor, request_id)
    if request.requested_by_id != actor.user.id:
        raise Refused(
            [
                forbidden(
                    "Only the requester cancels a request; deny it instead", "input", "requestId"
                )
            ]
        )
    await _still_open(actor, request)
    async with unit_of_work(actor.publisher) as changes:
        locked = await _locked_open(request.id)
        await m.InstallRequest.filter(id=locked.id, status=PENDING).update(
            status=InstallRequestStatus.CANCELLED,
            pending_key=None,
            decided_by_id=actor.user.id,
            decided_at=actor.now,
        )
        changes.request_changed(locked.portal_id, locked.id)
    return await m.InstallRequest.get(id=request.id)


# --- the policy -------------------------------------------------------------------------------


async def update_policy(
    actor: Actor, duration_days: int | None, reminders_enabled: bool | None
) -> Policy:
    """Super admins set how long requests wait and whether reviewers get reminders. A new
    duration applies to requests made from now on; pending ones keep their `expiresAt`."""
    problems: list[Problem] = []
    if not actor.user.is_super_admin:
        problems.append(forbidden("Only super admins set the install request policy"))
    if duration_days is not None and not MIN_DAYS <= duration_days <= MAX_DAYS:
        problems.append(
            invalid(f"durationDays is {MIN_DAYS} to {MAX_DAYS} days", "input", "durationDays")
        )
    refuse_if(problems)
    changed: dict[str, object] = {}
    if duration_days is not None:
        changed["request_duration_days"] = duration_days
    if reminders_enabled is not None:
        changed["request_reminders"] = reminders_enabled
    if changed:
        await m.Portal.filter(id=actor.portal.id).update(**changed)
    return Policy.of(await m.Portal.get(id=actor.portal.id))


# --- the worker pass --------------------------------------------------------------------------


@dataclass
class RequestPassResult:
    """What one pass over install requests did."""

    expired: int = 0
    reminders: int = 0
    skipped: int = 0  # made by another worker first (a unique key said so)
    errors: int = 0


async def run_pass(
    now: datetime,
    publisher: Publisher,
    *,
    portal_ids: Collection[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RequestPassResult:
    """As of `now`: expire every pending request whose `expiresAt` has come (telling its
    requester), then send each reviewer of a portal with reminders on at most one reminder per
    local day, listing the requests pending now that were made more than 24 h before. Safe to
    run in several workers at once: the conditional updates and the notices' unique keys make
    each change and each notice once. Touches no notification rule."""
    result = RequestPassResult()
    due = m.InstallRequest.filter(status=PENDING, expires_at__lte=now)
    if portal_ids is not None:
        due = due.filter(portal_id__in=list(portal_ids))
    for request in await due.order_by("expires_at", "id"):
        if should_stop is not None and should_stop():
            return result
        try:
            async with unit_of_work(publisher) as changes:
                expired = await _expire(changes, request, now)
        except IntegrityError:
            expired = False  # a late decision expired it and told the requester first
        except Exception:
            result.errors += 1
            log.exception("install request %s: expiring it failed", request.id)
            continue
        if expired:
            result.expired += 1
        else:
            result.skipped += 1
    await _remind(now, publisher, portal_ids, should_stop, result)
    return result


async def _remind(
    now: datetime,
    publisher: Publisher,
    portal_ids: Collection[int] | None,
    should_stop: Callable[[], bool] | None,
    result: RequestPassResult,
) -> None:
    waiting = m.InstallRequest.filter(
        status=PENDING,
        created_at__lte=now - REMINDER_AGE,
        expires_at__gt=now,
        portal__request_reminders=True,
    )
    if portal_ids is not None:
        waiting = waiting.filter(portal_id__in=list(portal_ids))
    by_portal: dict[int, list[int]] = defaultdict(list)
    rows = await waiting.order_by("created_at", "id").values_list("portal_id", "id")
    for portal_id, request_id in rows:
        by_portal[portal_id].append(request_id)
    for portal_id, request_ids in by_portal.items():
        portal = await m.Portal.get(id=portal_id)
        tz = ZoneInfo(portal.timezone)
        day = now.astimezone(tz).date().isoformat()
        period = period_containing(NotificationFrequency.DAILY, portal.timezone, now)
        for reviewer in await request_notes.reviewers(portal_id):
            if should_stop is not None and should_stop():
                return
            key = request_notes.note_key(
                InstallRequestNotice.REMINDER, f"{portal_id}:{day}", reviewer
            )
            if await m.InstallRequestNote.exists(key=key):
                continue  # today's reminder was sent
            # Test-only fault point: workers held here race for the same reminder.
            await pause_point("requests:before-remind")
            try:
                async with unit_of_work(publisher) as changes:
                    await request_notes.notify(
                        changes,
                        portal_id,
                        InstallRequestNotice.REMINDER,
                        f"{portal_id}:{day}",
                        reviewer,
                        request_ids,
                        now,
                        period,
                    )
            except IntegrityError:
                result.skipped += 1  # another worker sent it just now
            except Exception:
                result.errors += 1
                log.exception("install requests: reminding user %s failed", reviewer)
            else:
                result.reminders += 1
