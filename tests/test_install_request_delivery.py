"""How install requests reach people: `installRequestChanged` over a real WebSocket, the notices
by real SMTP (aiosmtpd), and `gateway worker --once --now T --only …` as real processes (one
part alone, rules' cuts untouched; two workers racing on PostgreSQL send one reminder each)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.ids import decode_id, to_global_id
from gateway.models import (
    Delivery,
    InstallRequest,
    InstallRequestNote,
    MarketplaceListing,
    Notification,
    NotificationRule,
    Portal,
)
from gateway.models.enums import (
    DeliveryStatus,
    InstallRequestStatus,
    NotificationAudience,
    NotificationChannel,
    NotificationFrequency,
    NotificationType,
)
from gateway.services.mail import send_due
from gateway.settings import Settings
from tests import factories as f
from tests.conftest import PG_URL
from tests.live_support import WSClient, until_subscribed, uvicorn_serving
from tests.test_mail import Server, parts, start_server, with_smtp
from tests.worker_support import GATEWAY, Database

ADMIN, MANAGER, MIA, MOE = "Ada Admin", "Max Manager", "Mia Member", "Moe Member"
CHANGED = """subscription { installRequestChanged { id status requestedBy { name }
  listing { name } decidedBy { name } viewerCanDecide viewerCanCancel } }"""
REQUEST = """mutation($input: RequestAppInstallInput!) { requestAppInstall(input: $input) {
  request { id } userErrors { code message } } }"""
DENY = """mutation($input: DecideInstallRequestInput!) { denyInstallRequest(input: $input) {
  request { id status } userErrors { code message } } }"""
APPROVE = """mutation($input: DecideInstallRequestInput!) { approveInstallRequest(input: $input) {
  request { id status } userErrors { code message } } }"""


async def tenant(settings: Settings) -> f.Tenant:
    return await f.make_tenant(
        settings, people={ADMIN: "admin", MANAGER: "manager", MIA: "member", MOE: "member"}
    )


async def post(http: httpx.AsyncClient, query: str, token: str, **input: Any) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"input": input}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    (result,) = body["data"].values()
    assert result["userErrors"] == [], result
    return result


@pytest.fixture
async def portals(app: object) -> AsyncIterator[list[int]]:
    made: list[int] = []
    yield made
    await Portal.filter(id__in=made).delete()


# --- live -------------------------------------------------------------------------------------


async def test_install_request_changes_reach_reviewers_and_the_requester_over_a_websocket(
    app, settings, portals
):
    t, other = await tenant(settings), await tenant(settings)
    portals += [t.portal.id, other.portal.id]
    target = await f.make_listing()
    async with uvicorn_serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        async with (
            WSClient.connect(base, t.token(ADMIN)) as reviewer,
            WSClient.connect(base, t.token(MIA)) as requester,
            WSClient.connect(base, t.token(MOE)) as colleague,
            WSClient.connect(base, other.token(ADMIN)) as outsider,
        ):
            ops = {ws: await ws.subscribe(CHANGED) for ws in (reviewer, requester, colleague)}
            await outsider.subscribe(CHANGED)
            await until_subscribed(app.state.hub, t.gid, 3)
            await until_subscribed(app.state.hub, other.gid, 1)
            # When Mia asks, over real HTTP
            made = await post(
                http,
                REQUEST,
                t.token(MIA),
                listingId=to_global_id("MarketplaceListing", target.id),
                justification="For the sales team",
            )
            rid = made["request"]["id"]
            asked = {
                "id": rid,
                "status": "PENDING",
                "requestedBy": {"name": MIA},
                "listing": {"name": target.name},
                "decidedBy": None,
            }
            # Then the reviewer and Mia get it, each with what they may do
            assert await reviewer.next(ops[reviewer]) == {
                "data": {
                    "installRequestChanged": asked
                    | {"viewerCanDecide": True, "viewerCanCancel": False}
                }
            }
            assert await requester.next(ops[requester]) == {
                "data": {
                    "installRequestChanged": asked
                    | {"viewerCanDecide": False, "viewerCanCancel": True}
                }
            }
            # When the manager denies it
            await post(http, DENY, t.token(MANAGER), requestId=rid, note="Not this quarter")
            for ws in (reviewer, requester):
                change = (await ws.next(ops[ws]))["data"]["installRequestChanged"]
                assert (change["status"], change["decidedBy"]) == ("DENIED", {"name": MANAGER})
            # and a colleague who is no reviewer, and another portal, heard nothing of either
            await colleague.nothing()
            await outsider.nothing()


# --- email ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Server]:
    controller, server = start_server()
    yield server
    controller.stop()


@pytest.fixture
async def smtp(app, settings, smtp_server, tmp_path_factory) -> Server:
    # An empty outbox to start from: what earlier tests left open goes to a scratch folder.
    scratch = settings.with_(smtp_url=None, mail_dir=str(tmp_path_factory.mktemp("drained")))
    await send_due(datetime(2100, 1, 1, tzinfo=UTC), scratch, "test-drain")
    smtp_server.handler.reset()
    return smtp_server


async def test_each_notice_is_emailed_once_with_its_own_text(client, settings, smtp, portals):
    t = await tenant(settings)
    portals.append(t.portal.id)
    await Portal.filter(id=t.portal.id).update(timezone="America/New_York")
    target = await f.make_listing("Deal Desk")
    made = await post(
        client,
        REQUEST,
        t.token(MIA),
        listingId=gid_of(target),
        justification="Quotes take us <2 days> by hand",
    )
    rid = made["request"]["id"]
    mailer = with_smtp(settings, smtp.url)
    send = lambda: send_due(datetime.now(UTC) + timedelta(minutes=1), mailer, "test-mail")  # noqa: E731
    # The two reviewers get the new request by email
    assert (await send()).sent == 2
    got = {m.rcpt_tos[0]: m.message for m in smtp.handler.delivered}
    reviewers = [t.people[ADMIN], t.people[MANAGER]]
    assert sorted(got) == sorted(u.email for u in reviewers)
    pk = decode_id(rid, "InstallRequest")
    for user in reviewers:
        message = got[user.email]
        assert str(message["Subject"]).strip() == f"Install request: {MIA} asks for Deal Desk"
        assert message["Message-ID"] == f"<install-request.new.{pk}.{user.id}@acme.example>"
        assert message["Auto-Submitted"] == "auto-generated"
        text, rich = parts(message)
        assert f"{MIA} asks to install Deal Desk in {t.portal.name}." in text
        assert "Why: Quotes take us <2 days> by hand" in text
        assert "Quotes take us &lt;2 days&gt; by hand" in rich
        assert "https://console.acme.example/settings/connected-apps/requests" in text
    # Sent once: a second pass sends nothing
    assert (await send()).sent == 0
    # When it is approved, Mia gets the outcome
    smtp.handler.reset()
    await post(client, APPROVE, t.token(ADMIN), requestId=rid, note="Enjoy")
    assert (await send()).sent == 1
    (received,) = smtp.handler.delivered
    assert received.rcpt_tos == [t.people[MIA].email]
    assert (
        str(received.message["Subject"]).strip()
        == "Your install request for Deal Desk was approved"
    )
    text, _rich = parts(received.message)
    assert f"Decided by {ADMIN}." in text and "Note: Enjoy" in text
    assert (
        await Delivery.filter(portal_id=t.portal.id, channel=NotificationChannel.EMAIL)
        .exclude(status=DeliveryStatus.SENT)
        .count()
        == 0
    )


def gid_of(listing: MarketplaceListing) -> str:
    return to_global_id("MarketplaceListing", listing.id)


# --- worker processes ---------------------------------------------------------------------------

# A request made long before the pass, which expires at EXPIRY; a rule whose digest is due then.
MADE = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
EXPIRY = MADE + timedelta(days=30)
NOW = EXPIRY + timedelta(minutes=5)


async def scenario() -> dict[str, Any]:
    """A portal with two reviewers and a member; a request of the member that waits (made
    long ago, expiring later) and one that is past its time; a daily rule due at NOW."""
    t = await f.make_tenant(people={ADMIN: "admin", MANAGER: "manager", MIA: "member"})
    listing_a, listing_b = await f.make_listing(), await f.make_listing()
    mia = t.people[MIA]
    ids = []
    for target, expires in ((listing_a, NOW + timedelta(days=5)), (listing_b, EXPIRY)):
        request = await InstallRequest.create(
            portal_id=t.portal.id,
            listing_id=target.id,
            requested_by_id=mia.id,
            justification="Needed",
            status=InstallRequestStatus.PENDING,
            created_at=MADE,
            expires_at=expires,
            pending_key=InstallRequest.key_for(mia.id, target.id, None),
        )
        ids.append(request.id)
    cut = NOW - timedelta(days=3)
    rule = await NotificationRule.create(
        portal=t.portal,
        name="Installs",
        sort_name="installs",
        type=NotificationType.APP_INSTALL,
        frequency=NotificationFrequency.DAILY,
        all_apps=True,
        audience=NotificationAudience.SUPER_ADMINS,
        email=True,
        in_app=True,
        created_at=cut,
        updated_at=cut,
        cut_at=cut,
    )
    return {
        "portal": to_global_id("Portal", t.portal.id),
        "portal_id": t.portal.id,
        "requests": ids,
        "rule": rule.id,
        "cut": cut.isoformat(),
    }


async def outcome(portal_id: int) -> dict[str, Any]:
    requests = await InstallRequest.filter(portal_id=portal_id).order_by("id")
    notes = await InstallRequestNote.filter(notification__portal_id=portal_id).values_list(
        "kind", "key"
    )
    rule = await NotificationRule.get(portal_id=portal_id)
    emails = await Delivery.filter(portal_id=portal_id, channel=NotificationChannel.EMAIL)
    return {
        "statuses": [r.status.value for r in requests],
        "notes": sorted(f"{k.value}:{key.split(':', 1)[1]}" for k, key in notes),
        "reminders": sum(1 for k, _key in notes if k.value == "REMINDER"),
        "notifications": await Notification.filter(portal_id=portal_id).count(),
        "cut": rule.cut_at.astimezone(UTC).isoformat(),
        "emails": sorted(d.status.value for d in emails),
    }


@pytest.fixture
async def sqlite_file(app, tmp_path) -> Database:
    where = Database(
        f"sqlite://{tmp_path / 'requests.sqlite3'}",
        False,
        tmp_path,
        functions="tests.test_install_request_delivery",
    )
    where.migrate()
    return where


async def once(where: Database, *args: str, **env: str) -> str:
    """`gateway worker --once` with `args`: its summary line."""
    code, out, err = await where.worker("--once", *args, **env)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.mark.one_executor
async def test_worker_only_modes_run_their_part_alone_and_leave_the_cut(sqlite_file):
    where = sqlite_file
    made = await where.call("scenario")
    portal = made["portal"]
    start = await where.call("outcome", made["portal_id"])
    assert start["statuses"] == ["PENDING", "PENDING"] and start["cut"] == made["cut"]
    # --only install-requests: the late request expires (Mia told), both reviewers are
    # reminded of the waiting one; no digest, no email sent, the rule's cut where it was
    summary = await once(where, "--now", iso(NOW), "--portal", portal, "--only", "install-requests")
    assert "0 digests" in summary and "emails: 0 sent" in summary
    assert "install requests: 1 expired, 2 reminders" in summary
    after = await where.call("outcome", made["portal_id"])
    assert after["statuses"] == ["PENDING", "EXPIRED"]
    assert after["reminders"] == 2 and after["cut"] == made["cut"]
    assert after["emails"] == ["PENDING"] * 3
    # Again the same day: nothing more
    summary = await once(
        where,
        "--now",
        iso(NOW + timedelta(hours=1)),
        "--portal",
        portal,
        "--only",
        "install-requests",
    )
    assert "install requests: 0 expired, 0 reminders" in summary
    assert await where.call("outcome", made["portal_id"]) == after
    # --only mail: the three emails go, nothing else happens
    summary = await once(where, "--now", iso(NOW), "--only", "mail")
    assert "emails: 3 sent" in summary and "0 digests" in summary
    mailed = await where.call("outcome", made["portal_id"])
    assert mailed == after | {"emails": ["SENT"] * 3}
    assert len(list((where.tmp / "mail").glob("*.eml"))) == 3
    # --only digests: the rule's cut moves (nothing matched), requests and mail untouched
    summary = await once(where, "--now", iso(NOW), "--portal", portal, "--only", "digests")
    assert "install requests: 0 expired, 0 reminders" in summary
    final = await where.call("outcome", made["portal_id"])
    assert final["cut"] != made["cut"]
    assert final == mailed | {"cut": final["cut"]}


@pytest.mark.one_executor
def test_only_needs_once_and_a_known_part(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite://{tmp_path / 'none.sqlite3'}"
    for args, why in (
        (["--only", "mail"], "--only needs --once"),
        (["--once", "--only", "everything"], "invalid choice"),
    ):
        done = subprocess.run(
            [GATEWAY, "worker", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and why in done.stderr, done.stderr
    assert not (tmp_path / "none.sqlite3").exists()


@pytest.mark.postgres
@pytest.mark.one_executor
async def test_two_workers_racing_on_postgresql_remind_each_reviewer_once(app, tmp_path):
    assert PG_URL is not None
    where = Database(PG_URL, True, tmp_path, functions="tests.test_install_request_delivery")
    made = await where.call("scenario")
    try:
        # Both hold 0.3 s before each reminder, so they reach the same ones together
        slow = {
            "GATEWAY_TEST_PAUSE_AT": "requests:before-remind",
            "GATEWAY_TEST_PAUSE_SECONDS": "0.3",
        }
        args = ("--now", iso(NOW), "--portal", made["portal"], "--only", "install-requests")
        summaries = await asyncio.gather(once(where, *args, **slow), once(where, *args, **slow))
        after = await where.call("outcome", made["portal_id"])
        # One expiry, one reminder per reviewer, one outcome: whoever won each race
        assert after["statuses"] == ["PENDING", "EXPIRED"]
        assert after["reminders"] == 2
        assert after["notifications"] == 3
        sent = [
            int(s.split("install requests: ")[1].split(" expired, ")[1].split()[0])
            for s in summaries
        ]
        assert sum(sent) == 2, summaries
    finally:
        await Portal.filter(id=made["portal_id"]).delete()
