"""Tenant isolation: another portal's objects are unreachable by every path, and ids give
nothing away (a foreign id answers exactly like one that does not exist)."""

from __future__ import annotations

import pytest

from gateway import demo as d
from gateway.models import AppLogEntry, Notification, NotificationRule, Team
from tests.helpers import data, gid, token_for

pytestmark = pytest.mark.usefixtures("demo")

MISSING_APP = gid("ConnectedApp", 10**9)


@pytest.fixture
async def globex(settings):
    return await token_for(settings, d.GLOBEX_ADMIN_EMAIL)


async def acme_ids(demo) -> list[str]:
    entry = await AppLogEntry.filter(portal_id=demo.acme_portal_id).first()
    rule = await NotificationRule.filter(portal_id=demo.acme_portal_id).first()
    team = await Team.filter(portal_id=demo.acme_portal_id).first()
    notification = await Notification.filter(portal_id=demo.acme_portal_id).first()
    assert entry is not None and rule is not None
    assert team is not None and notification is not None
    return [
        gid("Portal", demo.acme_portal_id),
        gid("User", demo.user_ids[d.ADMIN_EMAIL]),
        gid("ConnectedApp", demo.app_ids["contactsync"]),
        gid("AppLogEntry", entry.id),
        gid("NotificationRule", rule.id),
        gid("Team", team.id),
        gid("Notification", notification.id),
    ]


async def test_globex_sees_only_globex(client, globex):
    result = await data(
        client,
        """{ viewer { portal { name tier appSummary { total }
             connectedApps { nodes { name } } appLog(first: 100) { totalCount nodes { app { name } } }
             users { nodes { email } } notificationRules { nodes { name } } } } }""",
        token=globex,
    )
    portal = result["viewer"]["portal"]
    assert portal["name"] == "Globex" and portal["tier"] == "STARTER"
    assert [n["name"] for n in portal["connectedApps"]["nodes"]] == [
        "Chirp",
        "ContactSync",
        "LiveChat Widget",
        "TeamChat",
    ]
    assert {u["email"] for u in portal["users"]["nodes"]} == {
        d.GLOBEX_ADMIN_EMAIL,
        "hans@globex.example",
    }
    assert [r["name"] for r in portal["notificationRules"]["nodes"]] == [
        "Weekly disconnect summary"
    ]
    assert portal["appLog"]["totalCount"] == 32  # TeamChat's SCOPES_CHANGED among them
    assert {n["app"]["name"] for n in portal["appLog"]["nodes"]} <= {
        "Chirp",
        "ContactSync",
        "LiveChat Widget",
        "TeamChat",
    }


async def test_foreign_ids_resolve_like_missing_ones(client, globex, demo):
    ids = await acme_ids(demo)
    result = await data(
        client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, token=globex
    )
    assert result == {"nodes": [None] * len(ids)}
    for one in ids:
        assert await data(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": one}, token=globex
        ) == {"node": None}


async def test_shared_listing_is_visible_to_both(client, globex, demo):
    # The catalogue is global: a listing id resolves for anyone
    listing = gid("MarketplaceListing", demo.listing_ids["contactsync"])
    result = await data(
        client,
        "query($id: ID!) { node(id: $id) { ... on MarketplaceListing { slug } } }",
        {"id": listing},
        token=globex,
    )
    assert result == {"node": {"slug": "contactsync"}}


LOG_BY_APP = """query($apps: [ID!], $users: [ID!]) { viewer { portal {
  appLog(filter: {appIds: $apps, userIds: $users}) { totalCount nodes { id } } } } }"""


async def test_filters_naming_foreign_ids_match_nothing_like_missing_ids(client, globex, demo):
    foreign_app = gid("ConnectedApp", demo.app_ids["contactsync"])
    foreign_user = gid("User", demo.user_ids[d.ADMIN_EMAIL])
    missing_user = gid("User", 10**9)
    with_foreign = await data(client, LOG_BY_APP, {"apps": [foreign_app]}, token=globex)
    with_missing = await data(client, LOG_BY_APP, {"apps": [MISSING_APP]}, token=globex)
    assert (
        with_foreign
        == with_missing
        == {"viewer": {"portal": {"appLog": {"totalCount": 0, "nodes": []}}}}
    )
    by_foreign_user = await data(client, LOG_BY_APP, {"users": [foreign_user]}, token=globex)
    by_missing_user = await data(client, LOG_BY_APP, {"users": [missing_user]}, token=globex)
    assert by_foreign_user == by_missing_user
    assert by_foreign_user["viewer"]["portal"]["appLog"]["totalCount"] == 0


async def test_an_acme_app_log_filter_cannot_reach_into_globex(client, settings, demo):
    # Acme's admin names Globex's ContactSync app (same listing, another portal's app)
    acme = await token_for(settings, d.ADMIN_EMAIL)
    foreign = gid("ConnectedApp", demo.globex_app_ids["contactsync"])
    result = await data(client, LOG_BY_APP, {"apps": [foreign]}, token=acme)
    assert result["viewer"]["portal"]["appLog"] == {"totalCount": 0, "nodes": []}
    # and a nested app log filter with a foreign app id is empty too
    nested = await data(
        client,
        """query($apps: [ID!]) { viewer { portal { connectedApps(filter: {search: "contactsync"}) {
             nodes { log(filter: {appIds: $apps}) { totalCount } } } } } }""",
        {"apps": [foreign]},
        token=acme,
    )
    assert nested["viewer"]["portal"]["connectedApps"]["nodes"] == [{"log": {"totalCount": 0}}]


async def test_marketplace_is_per_portal(client, globex):
    # Globex has ContactSync installed, so its marketplace does not offer it; Acme's uninstalled
    # LeadGenius is offered to Globex as a plain listing
    result = await data(
        client,
        '{ viewer { portal { marketplace(first: 100, category: "CRM") { nodes { slug } } } } }',
        token=globex,
    )
    slugs = [n["slug"] for n in result["viewer"]["portal"]["marketplace"]["nodes"]]
    assert "contactsync" not in slugs
    assert "leadgenius" in slugs
