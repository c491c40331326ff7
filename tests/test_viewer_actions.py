"""The viewerCan… fields tell a console which actions to show: each answer is proven against
the mutation itself, asked right after, as the viewer, for every kind of viewer, listing and
app state (DESIGN §1 "Who may act"; CONSOLE.md)."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.models import ListingScope
from gateway.models.enums import InstallLevel, SubscriptionTier
from tests import factories as f
from tests.helpers import gid, gql

LISTING = """query($id: ID!) { node(id: $id) { ... on MarketplaceListing { viewerCanInstall } } }"""
APP = """query($id: ID!) { node(id: $id) { ... on ConnectedApp {
  viewerCanUninstall viewerCanReauthorize viewerCanManage } } }"""
INSTALL = """mutation($input: InstallAppInput!) { installApp(input: $input) {
  app { id } userErrors { code } } }"""
REAUTHORIZE = """mutation($input: ReauthorizeAppInput!) { reauthorizeApp(input: $input) {
  app { id } userErrors { code } } }"""
UNINSTALL = """mutation($input: UninstallAppInput!) { uninstallApp(input: $input) {
  app { id } userErrors { code } } }"""

PEOPLE: dict[str, f.Role] = {"Ada Admin": "admin", "Max Manager": "manager", "Mia Member": "member"}


async def field(client: httpx.AsyncClient, query: str, node: str, token: str) -> dict[str, Any]:
    body = await gql(client, query, {"id": node}, token=token)
    assert "errors" not in body, body
    return body["data"]["node"]


async def taken(
    client: httpx.AsyncClient, mutation: str, payload: dict[str, Any], token: str
) -> bool:
    body = await gql(client, mutation, {"input": payload}, token=token)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return not result["userErrors"]


async def test_viewer_can_install_says_whether_the_install_is_taken(client, settings) -> None:
    # given a PROFESSIONAL portal with a super admin, an app manager and a member, and listings
    # of every level, one of them needing ENTERPRISE
    tenant = await f.make_tenant(settings, people=PEOPLE)
    enterprise = [("vault.admin", SubscriptionTier.ENTERPRISE, True)]
    listings = {
        "portal": await f.make_listing(),
        "portal above the tier": await f.make_listing(scopes=enterprise),
        "user": await f.make_listing(level=InstallLevel.USER),
        "multi-account": await f.make_listing(level=InstallLevel.MULTI_ACCOUNT),
    }
    answers = []
    # when each person, member first, asks before each install (a second install of the same
    # listing by the next person meets what the first one did)
    for person in ("Mia Member", "Max Manager", "Ada Admin"):
        token = tenant.token(person)
        for kind, listing in listings.items():
            node = gid("MarketplaceListing", listing.id)
            says = (await field(client, LISTING, node, token))["viewerCanInstall"]
            payload: dict[str, Any] = {"listingId": node}
            if listing.install_level is InstallLevel.MULTI_ACCOUNT:
                payload["accountName"] = f"{person}'s account"
            did = await taken(client, INSTALL, payload, token)
            # then the field said exactly what the install did
            assert says == did, (person, kind)
            answers.append((person, kind, says))
    # and every case was met: refused for lack of permission, of tier, of anything new to do
    assert answers == [
        ("Mia Member", "portal", False),
        ("Mia Member", "portal above the tier", False),
        ("Mia Member", "user", True),
        ("Mia Member", "multi-account", False),
        ("Max Manager", "portal", True),
        ("Max Manager", "portal above the tier", False),
        ("Max Manager", "user", True),
        ("Max Manager", "multi-account", True),
        ("Ada Admin", "portal", False),  # installed by the manager meanwhile
        ("Ada Admin", "portal above the tier", False),
        ("Ada Admin", "user", True),
        ("Ada Admin", "multi-account", True),
    ]
    # and a user already connected to a user app may not install it again
    token = tenant.token("Mia Member")
    node = gid("MarketplaceListing", listings["user"].id)
    assert (await field(client, LISTING, node, token))["viewerCanInstall"] is False
    assert await taken(client, INSTALL, {"listingId": node}, token) is False


async def test_viewer_can_uninstall_and_reauthorize_say_whether_each_is_taken(
    client, settings
) -> None:
    # given an installed app whose listing has since asked for one more scope (an update is
    # available), in a portal with a super admin, an app manager and a member
    listing = await f.make_listing()
    tenant = await f.make_tenant(settings, people=PEOPLE, apps=[listing])
    await ListingScope.create(
        listing=listing,
        name="extra.read",
        description="extra.read access",
        required_tier=SubscriptionTier.FREE,
        required=False,
        position=1,
    )
    node = tenant.app_gid()
    answers = []
    # when each asks before reauthorizing, asks again before uninstalling (member, manager,
    # then the admin, who finds the app uninstalled)
    for person in ("Mia Member", "Max Manager", "Ada Admin"):
        token = tenant.token(person)
        before = await field(client, APP, node, token)
        reauthorized = await taken(client, REAUTHORIZE, {"appId": node}, token)
        between = await field(client, APP, node, token)
        again = await taken(client, REAUTHORIZE, {"appId": node}, token)
        uninstalled = await taken(client, UNINSTALL, {"appId": node}, token)
        # then each field said what its mutation then did
        assert before["viewerCanReauthorize"] == reauthorized, person
        assert between["viewerCanReauthorize"] == again, person
        assert between["viewerCanUninstall"] == uninstalled, person
        answers.append((person, reauthorized, again, uninstalled, before["viewerCanManage"]))
    assert answers == [
        ("Mia Member", False, False, False, False),
        # reauthorized once: nothing is left to reauthorize the second time
        ("Max Manager", True, False, True, True),
        ("Ada Admin", False, False, False, True),  # the permission, but no installed app now
    ]
