"""Install requests (DESIGN §6 "Install requests") through the API: asking, approving (which
installs), denying, cancelling, expiring by a worker pass with an injected clock, reminders,
who sees which request, and the refusals, each shown to change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway import demo as d
from gateway.auth import mint_token
from gateway.ids import decode_id
from gateway.models import (
    AppLogEntry,
    ConnectedApp,
    Delivery,
    InstallRequest,
    InstallRequestNote,
    Notification,
    NotificationRule,
    Portal,
)
from gateway.models.enums import (
    InstallLevel,
    InstallRequestStatus,
    NotificationAudience,
    NotificationFrequency,
    NotificationType,
    Permission,
    SubscriptionTier,
)
from gateway.settings import Settings
from gateway.worker import run_pass
from tests import factories as f
from tests.helpers import data, gid, gql, token_for

ADMIN, MANAGER, JORDAN, TAYLOR = "Ada Admin", "Max Manager", "Jordan Installer", "Taylor Notifier"
MIA, MOE = "Mia Member", "Moe Member"
FREE, STARTER, PRO, ENTERPRISE = (
    SubscriptionTier.FREE,
    SubscriptionTier.STARTER,
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.ENTERPRISE,
)

FIELDS = """id status justification scopes accountName createdAt expiresAt decidedAt decisionNote
  listing { name } requestedBy { name } decidedBy { name } app { name installedBy { name } }
  viewerCanDecide viewerCanCancel"""
REQUEST = f"""mutation($input: RequestAppInstallInput!) {{ requestAppInstall(input: $input) {{
  request {{ {FIELDS} }} userErrors {{ code message field }} }} }}"""
APPROVE = f"""mutation($input: DecideInstallRequestInput!) {{ approveInstallRequest(input: $input) {{
  request {{ {FIELDS} }} app {{ name status scopes {{ name state }} installedBy {{ name }}
  log(first: 5) {{ nodes {{ activity user {{ name }} }} }} }}
  userErrors {{ code message field }} }} }}"""
DENY = f"""mutation($input: DecideInstallRequestInput!) {{ denyInstallRequest(input: $input) {{
  request {{ {FIELDS} }} userErrors {{ code message field }} }} }}"""
CANCEL = f"""mutation($input: CancelInstallRequestInput!) {{ cancelInstallRequest(input: $input) {{
  request {{ {FIELDS} }} userErrors {{ code message field }} }} }}"""
POLICY = """mutation($input: UpdateInstallRequestPolicyInput!) {
  updateInstallRequestPolicy(input: $input) { policy { durationDays remindersEnabled }
  userErrors { code message field } } }"""
INSTALL = """mutation($input: InstallAppInput!) { installApp(input: $input) {
  app { name } userErrors { code message } } }"""
LIST = """query($status: InstallRequestStatus) { viewer { portal {
  installRequestPolicy { durationDays remindersEnabled }
  installRequests(first: 50, status: $status) { totalCount nodes { id status requestedBy { name }
  listing { name } } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename ... on InstallRequest { id status } } }"""
LISTING = """query($id: ID!) { node(id: $id) { ... on MarketplaceListing {
  viewerCanInstall viewerCanRequest viewerPendingRequest { id status } } } }"""
INBOX = """{ viewer { notifications(first: 50) { nodes { type rule { id } periodStart periodEnd
  entryCount entries { id } installRequestNotice installRequests { id status listing { name } } } } } }"""
CREATE_RULE = """mutation($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) { rule { id } userErrors { code message field } } }"""

# A pass's clock, well after anything the tests make with the real one.
LATER = datetime.now(UTC) + timedelta(days=400)


@pytest.fixture
async def made(app: object) -> AsyncIterator[list[int]]:
    """Portals a test made: deleted afterwards, with their requests and notices (so no other
    test's worker pass or outbox meets them)."""
    portals: list[int] = []
    yield portals
    await Portal.filter(id__in=portals).delete()


async def world(settings: Settings, made: list[int], tier: SubscriptionTier = PRO) -> f.Tenant:
    """A portal with a super admin, a manager (the app permissions), Jordan (INSTALL_APPS
    only), Taylor (MANAGE_NOTIFICATIONS only) and two members without permissions."""
    t = await f.make_tenant(
        settings,
        people={ADMIN: "admin", MANAGER: "manager", MIA: "member", MOE: "member"},
        tier=tier,
    )
    for name, held in (
        (JORDAN, Permission.INSTALL_APPS),
        (TAYLOR, Permission.MANAGE_NOTIFICATIONS),
    ):
        user = await f.make_user(t.portal, name, permissions=[held])
        t.people[name] = user
        t.tokens[name] = mint_token(user, settings)
    made.append(t.portal.id)
    return t


async def listing(
    level: InstallLevel = InstallLevel.PORTAL,
    scopes: list[tuple[str, SubscriptionTier, bool]] | None = None,
) -> Any:
    return await f.make_listing(
        level=level,
        scopes=scopes
        or [("base.read", FREE, True), ("deals.write", STARTER, False), ("bi", ENTERPRISE, False)],
    )


async def call(client: httpx.AsyncClient, mutation: str, token: str, **input: Any) -> Any:
    body = await gql(client, mutation, {"input": input}, token=token)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


async def ask(client, t: f.Tenant, who: str, target: Any, **extra: Any) -> dict[str, Any]:
    result = await call(
        client,
        REQUEST,
        t.token(who),
        listingId=gid("MarketplaceListing", target.id),
        justification=extra.pop("justification", "We need it for the quarterly pipeline review"),
        **extra,
    )
    assert result["userErrors"] == [], result
    return result["request"]


async def state(portal_id: int) -> dict[str, Any]:
    """Everything a refusal must leave as it was."""
    requests = await InstallRequest.filter(portal_id=portal_id).order_by("id")
    return {
        "requests": [
            (r.id, r.status, r.decided_by_id, r.decided_at, r.decision_note, r.app_id)
            for r in requests
        ],
        "notifications": await Notification.filter(portal_id=portal_id).count(),
        "deliveries": await Delivery.filter(portal_id=portal_id).count(),
        "apps": await ConnectedApp.filter(portal_id=portal_id).values_list("id", "uninstalled_at"),
        "log": await AppLogEntry.filter(portal_id=portal_id).count(),
        "policy": await Portal.filter(id=portal_id).values_list(
            "request_duration_days", "request_reminders"
        ),
    }


async def inbox(client, t: f.Tenant, who: str) -> list[dict[str, Any]]:
    return (await data(client, INBOX, token=t.token(who)))["viewer"]["notifications"]["nodes"]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z") if at.microsecond == 0 else at.isoformat()


# --- the life cycle ---------------------------------------------------------------------------


async def test_a_request_is_approved_by_a_reviewer_who_installs_it_with_the_requested_scopes(
    client, settings, made
):
    t = await world(settings, made)
    target = await listing()
    lid = gid("MarketplaceListing", target.id)
    # Before: Mia may ask, not install; the manager may install, not ask
    assert (await data(client, LISTING, {"id": lid}, token=t.token(MIA)))["node"] == {
        "viewerCanInstall": False,
        "viewerCanRequest": True,
        "viewerPendingRequest": None,
    }
    assert (await data(client, LISTING, {"id": lid}, token=t.token(MANAGER)))["node"][
        "viewerCanRequest"
    ] is False
    # When Mia asks for it with one optional scope besides the required one
    request = await ask(client, t, MIA, target, scopes=["base.read", "deals.write"])
    created = datetime.fromisoformat(request["createdAt"])
    assert request | {"id": None, "createdAt": None} == {
        "id": None,
        "status": "PENDING",
        "justification": "We need it for the quarterly pipeline review",
        "scopes": ["base.read", "deals.write"],
        "accountName": None,
        "createdAt": None,
        "expiresAt": iso(created + timedelta(days=30)),
        "decidedAt": None,
        "decisionNote": None,
        "listing": {"name": target.name},
        "requestedBy": {"name": MIA},
        "decidedBy": None,
        "app": None,
        "viewerCanDecide": False,
        "viewerCanCancel": True,
    }
    # Then the listing shows her pending request, and she may not ask again
    assert (await data(client, LISTING, {"id": lid}, token=t.token(MIA)))["node"] == {
        "viewerCanInstall": False,
        "viewerCanRequest": False,
        "viewerPendingRequest": {"id": request["id"], "status": "PENDING"},
    }
    # and every reviewer (the super admin, the manager, Jordan) was told, in the inbox; nobody else
    for who in (ADMIN, MANAGER, JORDAN):
        (notice,) = await inbox(client, t, who)
        assert notice == {
            "type": "INSTALL_REQUEST",
            "rule": None,
            "periodStart": request["createdAt"],
            "periodEnd": request["createdAt"],
            "entryCount": 0,
            "entries": [],
            "installRequestNotice": "NEW",
            "installRequests": [
                {"id": request["id"], "status": "PENDING", "listing": {"name": target.name}}
            ],
        }
    for who in (TAYLOR, MIA, MOE):
        assert await inbox(client, t, who) == []
    # and each notice waits in the email outbox too
    emails = await Delivery.filter(portal_id=t.portal.id, channel="EMAIL").count()
    assert emails == 3
    # When Jordan (INSTALL_APPS only) approves it with a note
    result = await call(client, APPROVE, t.token(JORDAN), requestId=request["id"], note="Go ahead")
    assert result["userErrors"] == []
    # Then the app is installed as installApp would: the requested scopes, Jordan as installer
    assert result["app"] == {
        "name": target.name,
        "status": "CONNECTED",
        "scopes": [
            {"name": "base.read", "state": "GRANTED"},
            {"name": "deals.write", "state": "GRANTED"},
            {"name": "bi", "state": "NEEDS_UPGRADE"},
        ],
        "installedBy": {"name": JORDAN},
        "log": {"nodes": [{"activity": "INSTALLED", "user": {"name": JORDAN}}]},
    }
    approved = result["request"]
    assert approved["status"] == "APPROVED"
    assert approved["decidedBy"] == {"name": JORDAN} and approved["decisionNote"] == "Go ahead"
    assert approved["app"] == {"name": target.name, "installedBy": {"name": JORDAN}}
    assert approved["viewerCanDecide"] is False
    # and Mia hears the outcome, once
    (outcome,) = await inbox(client, t, MIA)
    assert outcome["installRequestNotice"] == "OUTCOME"
    assert outcome["installRequests"] == [
        {"id": request["id"], "status": "APPROVED", "listing": {"name": target.name}}
    ]
    # and the listing is no longer askable
    assert (await data(client, LISTING, {"id": lid}, token=t.token(MIA)))["node"] == {
        "viewerCanInstall": False,
        "viewerCanRequest": False,
        "viewerPendingRequest": None,
    }


async def test_a_refused_approval_answers_the_installs_problems_and_leaves_the_request_pending(
    client, settings, made
):
    t = await world(settings, made)
    target = await listing(scopes=[("base.read", FREE, True), ("reports", PRO, True)])
    request = await ask(client, t, MIA, target)
    # When the portal moves down to STARTER before anyone decides
    await Portal.filter(id=t.portal.id).update(tier=STARTER)
    before = await state(t.portal.id)
    result = await call(client, APPROVE, t.token(ADMIN), requestId=request["id"])
    # Then the install's refusal is the answer, on the request
    assert result["request"] is None and result["app"] is None
    assert result["userErrors"] == [
        {
            "code": "NEEDS_UPGRADE",
            "message": "The required scope reports needs the PROFESSIONAL tier; this portal has STARTER",
            "field": ["input", "requestId"],
        }
    ]
    # and nothing changed: the request is still pending, nothing installed, nobody told
    assert await state(t.portal.id) == before
    # and once the tier is back, the same approval goes through
    await Portal.filter(id=t.portal.id).update(tier=PRO)
    result = await call(client, APPROVE, t.token(ADMIN), requestId=request["id"])
    assert result["userErrors"] == [] and result["request"]["status"] == "APPROVED"


async def test_a_denial_needs_a_note_and_tells_the_requester(client, settings, made):
    t = await world(settings, made)
    request = await ask(client, t, MIA, await listing())
    before = await state(t.portal.id)
    # A denial without a note is INVALID and changes nothing
    for note in (None, "   "):
        result = await call(client, DENY, t.token(MANAGER), requestId=request["id"], note=note)
        assert result["userErrors"] == [
            {
                "code": "INVALID",
                "message": "Write a note for the requester (1 to 500 characters)",
                "field": ["input", "note"],
            }
        ]
    result = await call(client, DENY, t.token(MANAGER), requestId=request["id"], note="x" * 501)
    assert [e["code"] for e in result["userErrors"]] == ["INVALID"]
    assert await state(t.portal.id) == before
    # With one, it is DENIED and Mia hears why
    result = await call(
        client, DENY, t.token(MANAGER), requestId=request["id"], note="  We use another CRM  "
    )
    denied = result["request"]
    assert (denied["status"], denied["decidedBy"], denied["decisionNote"]) == (
        "DENIED",
        {"name": MANAGER},
        "We use another CRM",
    )
    (outcome,) = await inbox(client, t, MIA)
    assert outcome["installRequestNotice"] == "OUTCOME"
    assert outcome["installRequests"][0]["status"] == "DENIED"
    # and a decided request takes no other decision
    before = await state(t.portal.id)
    for mutation, extra in ((APPROVE, {}), (DENY, {"note": "again"})):
        result = await call(client, mutation, t.token(ADMIN), requestId=request["id"], **extra)
        assert result["userErrors"] == [
            {
                "code": "CONFLICT",
                "message": "The request is denied already; only a pending request changes",
                "field": ["input", "requestId"],
            }
        ]
    result = await call(client, CANCEL, t.token(MIA), requestId=request["id"])
    assert [e["code"] for e in result["userErrors"]] == ["CONFLICT"]
    assert await state(t.portal.id) == before


async def test_the_requester_cancels_and_nobody_is_told(client, settings, made):
    t = await world(settings, made)
    target = await listing()
    request = await ask(client, t, MIA, target)
    told = await Notification.filter(portal_id=t.portal.id).count()
    # A reviewer may not cancel someone else's request, nor a requester decide their own
    before = await state(t.portal.id)
    result = await call(client, CANCEL, t.token(ADMIN), requestId=request["id"])
    assert result["userErrors"] == [
        {
            "code": "FORBIDDEN",
            "message": "Only the requester cancels a request; deny it instead",
            "field": ["input", "requestId"],
        }
    ]
    result = await call(client, APPROVE, t.token(MIA), requestId=request["id"])
    assert result["userErrors"] == [
        {
            "code": "FORBIDDEN",
            "message": "Requires the INSTALL_APPS permission",
            "field": ["input", "requestId"],
        }
    ]
    assert await state(t.portal.id) == before
    # The requester does
    result = await call(client, CANCEL, t.token(MIA), requestId=request["id"])
    assert result["userErrors"] == []
    assert (result["request"]["status"], result["request"]["decidedBy"]) == (
        "CANCELLED",
        {"name": MIA},
    )
    assert await Notification.filter(portal_id=t.portal.id).count() == told
    # and may ask again
    again = await ask(client, t, MIA, target)
    assert again["status"] == "PENDING"


def _pk(request: dict[str, Any]) -> int:
    pk = decode_id(request["id"], "InstallRequest")
    assert pk is not None
    return pk


# --- what may be asked ------------------------------------------------------------------------


async def test_what_cannot_be_asked_is_refused_and_changes_nothing(client, settings, made):
    t = await world(settings, made, tier=STARTER)
    user_app = await listing(level=InstallLevel.USER)
    upgrade = await listing(scopes=[("base.read", FREE, True), ("reports", PRO, True)])
    multi = await f.make_listing(level=InstallLevel.MULTI_ACCOUNT)
    installed = await listing()
    await f.install(t.portal, installed, t.people[ADMIN])
    plain = await listing()
    await ask(client, t, MIA, plain)
    before = await state(t.portal.id)
    cases = [
        # (who, listing, extra input, [(code, field, message start)])
        (
            MIA,
            user_app,
            {},
            [
                (
                    "INVALID",
                    ["input", "listingId"],
                    "Anyone may use this app: connect to it directly",
                )
            ],
        ),
        (
            MIA,
            upgrade,
            {},
            [("NEEDS_UPGRADE", ["input", "listingId"], "The required scope reports needs")],
        ),
        (
            MIA,
            plain,
            {},
            [("CONFLICT", ["input", "listingId"], "You already have a pending request")],
        ),
        (
            MIA,
            installed,
            {},
            [("CONFLICT", ["input", "listingId"], "The app is already installed")],
        ),
        (MIA, multi, {}, [("INVALID", ["input", "accountName"], "Name the external account")]),
        (
            MIA,
            plain,
            {"accountName": "@acme"},
            [
                ("INVALID", ["input", "accountName"], "Only multi-account apps"),
                ("CONFLICT", ["input", "listingId"], "You already have a pending request"),
            ],
        ),
        (
            MANAGER,
            await listing(),
            {},
            [("INVALID", ["input", "listingId"], "You hold INSTALL_APPS: install the app")],
        ),
        (
            MOE,
            await listing(),
            {"justification": " "},
            [("INVALID", ["input", "justification"], "Write why you need the app")],
        ),
        (
            MOE,
            await listing(),
            {"scopes": ["nope"]},
            [
                ("INVALID", ["input", "scopes", "0"], "The app does not request the scope 'nope'"),
                ("INVALID", ["input", "scopes"], "Required scopes cannot be left out: base.read"),
            ],
        ),
    ]
    for who, target, extra, expected in cases:
        input_ = {
            "listingId": gid("MarketplaceListing", target.id),
            "justification": "Needed",
        } | extra
        result = await call(client, REQUEST, t.token(who), **input_)
        assert result["request"] is None
        got = [(e["code"], e["field"]) for e in result["userErrors"]]
        assert sorted(got) == sorted((c, fld) for c, fld, _m in expected), (target.name, result)
        for error in result["userErrors"]:
            (start,) = [m for c, fld, m in expected if (c, fld) == (error["code"], error["field"])]
            assert error["message"].startswith(start), error
    # Not a listing id at all, or a listing that does not exist
    result = await call(
        client, REQUEST, t.token(MIA), listingId=gid("Portal", 1), justification="x"
    )
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [
        ("INVALID", ["input", "listingId"])
    ]
    result = await call(
        client, REQUEST, t.token(MIA), listingId=gid("MarketplaceListing", 10**9), justification="x"
    )
    assert [(e["code"], e["message"]) for e in result["userErrors"]] == [
        ("NOT_FOUND", "No such listing")
    ]
    assert await state(t.portal.id) == before


async def test_multi_account_requests_name_the_account_and_approval_connects_it(
    client, settings, made
):
    t = await world(settings, made)
    social = await f.make_listing(level=InstallLevel.MULTI_ACCOUNT)
    first = await ask(client, t, MIA, social, accountName="@acme-news")
    second = await ask(client, t, MIA, social, accountName="@acme-jobs")
    # The same account again (its case aside) is one pending request too many
    result = await call(
        client,
        REQUEST,
        t.token(MIA),
        listingId=gid("MarketplaceListing", social.id),
        justification="again",
        accountName="@ACME-NEWS",
    )
    assert [(e["code"], e["message"]) for e in result["userErrors"]] == [
        ("CONFLICT", "You already have a pending request for this account")
    ]
    # Approving the first connects that account, and leaves the other request pending
    result = await call(client, APPROVE, t.token(ADMIN), requestId=first["id"])
    assert result["userErrors"] == [] and result["app"]["status"] is None
    app = await ConnectedApp.get(portal_id=t.portal.id, listing_id=social.id)
    accounts = await app.connections.all().values_list("account_name", flat=True)
    assert accounts == ["@acme-news"]
    listed = await data(client, LIST, {"status": "PENDING"}, token=t.token(MIA))
    ids = [n["id"] for n in listed["viewer"]["portal"]["installRequests"]["nodes"]]
    assert ids == [second["id"]]
    # and an account already connected cannot be asked for
    result = await call(
        client,
        REQUEST,
        t.token(MOE),
        listingId=gid("MarketplaceListing", social.id),
        justification="me too",
        accountName="@Acme-News",
    )
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [
        ("CONFLICT", ["input", "accountName"])
    ]


async def test_an_install_by_other_means_approves_the_pending_requests(client, settings, made):
    t = await world(settings, made)
    target = await listing()
    mine, moes = await ask(client, t, MIA, target), await ask(client, t, MOE, target)
    # When the manager installs the listing from the marketplace
    result = await call(
        client, INSTALL, t.token(MANAGER), listingId=gid("MarketplaceListing", target.id)
    )
    assert result["userErrors"] == []
    # Then both pending requests are approved by the installer, pointing at the app
    for request in (mine, moes):
        row = await InstallRequest.get(id=_pk(request))
        assert row.status is InstallRequestStatus.APPROVED
        assert row.decided_by_id == t.people[MANAGER].id and row.app_id is not None
        assert row.pending_key is None
    # and each requester hears of it
    for who in (MIA, MOE):
        (outcome,) = await inbox(client, t, who)
        assert outcome["installRequestNotice"] == "OUTCOME"
        assert outcome["installRequests"][0]["status"] == "APPROVED"


# --- who sees which request -------------------------------------------------------------------


async def test_reviewers_see_every_request_others_their_own_and_no_portal_sees_anothers(
    client, settings, made
):
    t, other = await world(settings, made), await world(settings, made)
    target = await listing()
    mine, moes = await ask(client, t, MIA, target), await ask(client, t, MOE, target)
    # Reviewers see both, newest first; Mia her own; Taylor (no INSTALL_APPS) none
    for who, expected in (
        (ADMIN, [moes["id"], mine["id"]]),
        (JORDAN, [moes["id"], mine["id"]]),
        (MIA, [mine["id"]]),
        (TAYLOR, []),
    ):
        listed = (await data(client, LIST, token=t.token(who)))["viewer"]["portal"]
        page = listed["installRequests"]
        assert [n["id"] for n in page["nodes"]] == expected, who
        assert page["totalCount"] == len(expected)
        assert listed["installRequestPolicy"] == {"durationDays": 30, "remindersEnabled": True}
    # Someone else's request is not there for Mia, nor for anyone in another portal
    for token in (t.token(MIA), other.token(ADMIN)):
        assert (await data(client, NODE, {"id": moes["id"]}, token=token)) == {"node": None}
    assert (await data(client, NODE, {"id": mine["id"]}, token=t.token(MIA)))["node"] == {
        "__typename": "InstallRequest",
        "id": mine["id"],
        "status": "PENDING",
    }
    listed = (await data(client, LIST, token=other.token(ADMIN)))["viewer"]["portal"]
    assert listed["installRequests"] == {"totalCount": 0, "nodes": []}
    # and acting on it answers exactly as for a request that does not exist
    before = await state(t.portal.id)
    missing = gid("InstallRequest", 10**9)
    for token, target_id in (
        (t.token(MIA), moes["id"]),
        (other.token(ADMIN), moes["id"]),
        (t.token(ADMIN), missing),
    ):
        for mutation, extra in ((APPROVE, {}), (DENY, {"note": "no"}), (CANCEL, {})):
            result = await call(client, mutation, token, requestId=target_id, **extra)
            assert result["userErrors"] == [
                {
                    "code": "NOT_FOUND",
                    "message": "No such install request",
                    "field": ["input", "requestId"],
                }
            ]
    assert await state(t.portal.id) == before


# --- expiry and reminders, with an injected clock ---------------------------------------------


async def test_requests_expire_after_the_policys_days_by_a_worker_pass(app, client, settings, made):
    t = await world(settings, made)
    # The policy: only super admins set it, within 1 to 90 days
    before = await state(t.portal.id)
    result = await call(client, POLICY, t.token(MANAGER), durationDays=7)
    assert [e["code"] for e in result["userErrors"]] == ["FORBIDDEN"]
    for days in (0, 91):
        result = await call(client, POLICY, t.token(ADMIN), durationDays=days)
        assert result["userErrors"] == [
            {
                "code": "INVALID",
                "message": "durationDays is 1 to 90 days",
                "field": ["input", "durationDays"],
            }
        ]
    assert await state(t.portal.id) == before
    old = await ask(client, t, MIA, await listing())
    result = await call(client, POLICY, t.token(ADMIN), durationDays=7)
    assert result == {"policy": {"durationDays": 7, "remindersEnabled": True}, "userErrors": []}
    new = await ask(client, t, MOE, await listing())
    # A change of the policy affects new requests only
    assert _expiry(new) - _created(new) == timedelta(days=7)
    assert _expiry(old) - _created(old) == timedelta(days=30)
    # A pass just before the new request's time expires nothing
    passed = await run_pass(
        _expiry(new) - timedelta(seconds=1),
        settings,
        app.state.publisher,
        "test-requests",
        portal_ids=[t.portal.id],
        only="install-requests",
    )
    assert passed.requests_expired == 0
    # One at its expiresAt expires it and tells Moe; a second pass does nothing more
    for expected in (1, 0):
        passed = await run_pass(
            _expiry(new),
            settings,
            app.state.publisher,
            "test-requests",
            portal_ids=[t.portal.id],
            only="install-requests",
        )
        assert passed.requests_expired == expected
    row = await InstallRequest.get(id=_pk(new))
    assert (row.status, row.decided_at, row.pending_key) == (
        InstallRequestStatus.EXPIRED,
        _expiry(new),
        None,
    )
    (outcome,) = [n for n in await inbox(client, t, MOE) if n["installRequestNotice"] == "OUTCOME"]
    assert outcome["installRequests"][0]["status"] == "EXPIRED"
    assert await InstallRequest.get(id=_pk(old)).values_list("status", flat=True) == "PENDING"


async def test_a_decision_after_expires_at_before_the_pass_expires_it_and_conflicts(
    app, client, settings, made
):
    t = await world(settings, made)
    request = await ask(client, t, MIA, await listing())
    # Its time comes (the clock of the API is the real one: move the request back instead)
    await InstallRequest.filter(id=_pk(request)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    result = await call(client, APPROVE, t.token(ADMIN), requestId=request["id"])
    assert result["request"] is None
    (error,) = result["userErrors"]
    assert (error["code"], error["field"]) == ("CONFLICT", ["input", "requestId"])
    assert error["message"].startswith("The request expired at ")
    # It is EXPIRED now, nothing was installed, and Mia was told once
    row = await InstallRequest.get(id=_pk(request))
    assert row.status is InstallRequestStatus.EXPIRED
    assert not await ConnectedApp.filter(portal_id=t.portal.id).exists()
    outcomes = [n for n in await inbox(client, t, MIA) if n["installRequestNotice"] == "OUTCOME"]
    assert len(outcomes) == 1
    # A later decision is a plain conflict, and the pass finds nothing to do
    result = await call(client, DENY, t.token(ADMIN), requestId=request["id"], note="late")
    assert result["userErrors"][0]["message"].startswith("The request is expired already")
    passed = await run_pass(
        LATER,
        settings,
        app.state.publisher,
        "test-requests",
        portal_ids=[t.portal.id],
        only="install-requests",
    )
    assert passed.requests_expired == 0
    assert (
        len([n for n in await inbox(client, t, MIA) if n["installRequestNotice"] == "OUTCOME"]) == 1
    )


async def test_reviewers_get_one_reminder_a_local_day_of_requests_waiting_over_a_day(
    app, client, settings, made
):
    t = await world(settings, made)
    await Portal.filter(id=t.portal.id).update(timezone="America/New_York")
    waiting = await ask(client, t, MIA, await listing())
    fresh = await ask(client, t, MOE, await listing())
    # Requests made at known instants: Mia's two days ago, Moe's an hour ago, as of `at`
    at = datetime(2030, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York (EDT)
    await InstallRequest.filter(id=_pk(waiting)).update(
        created_at=at - timedelta(days=2), expires_at=at + timedelta(days=28)
    )
    await InstallRequest.filter(id=_pk(fresh)).update(
        created_at=at - timedelta(hours=1), expires_at=at + timedelta(days=30)
    )

    async def once(when: datetime) -> int:
        done = await run_pass(
            when,
            settings,
            app.state.publisher,
            "test-requests",
            portal_ids=[t.portal.id],
            only="install-requests",
        )
        return done.request_reminders

    # A pass sends each of the three reviewers one reminder, of Mia's request only
    assert await once(at) == 3
    for who in (ADMIN, MANAGER, JORDAN):
        reminders = [
            n for n in await inbox(client, t, who) if n["installRequestNotice"] == "REMINDER"
        ]
        assert len(reminders) == 1
        (reminder,) = reminders
        assert [r["id"] for r in reminder["installRequests"]] == [waiting["id"]]
        # its period: that day in New York
        assert (reminder["periodStart"], reminder["periodEnd"]) == (
            "2030-03-10T05:00:00+00:00",
            "2030-03-11T04:00:00+00:00",  # the clocks went forward that night: a 23-hour day
        )
    # Later that local day: nothing more, though Moe's request has waited a day by then
    assert await once(at + timedelta(hours=12, minutes=59)) == 0
    # The next local day: one more each, of both
    assert await once(at + timedelta(hours=13, minutes=1)) == 3
    # With reminders off: none
    await call(client, POLICY, t.token(ADMIN), remindersEnabled=False)
    assert await once(at + timedelta(days=2)) == 0
    # Exactly one reminder per reviewer per day was ever made
    keys = await InstallRequestNote.filter(
        notification__portal_id=t.portal.id, kind="REMINDER"
    ).values_list("key", flat=True)
    assert len(keys) == len(set(keys)) == 6


async def test_install_request_passes_never_move_a_rules_cut(app, settings, made):
    t = await world(settings, made)
    cut = datetime(2030, 1, 1, tzinfo=UTC)
    rule = await NotificationRule.create(
        portal=t.portal,
        name="Installs",
        sort_name="installs",
        type=NotificationType.APP_INSTALL,
        frequency=NotificationFrequency.DAILY,
        all_apps=True,
        audience=NotificationAudience.SUPER_ADMINS,
        email=False,
        in_app=True,
        created_at=cut,
        updated_at=cut,
        cut_at=cut,
    )
    # A digest would be due at this instant; passes of the other parts leave it due
    at = cut + timedelta(days=3)
    for only in ("install-requests", "mail"):
        await run_pass(at, settings, app.state.publisher, "t", portal_ids=[t.portal.id], only=only)
        assert (await NotificationRule.get(id=rule.id)).cut_at == cut
    await run_pass(at, settings, app.state.publisher, "t", portal_ids=[t.portal.id], only="digests")
    assert (await NotificationRule.get(id=rule.id)).cut_at > cut


async def test_a_rule_cannot_have_the_install_request_type(client, settings, made):
    t = await world(settings, made)
    result = await call(
        client,
        CREATE_RULE,
        t.token(ADMIN),
        name="Requests",
        type="INSTALL_REQUEST",
        frequency="DAILY",
        allApps=True,
        audience="SUPER_ADMINS",
        channels=["IN_APP"],
    )
    assert result == {
        "rule": None,
        "userErrors": [
            {
                "code": "INVALID",
                "message": "INSTALL_REQUEST notifications come from install requests, not rules",
                "field": ["input", "type"],
            }
        ],
    }
    assert not await NotificationRule.filter(portal_id=t.portal.id).exists()


def _created(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["createdAt"])


def _expiry(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["expiresAt"])


# --- the demo -----------------------------------------------------------------------------------

DEMO_LIST = """{ viewer { portal { installRequests { nodes { status requestedBy { email }
  listing { slug } decidedBy { email } decisionNote } } } } }"""


async def test_the_demo_holds_a_pending_an_expired_and_a_denied_request(client, settings, demo):
    admin = await token_for(settings, d.ADMIN_EMAIL, d.ACME_NAME)
    listed = (await data(client, DEMO_LIST, token=admin))["viewer"]["portal"]["installRequests"]
    assert [
        (n["status"], n["requestedBy"]["email"], n["listing"]["slug"], n["decidedBy"])
        for n in listed["nodes"]
    ] == [
        ("PENDING", "sam@demo.example", "taskboard", None),
        ("DENIED", d.MEMBER_EMAIL, "payport", {"email": d.ADMIN_EMAIL}),
        ("EXPIRED", d.MEMBER2_EMAIL, "eventry", None),
    ]
    # Sam sees only his own; Globex sees none of them
    sam = await token_for(settings, "sam@demo.example", d.ACME_NAME)
    mine = (await data(client, DEMO_LIST, token=sam))["viewer"]["portal"]["installRequests"]
    assert [n["status"] for n in mine["nodes"]] == ["PENDING"]
    globex = await token_for(settings, d.GLOBEX_ADMIN_EMAIL)
    theirs = (await data(client, DEMO_LIST, token=globex))["viewer"]["portal"]["installRequests"]
    assert theirs == {"nodes": []}
    # Jordan (INSTALL_APPS only) may decide the pending one; Taylor may not see it
    for email, count in (("jordan@demo.example", 3), ("taylor@demo.example", 0)):
        token = await token_for(settings, email, d.ACME_NAME)
        seen = (await data(client, DEMO_LIST, token=token))["viewer"]["portal"]["installRequests"]
        assert len(seen["nodes"]) == count, email
