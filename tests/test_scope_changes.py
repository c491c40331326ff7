"""Scope changes (DESIGN §6 "Scope changes"), through the API: what reauthorize, reinstall and
the listing's `listing.scopes_changed` added and removed, kept with their log entries;
`pendingScopeChanges`, what a reauthorize would do now; and digests telling them."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.ids import decode_id
from gateway.models import AppLogEntry, GrantedScope, Notification
from gateway.models.enums import (
    InstallLevel,
    NotificationType,
    SubscriptionTier,
)
from gateway.worker import run_pass
from tests import factories as f
from tests.helpers import data, gid
from tests.test_events import _scope, envelope, now, published, scopes_event, send
from tests.test_mail import parts

F, S, P, E = (
    SubscriptionTier.FREE,
    SubscriptionTier.STARTER,
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.ENTERPRISE,
)
SCOPES = [("oauth", F, True), ("contacts.read", S, False), ("reports", P, False), ("ai", E, False)]

CHANGES = "scopeChanges { added removed }"
APP = f"""query($id: ID!) {{ node(id: $id) {{ ... on ConnectedApp {{
  updateAvailable viewerCanReauthorize pendingScopeChanges {{ added removed }}
  scopes {{ name state }}
  log(first: 50) {{ nodes {{ activity occurredAt user {{ name }} {CHANGES} }} }} }} }} }}"""
INSTALL = """mutation($input: InstallAppInput!) { installApp(input: $input) {
  app { id } userErrors { code field message } } }"""
UNINSTALL = """mutation($input: UninstallAppInput!) { uninstallApp(input: $input) {
  app { id } userErrors { code field message } } }"""
REAUTHORIZE = """mutation($input: ReauthorizeAppInput!) { reauthorizeApp(input: $input) {
  app { id viewerCanReauthorize pendingScopeChanges { added removed } }
  userErrors { code field message } } }"""


async def mutate(client: httpx.AsyncClient, document: str, input_: dict[str, Any], token: str):
    result = await data(client, document, {"input": input_}, token=token)
    return next(iter(result.values()))


async def view(client: httpx.AsyncClient, app_id: str, token: str) -> dict[str, Any]:
    node: dict[str, Any] = (await data(client, APP, {"id": app_id}, token=token))["node"]
    return node


def diff(added: list[str] | None = None, removed: list[str] | None = None) -> dict[str, Any]:
    return {"added": added or [], "removed": removed or []}


def log_of(node: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any] | None]]:
    """(activity, who, scope changes) per entry, newest first."""
    return [
        (n["activity"], n["user"]["name"] if n["user"] else None, n["scopeChanges"])
        for n in node["log"]["nodes"]
    ]


@pytest.fixture
async def tenant(app, settings) -> f.Tenant:
    return await f.make_tenant(
        settings,
        tier=P,
        people={"Ada Admin": "admin", "Max Manager": "manager", "Mia Member": "member"},
    )


async def install(client, tenant, listing, scopes: list[str] | None = None) -> str:
    input_: dict[str, Any] = {"listingId": gid("MarketplaceListing", listing.id)}
    if scopes is not None:
        input_["scopes"] = scopes
    done = await mutate(client, INSTALL, input_, tenant.token("Ada Admin"))
    assert done["userErrors"] == [], done
    app_id: str = done["app"]["id"]
    return app_id


# --- reauthorize ---------------------------------------------------------------------------


async def test_reauthorize_grants_what_is_pending_and_drops_grants_no_longer_requested(
    client, tenant, envelopes
):
    # Given an app holding oauth and contacts.read, whose listing then stops requesting
    # contacts.read and starts requesting files.read and reports
    listing = await f.make_listing("Pipes", InstallLevel.PORTAL, SCOPES)
    app_id = await install(client, tenant, listing, ["oauth", "contacts.read"])
    new = [_scope("oauth", "FREE", True), _scope("reports", "PROFESSIONAL")]
    new += [_scope("ai", "ENTERPRISE"), _scope("files.read")]
    await send(client, scopes_event(listing.id, new))
    admin, manager = tenant.token("Ada Admin"), tenant.token("Max Manager")

    # Then a reauthorize would grant the new scopes within the tier and drop the stale grant
    before = await view(client, app_id, admin)
    assert before["pendingScopeChanges"] == diff(["reports", "files.read"], ["contacts.read"])
    assert before["viewerCanReauthorize"] is True

    # When a manager reauthorizes one of them by name
    one = await mutate(client, REAUTHORIZE, {"appId": app_id, "scopes": ["reports"]}, manager)
    # Then that scope is granted and the stale grant goes too; files.read is still pending
    assert one["userErrors"] == []
    assert one["app"]["pendingScopeChanges"] == diff(["files.read"])
    held = GrantedScope.filter(app_id=decode_id(app_id, "ConnectedApp")).order_by("name")
    assert await held.values_list("name", flat=True) == ["oauth", "reports"]

    # When the rest is reauthorized
    rest = await mutate(client, REAUTHORIZE, {"appId": app_id}, manager)
    assert rest["app"] == {
        "id": app_id,
        "viewerCanReauthorize": False,
        "pendingScopeChanges": diff(),
    }

    # Then each REAUTHORIZED entry tells what it added and removed, after the listing's
    # SCOPES_CHANGED entry (no user) and the install's grants
    after = await view(client, app_id, admin)
    assert [s["state"] for s in after["scopes"]] == [
        "GRANTED",
        "GRANTED",
        "NEEDS_UPGRADE",
        "GRANTED",
    ]
    assert log_of(after) == [
        ("REAUTHORIZED", "Max Manager", diff(["files.read"])),
        ("REAUTHORIZED", "Max Manager", diff(["reports"], ["contacts.read"])),
        ("SCOPES_CHANGED", None, diff(["files.read"], ["contacts.read"])),
        ("INSTALLED", "Ada Admin", diff(["oauth", "contacts.read"])),
    ]
    # and nothing is left to do: a reauthorize without names is refused and changes nothing
    nothing = await mutate(client, REAUTHORIZE, {"appId": app_id}, manager)
    assert [e["code"] for e in nothing["userErrors"]] == ["INVALID"]
    assert len(log_of(await view(client, app_id, admin))) == 4


async def test_a_grant_no_longer_requested_is_enough_to_reauthorize(client, tenant):
    # Given an app whose every requested scope is granted, holding one the listing dropped
    listing = await f.make_listing("Dropper", InstallLevel.PORTAL, SCOPES[:2])
    app_id = await install(client, tenant, listing)
    await send(client, scopes_event(listing.id, [_scope("oauth", "FREE", True)]))
    admin = tenant.token("Ada Admin")
    node = await view(client, app_id, admin)
    # Then no update is available, yet a reauthorize would drop the grant, and may
    assert node["updateAvailable"] is False
    assert node["pendingScopeChanges"] == diff(removed=["contacts.read"])
    assert node["viewerCanReauthorize"] is True
    # and a member may not
    member = await view(client, app_id, tenant.token("Mia Member"))
    assert member["viewerCanReauthorize"] is False
    done = await mutate(client, REAUTHORIZE, {"appId": app_id}, admin)
    assert done["userErrors"] == [] and done["app"]["pendingScopeChanges"] == diff()
    assert log_of(await view(client, app_id, admin))[0] == (
        "REAUTHORIZED",
        "Ada Admin",
        diff(removed=["contacts.read"]),
    )


# --- reinstall -----------------------------------------------------------------------------


async def test_a_reinstall_tells_what_it_granted_and_what_the_app_held_before_but_not_now(
    client, tenant, envelopes
):
    # Given an app holding oauth, contacts.read and reports, then uninstalled
    listing = await f.make_listing("Comeback", InstallLevel.PORTAL, SCOPES)
    app_id = await install(client, tenant, listing, ["oauth", "contacts.read", "reports"])
    admin = tenant.token("Ada Admin")
    gone = await mutate(client, UNINSTALL, {"appId": app_id}, admin)
    assert gone["userErrors"] == []
    # Then the uninstalled app has nothing pending, and its UNINSTALLED entry keeps what went
    node = await view(client, app_id, admin)
    assert node["pendingScopeChanges"] == diff() and node["viewerCanReauthorize"] is False
    assert log_of(node)[0] == (
        "UNINSTALLED",
        "Ada Admin",
        diff(removed=["contacts.read", "oauth", "reports"]),
    )
    # When, meanwhile, the listing stops requesting reports and requests files.read (no entry
    # on the uninstalled app), and the app is reinstalled with every scope the tier allows
    new = [_scope("oauth", "FREE", True), _scope("contacts.read", "STARTER")]
    new += [_scope("ai", "ENTERPRISE"), _scope("files.read")]
    await send(client, scopes_event(listing.id, new))
    assert await install(client, tenant, listing) == app_id

    # Then REINSTALLED tells the grants made afresh, and what the app held before and not now
    node = await view(client, app_id, admin)
    assert log_of(node) == [
        ("REINSTALLED", "Ada Admin", diff(["oauth", "contacts.read", "files.read"], ["reports"])),
        ("UNINSTALLED", "Ada Admin", diff(removed=["contacts.read", "oauth", "reports"])),
        ("INSTALLED", "Ada Admin", diff(["oauth", "contacts.read", "reports"])),
    ]
    assert node["pendingScopeChanges"] == diff()


async def test_a_user_app_left_by_its_last_user_and_connected_again_tells_its_grants(
    client, tenant
):
    # Given a USER app, which its only connection's removal uninstalls
    listing = await f.make_listing("Personal", InstallLevel.USER, SCOPES[:2])
    app_id = await install(client, tenant, listing, ["oauth"])
    admin = tenant.token("Ada Admin")
    gone = await mutate(client, UNINSTALL, {"appId": app_id}, admin)
    assert gone["userErrors"] == []
    # When it is connected again with both scopes
    assert await install(client, tenant, listing, ["oauth", "contacts.read"]) == app_id
    # Then the reinstall added both and removed nothing the app held before
    assert log_of(await view(client, app_id, admin))[0] == (
        "REINSTALLED",
        "Ada Admin",
        diff(["oauth", "contacts.read"]),
    )


# --- the listing's changes -----------------------------------------------------------------


async def test_a_listing_change_of_names_logs_on_every_installed_app_and_is_published(
    client, settings, envelopes
):
    # Given a listing installed in a PROFESSIONAL and a STARTER portal, and installed then
    # uninstalled in a third
    listing = await f.make_listing("Shared", InstallLevel.PORTAL, SCOPES[:2])
    one = await f.make_tenant(settings, tier=P, apps=[listing])
    two = await f.make_tenant(settings, tier=S, apps=[listing])
    three = await f.make_tenant(settings, tier=P, apps=[listing])
    gone = three.apps["Shared"]
    gone.uninstalled_at = now()
    await gone.save()
    other = await f.make_tenant(settings, tier=P, apps=["Bystander"])
    (await envelopes.settled()).clear()

    # When only tiers and `required` change
    same_names = [_scope("oauth", "STARTER", False), _scope("contacts.read", "ENTERPRISE", True)]
    await send(client, scopes_event(listing.id, same_names))
    # Then nothing is logged and nothing published
    assert (
        await AppLogEntry.filter(activity="SCOPES_CHANGED")
        .filter(app__listing_id=listing.id)
        .count()
        == 0
    )
    assert await envelopes.settled() == []

    # When the names change
    at = now() - timedelta(minutes=3)
    changed = [_scope("contacts.read", "STARTER"), _scope("reports", "PROFESSIONAL")]
    changed += [_scope("ai", "ENTERPRISE")]
    await send(client, scopes_event(listing.id, changed, at))

    # Then each installed app gets one SCOPES_CHANGED entry, by no one, at the event's time,
    # telling the names added and removed; the uninstalled app and other apps get none
    entries = await AppLogEntry.filter(
        activity="SCOPES_CHANGED", app__listing_id=listing.id
    ).order_by("id")
    assert [e.app_id for e in entries] == [one.apps["Shared"].id, two.apps["Shared"].id]
    for tenant in (one, two):
        node = await view(
            client, gid("ConnectedApp", tenant.apps["Shared"].id), tenant.token("Ada Admin")
        )
        [latest, *_rest] = node["log"]["nodes"]
        assert latest["activity"] == "SCOPES_CHANGED" and latest["user"] is None
        assert latest["occurredAt"] == at.isoformat()
        assert latest["scopeChanges"] == diff(["reports", "ai"], ["oauth"])
    assert not await AppLogEntry.filter(app_id=gone.id, activity="SCOPES_CHANGED").exists()
    assert not await AppLogEntry.filter(
        app_id=other.apps["Bystander"].id, activity="SCOPES_CHANGED"
    ).exists()
    # and each is published to its own portal, without status changes
    assert published(await envelopes.settled()) == [envelope(e.portal_id, [e.id]) for e in entries]
    # and each portal sees what a reauthorize would do by its own tier
    for tenant, added in ((one, ["reports"]), (two, [])):
        node = await view(
            client, gid("ConnectedApp", tenant.apps["Shared"].id), tenant.token("Ada Admin")
        )
        assert node["pendingScopeChanges"] == diff(added, ["oauth"])


# --- digests -------------------------------------------------------------------------------


async def test_an_install_digest_tells_a_reinstall_s_scope_changes(
    client, tenant, settings, tmp_path: Path, app
):
    t = now() - timedelta(minutes=30)
    rule = await f.make_rule(
        tenant.portal, "Installs", NotificationType.APP_INSTALL, t, email=True, in_app=False
    )
    listing = await f.make_listing("Mailer", InstallLevel.PORTAL, SCOPES)
    app_id = await install(client, tenant, listing, ["oauth", "reports"])
    await mutate(client, UNINSTALL, {"appId": app_id}, tenant.token("Ada Admin"))
    await install(client, tenant, listing, ["oauth", "contacts.read"])

    mail = tmp_path / "mail"
    result = await run_pass(
        now() + timedelta(hours=2),
        settings.with_(smtp_url=None, mail_dir=str(mail)),
        app.state.publisher,
        "test-worker",
        portal_ids=[tenant.portal.id],
    )
    assert result.digests == 1
    [notification] = await Notification.filter(rule_id=rule.id)
    assert notification.entry_count == 2
    [digest] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in mail.glob("*.eml")
        if f"@{tenant.portal.id}.test" in p.read_text()  # the pass sends others' mail too
    ]
    body, rich = parts(digest)
    assert "Reinstalled (added: oauth, contacts.read; removed: reports) by Ada Admin" in body
    assert "Installed (added: oauth, reports) by Ada Admin" in body
    assert "Reinstalled (added: oauth, contacts.read; removed: reports)" in rich
