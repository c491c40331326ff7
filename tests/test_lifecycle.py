"""App lifecycle mutations through HTTP: the exact log entries, the new read-side state, the
envelopes published after commit, and refusals that change nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from gateway.models import AppConnection, AppLogEntry, ConnectedApp, GrantedScope
from gateway.models.enums import InstallLevel, SubscriptionTier
from tests import factories as f
from tests.helpers import barrier_at, data, gid

P, S, E, F = (
    SubscriptionTier.PROFESSIONAL,
    SubscriptionTier.STARTER,
    SubscriptionTier.ENTERPRISE,
    SubscriptionTier.FREE,
)
SCOPES = [("oauth", F, True), ("contacts.read", S, False), ("reports", P, False), ("ai", E, False)]

APP_FIELDS = """id name status installLevel installedAt installedBy { name } uninstalledAt
  scopes { name state } connections { totalCount nodes { id user { name } accountName } }"""

INSTALL = f"""mutation($input: InstallAppInput!) {{ installApp(input: $input) {{
  app {{ {APP_FIELDS} }} userErrors {{ field message code }} }} }}"""
UNINSTALL = f"""mutation($input: UninstallAppInput!) {{ uninstallApp(input: $input) {{
  app {{ {APP_FIELDS} }} userErrors {{ field message code }} }} }}"""
REMOVE = f"""mutation($input: RemoveAppConnectionInput!) {{ removeAppConnection(input: $input) {{
  app {{ {APP_FIELDS} }} removedConnectionId userErrors {{ field message code }} }} }}"""
REAUTHORIZE = f"""mutation($input: ReauthorizeAppInput!) {{ reauthorizeApp(input: $input) {{
  app {{ {APP_FIELDS} updateAvailable upgradeAvailable }} userErrors {{ field message code }} }} }}"""
STATE = """{ viewer { portal {
  appSummary { total connected disconnected errored updateAvailable upgradeAvailable }
  connectedApps { nodes { name } }
  appLog(first: 100) { nodes { activity user { name } app { name } } } } } }"""


@dataclass
class World:
    """A portal of its own with a super admin, a manager and two members."""

    portal: object
    admin: str
    manager: str
    member: str
    member2: str
    users: dict


@pytest.fixture
async def world(app, settings) -> World:
    t = await f.make_tenant(
        settings,
        tier=P,
        people={
            "Ada Admin": "admin",
            "Max Manager": "manager",
            "Mia Member": "member",
            "Moe Member": "member",
        },
    )
    roles = ("admin", "manager", "member", "member2")
    tokens = t.tokens
    return World(
        t.portal,
        tokens["Ada Admin"],
        tokens["Max Manager"],
        tokens["Mia Member"],
        tokens["Moe Member"],
        users=dict(zip(roles, t.people.values(), strict=True)),
    )


async def mutate(client, document, input_, token):
    result = await data(client, document, {"input": input_}, token=token)
    return next(iter(result.values()))


async def state(client, token):
    return (await data(client, STATE, token=token))["viewer"]["portal"]


async def snapshot(portal_id):
    """Everything a refused mutation must leave as it was."""
    return (
        await ConnectedApp.filter(portal_id=portal_id).order_by("id").values(),
        await AppConnection.filter(app__portal_id=portal_id).order_by("id").values(),
        await GrantedScope.filter(app__portal_id=portal_id).order_by("id").values(),
        await AppLogEntry.filter(portal_id=portal_id).count(),
    )


def codes(payload):
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


# --- PORTAL apps -------------------------------------------------------------------------


async def test_manager_installs_a_portal_app(client, world, envelopes):
    listing = await f.make_listing("Ledger", InstallLevel.PORTAL, SCOPES)
    payload = await mutate(
        client, INSTALL, {"listingId": gid("MarketplaceListing", listing.id)}, world.manager
    )
    assert payload["userErrors"] == []
    app = payload["app"]
    assert (
        app["name"],
        app["status"],
        app["installLevel"],
        app["installedBy"],
        app["uninstalledAt"],
    ) == (
        "Ledger",
        "CONNECTED",
        "PORTAL",
        {"name": "Max Manager"},
        None,
    )
    # every scope the tier allows is granted; the ENTERPRISE one needs an upgrade
    assert app["scopes"] == [
        {"name": "oauth", "state": "GRANTED"},
        {"name": "contacts.read", "state": "GRANTED"},
        {"name": "reports", "state": "GRANTED"},
        {"name": "ai", "state": "NEEDS_UPGRADE"},
    ]
    after = await state(client, world.member)
    assert after["appSummary"] == {
        "total": 1,
        "connected": 1,
        "disconnected": 0,
        "errored": 0,
        "updateAvailable": 0,
        "upgradeAvailable": 1,
    }
    assert after["appLog"]["nodes"] == [
        {"activity": "INSTALLED", "user": {"name": "Max Manager"}, "app": {"name": "Ledger"}}
    ]
    # one envelope, after commit: the log entry and the status change from nothing to CONNECTED
    entry = await AppLogEntry.get(portal_id=world.portal.id)
    app_pk = (await ConnectedApp.get(portal_id=world.portal.id)).id
    assert [e.to_json() for e in await envelopes.settled()] == [
        {
            "portalId": world.portal.id,
            "logEntries": [entry.id],
            "statusChanges": [
                {
                    "appId": app_pk,
                    "previousStatus": None,
                    "status": "CONNECTED",
                    "occurredAt": entry.occurred_at.isoformat(),
                    "alertId": None,
                }
            ],
            "notifications": [],
        }
    ]


async def test_member_may_not_install_a_portal_app_and_nothing_changes(client, world, envelopes):
    listing = await f.make_listing(level=InstallLevel.PORTAL)
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client, INSTALL, {"listingId": gid("MarketplaceListing", listing.id)}, world.member
    )
    assert payload["app"] is None
    assert codes(payload) == [("FORBIDDEN", ["input", "listingId"])]
    assert await snapshot(world.portal.id) == before
    assert await envelopes.settled() == []


async def test_installing_twice_is_a_conflict(client, world, envelopes):
    listing = await f.make_listing(level=InstallLevel.PORTAL)
    await mutate(client, INSTALL, {"listingId": gid("MarketplaceListing", listing.id)}, world.admin)
    (await envelopes.settled()).clear()
    before = await snapshot(world.portal.id)
    again = await mutate(
        client, INSTALL, {"listingId": gid("MarketplaceListing", listing.id)}, world.manager
    )
    assert codes(again) == [("CONFLICT", ["input", "listingId"])]
    assert await snapshot(world.portal.id) == before
    assert await envelopes.settled() == []


async def test_scope_choices_are_checked_and_every_problem_is_reported(client, world, envelopes):
    listing = await f.make_listing(level=InstallLevel.PORTAL, scopes=SCOPES)
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client,
        INSTALL,
        {
            "listingId": gid("MarketplaceListing", listing.id),
            "scopes": ["contacts.read", "nope", "ai"],
            "accountName": "@acme",
        },
        world.admin,
    )
    assert sorted(codes(payload)) == sorted(
        [
            ("INVALID", ["input", "accountName"]),
            ("INVALID", ["input", "scopes", "1"]),
            ("NEEDS_UPGRADE", ["input", "scopes", "2"]),
            ("INVALID", ["input", "scopes"]),  # the required oauth was left out
        ]
    )
    upgrade = next(e for e in payload["userErrors"] if e["code"] == "NEEDS_UPGRADE")
    assert "ENTERPRISE" in upgrade["message"]
    assert await snapshot(world.portal.id) == before
    assert await envelopes.settled() == []


async def test_a_subset_of_scopes_leaves_the_rest_to_reauthorize(client, world):
    listing = await f.make_listing(level=InstallLevel.PORTAL, scopes=SCOPES)
    payload = await mutate(
        client,
        INSTALL,
        {"listingId": gid("MarketplaceListing", listing.id), "scopes": ["oauth"]},
        world.admin,
    )
    assert [(s["name"], s["state"]) for s in payload["app"]["scopes"]] == [
        ("oauth", "GRANTED"),
        ("contacts.read", "NEEDS_REAUTHORIZATION"),
        ("reports", "NEEDS_REAUTHORIZATION"),
        ("ai", "NEEDS_UPGRADE"),
    ]


async def test_a_required_scope_above_the_tier_refuses_the_install(client, settings, envelopes):
    starter = await f.make_tenant(settings, tier=S)
    listing = await f.make_listing(
        level=InstallLevel.PORTAL, scopes=[("oauth", F, True), ("bi", P, True)]
    )
    payload = await mutate(
        client,
        INSTALL,
        {"listingId": gid("MarketplaceListing", listing.id)},
        starter.token("Ada Admin"),
    )
    assert codes(payload) == [("NEEDS_UPGRADE", ["input", "listingId"])]
    assert "PROFESSIONAL" in payload["userErrors"][0]["message"]
    assert await ConnectedApp.filter(portal_id=starter.portal.id).count() == 0
    assert await envelopes.settled() == []


async def test_reinstall_keeps_history_and_first_installer(client, world, envelopes):
    name = f.unique("Quill")
    listing = await f.make_listing(name, InstallLevel.PORTAL, SCOPES)
    lid = gid("MarketplaceListing", listing.id)
    first = (await mutate(client, INSTALL, {"listingId": lid}, world.manager))["app"]
    gone = await mutate(client, UNINSTALL, {"appId": first["id"]}, world.admin)
    assert gone["app"]["status"] is None and gone["app"]["uninstalledAt"] is not None
    # it is offered in the marketplace again
    market = await data(
        client,
        "query($q: String) { viewer { portal { marketplace(search: $q) { nodes { name } } } } }",
        {"q": name},
        token=world.admin,
    )
    assert market["viewer"]["portal"]["marketplace"]["nodes"] == [{"name": name}]
    again = await mutate(client, INSTALL, {"listingId": lid}, world.admin)
    assert again["userErrors"] == []
    app = again["app"]
    assert app["id"] == first["id"]
    assert (app["installedAt"], app["installedBy"]) == (
        first["installedAt"],
        {"name": "Max Manager"},
    )
    assert app["status"] == "CONNECTED" and app["uninstalledAt"] is None
    log = (await state(client, world.admin))["appLog"]["nodes"]
    assert [(n["activity"], n["user"]["name"]) for n in log] == [
        ("REINSTALLED", "Ada Admin"),
        ("UNINSTALLED", "Ada Admin"),
        ("INSTALLED", "Max Manager"),
    ]
    assert [
        [
            (c.previous_status and c.previous_status.value, c.status and c.status.value)
            for c in e.status_changes
        ]
        for e in await envelopes.settled()
    ] == [
        [(None, "CONNECTED")],
        [("CONNECTED", None)],
        [(None, "CONNECTED")],
    ]


# --- uninstall ---------------------------------------------------------------------------


async def test_uninstall_removes_connections_and_grants_and_keeps_history(client, world, envelopes):
    listing = await f.make_listing("Meet", InstallLevel.USER, SCOPES)
    lid = gid("MarketplaceListing", listing.id)
    app = (await mutate(client, INSTALL, {"listingId": lid}, world.member))["app"]
    await mutate(client, INSTALL, {"listingId": lid}, world.member2)
    # a member may not uninstall the whole app
    before = await snapshot(world.portal.id)
    denied = await mutate(client, UNINSTALL, {"appId": app["id"]}, world.member)
    assert codes(denied) == [("FORBIDDEN", ["input", "appId"])]
    assert await snapshot(world.portal.id) == before
    payload = await mutate(client, UNINSTALL, {"appId": app["id"]}, world.manager)
    assert payload["userErrors"] == []
    assert payload["app"]["connections"] == {"totalCount": 0, "nodes": []}
    assert payload["app"]["scopes"] == []
    pk = (await ConnectedApp.get(portal_id=world.portal.id)).id
    assert await GrantedScope.filter(app_id=pk).count() == 0
    assert await AppConnection.filter(app_id=pk).count() == 0
    after = await state(client, world.admin)
    assert after["connectedApps"]["nodes"] == []
    assert after["appSummary"]["total"] == 0
    assert [n["activity"] for n in after["appLog"]["nodes"]] == ["UNINSTALLED", "INSTALLED"]
    twice = await mutate(client, UNINSTALL, {"appId": app["id"]}, world.manager)
    assert codes(twice) == [("CONFLICT", ["input", "appId"])]


# --- USER apps ---------------------------------------------------------------------------


async def test_user_app_connections(client, world, envelopes):
    listing = await f.make_listing("Calendar", InstallLevel.USER, SCOPES)
    lid = gid("MarketplaceListing", listing.id)
    # the first connection installs the app
    first = await mutate(client, INSTALL, {"listingId": lid}, world.member)
    assert first["userErrors"] == []
    assert first["app"]["installedBy"] == {"name": "Mia Member"}
    # a second user only adds a connection, without a log entry
    second = await mutate(client, INSTALL, {"listingId": lid}, world.member2)
    assert [c["user"]["name"] for c in second["app"]["connections"]["nodes"]] == [
        "Mia Member",
        "Moe Member",
    ]
    assert second["app"]["installedBy"] == {"name": "Mia Member"}
    # connecting twice is a conflict
    again = await mutate(client, INSTALL, {"listingId": lid}, world.member)
    assert codes(again) == [("CONFLICT", ["input", "listingId"])]
    mia, moe = (c["id"] for c in second["app"]["connections"]["nodes"])
    # a member may not remove a colleague's connection
    before = await snapshot(world.portal.id)
    denied = await mutate(client, REMOVE, {"connectionId": moe}, world.member)
    assert codes(denied) == [("FORBIDDEN", ["input", "connectionId"])]
    assert await snapshot(world.portal.id) == before
    # removing one's own connection keeps the app while others remain
    own = await mutate(client, REMOVE, {"connectionId": mia}, world.member)
    assert own["removedConnectionId"] == mia
    assert own["app"]["status"] == "CONNECTED"
    assert [c["user"]["name"] for c in own["app"]["connections"]["nodes"]] == ["Moe Member"]
    # the last removal uninstalls it
    last = await mutate(client, REMOVE, {"connectionId": moe}, world.member2)
    assert last["app"]["uninstalledAt"] is not None and last["app"]["status"] is None
    log = (await state(client, world.admin))["appLog"]["nodes"]
    assert [(n["activity"], n["user"]["name"]) for n in log] == [
        ("UNINSTALLED", "Moe Member"),
        ("INSTALLED", "Mia Member"),
    ]
    assert [len(e.log_entries) for e in await envelopes.settled()] == [1, 1]


async def test_manager_may_remove_anyones_connection(client, world):
    listing = await f.make_listing(level=InstallLevel.USER)
    lid = gid("MarketplaceListing", listing.id)
    await mutate(client, INSTALL, {"listingId": lid}, world.member)
    app = (await mutate(client, INSTALL, {"listingId": lid}, world.member2))["app"]
    moe = app["connections"]["nodes"][1]["id"]
    removed = await mutate(client, REMOVE, {"connectionId": moe}, world.manager)
    assert removed["userErrors"] == [] and removed["removedConnectionId"] == moe
    assert removed["app"]["connections"]["totalCount"] == 1


# --- MULTI_ACCOUNT apps -------------------------------------------------------------------


async def test_multi_account_apps(client, world, envelopes):
    listing = await f.make_listing("Social", InstallLevel.MULTI_ACCOUNT, SCOPES)
    lid = gid("MarketplaceListing", listing.id)
    denied = await mutate(client, INSTALL, {"listingId": lid, "accountName": "@acme"}, world.member)
    assert codes(denied) == [("FORBIDDEN", ["input", "listingId"])]
    unnamed = await mutate(client, INSTALL, {"listingId": lid, "accountName": "  "}, world.manager)
    assert codes(unnamed) == [("INVALID", ["input", "accountName"])]
    assert await ConnectedApp.filter(portal_id=world.portal.id).count() == 0
    first = await mutate(client, INSTALL, {"listingId": lid, "accountName": "@acme"}, world.manager)
    assert first["app"]["status"] is None
    second = await mutate(
        client, INSTALL, {"listingId": lid, "accountName": "@acme_jobs"}, world.admin
    )
    assert [
        (c["user"]["name"], c["accountName"]) for c in second["app"]["connections"]["nodes"]
    ] == [
        ("Max Manager", "@acme"),
        ("Ada Admin", "@acme_jobs"),
    ]
    same = await mutate(client, INSTALL, {"listingId": lid, "accountName": "@ACME"}, world.admin)
    assert codes(same) == [("CONFLICT", ["input", "listingId"])]
    after = await state(client, world.admin)
    assert after["appSummary"]["total"] == 0  # MULTI_ACCOUNT apps are not counted
    assert [n["activity"] for n in after["appLog"]["nodes"]] == ["INSTALLED"]
    # status stays null, so the install publishes its log entry and no status change
    assert [(len(e.log_entries), e.status_changes) for e in await envelopes.settled()] == [(1, ())]


# --- reauthorize ---------------------------------------------------------------------------


async def test_reauthorize(client, world, envelopes):
    listing = await f.make_listing("Pipes", InstallLevel.PORTAL, SCOPES)
    app = (
        await mutate(
            client,
            INSTALL,
            {"listingId": gid("MarketplaceListing", listing.id), "scopes": ["oauth"]},
            world.admin,
        )
    )["app"]
    (await envelopes.settled()).clear()
    before = await snapshot(world.portal.id)
    refused = await mutate(
        client, REAUTHORIZE, {"appId": app["id"], "scopes": ["oauth", "ai", "nope"]}, world.manager
    )
    assert codes(refused) == [
        ("INVALID", ["input", "scopes", "0"]),
        ("NEEDS_UPGRADE", ["input", "scopes", "1"]),
        ("INVALID", ["input", "scopes", "2"]),
    ]
    assert "ENTERPRISE" in refused["userErrors"][1]["message"]
    member = await mutate(client, REAUTHORIZE, {"appId": app["id"]}, world.member)
    assert codes(member) == [("FORBIDDEN", ["input", "appId"])]
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []
    # one named scope, then the rest
    one = await mutate(
        client, REAUTHORIZE, {"appId": app["id"], "scopes": ["reports"]}, world.manager
    )
    assert [(s["name"], s["state"]) for s in one["app"]["scopes"]] == [
        ("oauth", "GRANTED"),
        ("contacts.read", "NEEDS_REAUTHORIZATION"),
        ("reports", "GRANTED"),
        ("ai", "NEEDS_UPGRADE"),
    ]
    assert one["app"]["updateAvailable"] is True
    rest = await mutate(client, REAUTHORIZE, {"appId": app["id"]}, world.manager)
    assert rest["app"]["updateAvailable"] is False and rest["app"]["upgradeAvailable"] is True
    nothing = await mutate(client, REAUTHORIZE, {"appId": app["id"]}, world.manager)
    assert codes(nothing) == [("INVALID", ["input", "appId"])]
    log = (await state(client, world.admin))["appLog"]["nodes"]
    assert [n["activity"] for n in log] == ["REAUTHORIZED", "REAUTHORIZED", "INSTALLED"]
    assert [(len(e.log_entries), e.status_changes) for e in await envelopes.settled()] == [
        (1, ()),
        (1, ()),
    ]


# --- ids -----------------------------------------------------------------------------------


async def test_foreign_and_missing_ids_are_the_same_not_found(client, world, demo):
    foreign = gid("ConnectedApp", demo.app_ids["contactsync"])  # an Acme app
    missing = gid("ConnectedApp", 10**9)
    answers = []
    for app_id in (foreign, missing):
        answers.append(await mutate(client, UNINSTALL, {"appId": app_id}, world.admin))
        answers.append(await mutate(client, REAUTHORIZE, {"appId": app_id}, world.admin))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert codes(answers[0]) == [("NOT_FOUND", ["input", "appId"])]
    assert await ConnectedApp.filter(id=demo.app_ids["contactsync"], uninstalled_at=None).exists()
    garbage = await mutate(client, UNINSTALL, {"appId": "not-an-id"}, world.admin)
    assert codes(garbage) == [("INVALID", ["input", "appId"])]
    wrong_type = await mutate(client, INSTALL, {"listingId": foreign}, world.admin)
    assert codes(wrong_type) == [("INVALID", ["input", "listingId"])]
    no_listing = await mutate(
        client, INSTALL, {"listingId": gid("MarketplaceListing", 10**9)}, world.admin
    )
    assert codes(no_listing) == [("NOT_FOUND", ["input", "listingId"])]
    foreign_conn = await AppConnection.filter(app_id=demo.app_ids["chirp"]).first()
    removal = await mutate(
        client, REMOVE, {"connectionId": gid("AppConnection", foreign_conn.id)}, world.admin
    )
    assert codes(removal) == [("NOT_FOUND", ["input", "connectionId"])]
    assert await AppConnection.filter(id=foreign_conn.id).exists()


async def test_a_mutation_over_get_is_refused(client, world):
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { uninstallApp(input: {appId: "x"}) { userErrors { code } } }'},
        headers={"Authorization": f"Bearer {world.admin}"},
    )
    assert response.status_code == 405


# --- races (PostgreSQL: SQLite serializes writers) -------------------------------------------


@pytest.mark.postgres
async def test_two_admins_installing_at_once_make_one_app(client, world):
    listing = await f.make_listing(level=InstallLevel.PORTAL)
    lid = gid("MarketplaceListing", listing.id)
    with barrier_at("install:after-read"):
        a, b = await asyncio.gather(
            mutate(client, INSTALL, {"listingId": lid}, world.admin),
            mutate(client, INSTALL, {"listingId": lid}, world.manager),
        )
    assert sorted(codes(a) + codes(b)) == [("CONFLICT", ["input", "listingId"])]
    assert await ConnectedApp.filter(portal_id=world.portal.id).count() == 1
    assert await AppLogEntry.filter(portal_id=world.portal.id).count() == 1


@pytest.mark.postgres
async def test_two_users_connecting_at_once_make_one_app_two_connections(client, world):
    listing = await f.make_listing(level=InstallLevel.USER)
    lid = gid("MarketplaceListing", listing.id)
    with barrier_at("install:after-read"):
        a, b = await asyncio.gather(
            mutate(client, INSTALL, {"listingId": lid}, world.member),
            mutate(client, INSTALL, {"listingId": lid}, world.member2),
        )
    assert a["userErrors"] == [] and b["userErrors"] == []
    apps = await ConnectedApp.filter(portal_id=world.portal.id)
    assert len(apps) == 1
    assert await AppConnection.filter(app_id=apps[0].id).count() == 2
    assert await AppLogEntry.filter(portal_id=world.portal.id).values_list(
        "activity", flat=True
    ) == ["INSTALLED"]
