"""The read side of the API against the demo data (seeded at ANCHOR): what the console shows."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway import demo as d
from gateway.demo import catalogue
from gateway.models import AppLogEntry, MarketplaceListing, Notification
from gateway.models.enums import SubscriptionTier
from tests.helpers import data, gid, token_for

pytestmark = pytest.mark.usefixtures("demo")


@pytest.fixture
async def admin(settings):
    return await token_for(settings, d.ADMIN_EMAIL)


@pytest.fixture
async def member(settings):
    return await token_for(settings, d.MEMBER_EMAIL)


@pytest.fixture
async def manager(settings):
    return await token_for(settings, d.MANAGER_EMAIL)


VIEWER = """{ viewer {
  user { name email isSuperAdmin canManageApps teams { name } }
  portal { name tier timezone }
} }"""


async def test_viewer_is_the_token_user_and_portal(client, manager):
    # When the manager asks who they are
    result = await data(client, VIEWER, token=manager)
    # Then they see themselves and their portal
    assert result == {
        "viewer": {
            "user": {
                "name": "Morgan Manager",
                "email": "manager@demo.example",
                "isSuperAdmin": False,
                "canManageApps": True,
                "teams": [{"name": "Sales"}],
            },
            "portal": {"name": "Acme Demo", "tier": "PROFESSIONAL", "timezone": "America/New_York"},
        }
    }


SUMMARY = """{ viewer { portal { appSummary {
  total connected disconnected errored updateAvailable upgradeAvailable } } } }"""


async def test_app_summary_leaves_out_multi_account_apps(client, admin):
    result = await data(client, SUMMARY, token=admin)
    # 14 installed apps, of which Chirp and LinkedUp Pages are MULTI_ACCOUNT
    assert result["viewer"]["portal"]["appSummary"] == {
        "total": 12,
        "connected": 10,
        "disconnected": 1,
        "errored": 1,
        "updateAvailable": 1,
        "upgradeAvailable": 1,
    }


APPS = """query($filter: ConnectedAppFilter, $first: Int, $after: String) {
  viewer { portal { connectedApps(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name installLevel status updateAvailable upgradeAvailable } }
  } } } }"""

# (name, install level, status, updateAvailable, upgradeAvailable), by lower-cased name.
ACME_APPS = [
    ("AdBeacon Ads", "PORTAL", "DISCONNECTED", False, False),
    ("CallBridge Dialer", "USER", "CONNECTED", False, False),
    ("Chirp", "MULTI_ACCOUNT", None, False, False),
    ("ContactSync", "PORTAL", "CONNECTED", False, False),
    ("DocsVault Drive", "USER", "CONNECTED", False, False),
    ("HelpDesk Hero", "PORTAL", "ERROR", False, False),
    ("LandingCraft Pages", "PORTAL", "CONNECTED", False, False),
    ("LinkedUp Pages", "MULTI_ACCOUNT", None, False, False),
    ("MailMerge Pro", "PORTAL", "CONNECTED", False, False),
    ("MeetSlot Scheduler", "USER", "CONNECTED", False, False),
    ("Metricly Dashboards", "PORTAL", "CONNECTED", False, True),
    ("Quotely CPQ", "PORTAL", "CONNECTED", False, False),
    ("SurveySpark NPS", "PORTAL", "CONNECTED", False, False),
    ("TeamChat", "PORTAL", "CONNECTED", True, False),
]


def rows(result):
    return [
        (n["name"], n["installLevel"], n["status"], n["updateAvailable"], n["upgradeAvailable"])
        for n in (e["node"] for e in result["viewer"]["portal"]["connectedApps"]["edges"])
    ]


def names(result):
    return [row[0] for row in rows(result)]


async def test_connected_apps_in_name_order_with_derived_state(client, member):
    # When anyone lists the apps, the uninstalled LeadGenius is not among them
    result = await data(client, APPS, token=member)
    assert rows(result) == ACME_APPS
    page = result["viewer"]["portal"]["connectedApps"]
    assert page["totalCount"] == 14
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is False


async def test_connected_apps_pages_follow_each_other(client, admin):
    # Given pages of 5
    seen, after, pages = [], None, 0
    while True:
        result = await data(client, APPS, {"first": 5, "after": after}, token=admin)
        page = result["viewer"]["portal"]["connectedApps"]
        seen += names(result)
        pages += 1
        assert page["totalCount"] == 14
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Then they cover the list once, in order
    assert pages == 3
    assert seen == [row[0] for row in ACME_APPS]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"statuses": ["ERROR", "DISCONNECTED"]}, ["AdBeacon Ads", "HelpDesk Hero"]),
        (
            {"statuses": ["CONNECTED"], "installLevels": ["USER"]},
            ["CallBridge Dialer", "DocsVault Drive", "MeetSlot Scheduler"],
        ),
        ({"installLevels": ["MULTI_ACCOUNT"]}, ["Chirp", "LinkedUp Pages"]),
        ({"search": "PAGES"}, ["LandingCraft Pages", "LinkedUp Pages"]),
        (
            {"needsAttention": True},
            ["AdBeacon Ads", "HelpDesk Hero", "Metricly Dashboards", "TeamChat"],
        ),
        (
            {"needsAttention": False, "search": "c"},
            [
                "CallBridge Dialer",
                "Chirp",
                "ContactSync",
                "DocsVault Drive",
                "LandingCraft Pages",
                "MeetSlot Scheduler",
                "Quotely CPQ",
            ],
        ),
        ({"statuses": []}, []),
        ({"search": "no such app"}, []),
    ],
)
async def test_connected_apps_filters(client, admin, flt, expected):
    result = await data(client, APPS, {"filter": flt}, token=admin)
    assert names(result) == expected
    assert result["viewer"]["portal"]["connectedApps"]["totalCount"] == len(expected)


APP_DETAIL = """query($id: ID!) { node(id: $id) { __typename ... on ConnectedApp {
  id name installLevel status installedAt installedBy { name } uninstalledAt
  listing { slug name vendor category installLevel }
  alerts { code severity message resolvedAt }
  scopes { name state requiredTier required }
  connections { totalCount nodes { user { name } accountName } }
  manageConnectionsUrl viewerCanManage
  learningResources { title }
  log(first: 2) { totalCount nodes { activity } }
} } }"""


async def test_user_app_keeps_its_first_installer(client, admin, demo):
    # DocsVault was installed first by Taylor, who has no connection any more
    result = await data(
        client, APP_DETAIL, {"id": gid("ConnectedApp", demo.app_ids["docsvault"])}, token=admin
    )
    app = result["node"]
    assert app["installedBy"] == {"name": "Taylor Brooks"}
    assert app["status"] == "CONNECTED"
    assert app["connections"] == {
        "totalCount": 3,
        "nodes": [
            {"user": {"name": "Riley Member"}, "accountName": None},
            {"user": {"name": "Casey Member"}, "accountName": None},
            {"user": {"name": "sam Rivera"}, "accountName": None},
        ],
    }
    assert app["manageConnectionsUrl"] is None
    assert app["viewerCanManage"] is True


async def test_multi_account_app_has_accounts_and_a_manage_link_but_no_status(client, member, demo):
    result = await data(
        client, APP_DETAIL, {"id": gid("ConnectedApp", demo.app_ids["chirp"])}, token=member
    )
    app = result["node"]
    assert app["status"] is None
    assert app["installLevel"] == "MULTI_ACCOUNT"
    assert app["manageConnectionsUrl"] == "https://social.example/manage/chirp"
    assert [(c["user"]["name"], c["accountName"]) for c in app["connections"]["nodes"]] == [
        ("Morgan Manager", "@acme"),
        ("Avery Admin", "@acme_support"),
        ("Morgan Manager", "@acme_careers"),
    ]
    assert app["viewerCanManage"] is False  # a plain member


async def test_errored_app_shows_its_open_alert_only(client, admin, demo):
    result = await data(
        client, APP_DETAIL, {"id": gid("ConnectedApp", demo.app_ids["helpdesk-hero"])}, token=admin
    )
    app = result["node"]
    assert app["status"] == "ERROR"
    assert app["alerts"] == [
        {
            "code": "sync_failed",
            "severity": "ERROR",
            "message": "Ticket sync failed: the HelpDesk Hero API answered 503 three times in a row.",
            "resolvedAt": None,
        }
    ]


async def test_scope_states(client, admin, demo):
    teamchat = (
        await data(
            client, APP_DETAIL, {"id": gid("ConnectedApp", demo.app_ids["teamchat"])}, token=admin
        )
    )["node"]
    assert [
        (s["name"], s["state"], s["requiredTier"], s["required"]) for s in teamchat["scopes"]
    ] == [
        ("oauth", "GRANTED", "FREE", True),
        ("crm.objects.contacts.read", "GRANTED", "FREE", True),
        ("crm.objects.deals.read", "GRANTED", "FREE", False),
        ("conversations.read", "GRANTED", "STARTER", False),
        ("conversations.write", "NEEDS_REAUTHORIZATION", "PROFESSIONAL", False),
        ("timeline", "GRANTED", "FREE", False),
    ]
    metricly = (
        await data(
            client, APP_DETAIL, {"id": gid("ConnectedApp", demo.app_ids["metricly"])}, token=admin
        )
    )["node"]
    assert [(s["name"], s["state"]) for s in metricly["scopes"]] == [
        ("oauth", "GRANTED"),
        ("business-intelligence", "GRANTED"),
        ("crm.objects.deals.read", "GRANTED"),
        ("crm.objects.contacts.read", "GRANTED"),
        ("analytics.behavioral_events.send", "NEEDS_UPGRADE"),
    ]
    assert metricly["learningResources"] == [{"title": "Metricly dashboards for revenue teams"}]


async def test_uninstalled_app_is_reachable_by_id_with_its_history(client, admin, demo):
    result = await data(
        client,
        APP_DETAIL,
        {"id": gid("ConnectedApp", demo.app_ids[d.UNINSTALLED_SLUG])},
        token=admin,
    )
    app = result["node"]
    assert app["name"] == "LeadGenius Enrichment"
    assert app["uninstalledAt"] is not None
    assert app["status"] is None
    assert app["scopes"] == [] and app["alerts"] == []
    assert app["log"]["nodes"][0] == {"activity": "UNINSTALLED"}
    expected = await AppLogEntry.filter(app_id=demo.app_ids[d.UNINSTALLED_SLUG]).count()
    assert app["log"]["totalCount"] == expected == 21


LOG = """query($first: Int, $after: String, $filter: AppLogFilter) {
  viewer { portal { appLog(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id activity occurredAt app { name } user { email } }
  } } } }"""


async def test_app_log_is_newest_first_and_pages_through_everything(client, admin, demo):
    seen, after = [], None
    while True:
        page = (await data(client, LOG, {"first": 100, "after": after}, token=admin))["viewer"][
            "portal"
        ]["appLog"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # 542 lifecycle entries, 11 for the alerts raised and resolved, and TeamChat's listing
    # changing its request (DESIGN §6)
    assert page["totalCount"] == 554 == len(seen)
    assert len({n["id"] for n in seen}) == 554
    times = [n["occurredAt"] for n in seen]
    assert times == sorted(times, reverse=True)
    assert {n["activity"] for n in seen} == {
        "INSTALLED",
        "UNINSTALLED",
        "REINSTALLED",
        "DISCONNECTED",
        "RECONNECTED",
        "REAUTHORIZED",
        "ERROR_RAISED",
        "ERROR_RESOLVED",
        "SCOPES_CHANGED",
    }


@pytest.mark.parametrize(
    ("flt", "count"),
    [
        ({"activities": ["REINSTALLED"]}, 3),
        ({"activities": ["INSTALLED", "UNINSTALLED"]}, 19),
        ({"activities": []}, 0),
    ],
)
async def test_app_log_activity_filter(client, admin, flt, count):
    page = (await data(client, LOG, {"first": 100, "filter": flt}, token=admin))["viewer"][
        "portal"
    ]["appLog"]
    assert page["totalCount"] == count
    assert all(n["activity"] in flt["activities"] for n in page["nodes"])


async def test_app_log_user_app_and_window_filters(client, admin, demo):
    # Given a window of ten days, one user and two apps
    since, until = "2026-10-01T00:00:00Z", "2026-10-11T00:00:00Z"
    apps = [demo.app_ids["contactsync"], demo.app_ids["teamchat"]]
    flt = {
        "userIds": [gid("User", demo.user_ids[d.MANAGER_EMAIL])],
        "appIds": [gid("ConnectedApp", a) for a in apps],
        "since": since,
        "until": until,
    }
    page = (await data(client, LOG, {"first": 100, "filter": flt}, token=admin))["viewer"][
        "portal"
    ]["appLog"]
    # Then exactly the matching entries come back (counted independently in the database)
    expected = (
        await AppLogEntry.filter(
            user_id=demo.user_ids[d.MANAGER_EMAIL],
            app_id__in=apps,
            occurred_at__gte=datetime.fromisoformat(since),
            occurred_at__lt=datetime.fromisoformat(until),
        )
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True)
    )
    assert expected, "the demo should have such entries"
    assert [n["id"] for n in page["nodes"]] == [gid("AppLogEntry", i) for i in expected]
    assert {n["user"]["email"] for n in page["nodes"]} == {d.MANAGER_EMAIL}
    assert {n["app"]["name"] for n in page["nodes"]} <= {"ContactSync", "TeamChat"}


MARKETPLACE = """query($search: String, $category: String) { viewer { portal {
  marketplace(first: 100, search: $search, category: $category) {
    totalCount nodes { slug name vendor category installLevel
      requestedScopes { name state requiredTier required } learningResources { title } }
  } } } }"""


MARKETPLACE_PAGE = """query($after: String) { viewer { portal {
  marketplace(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { slug } }
} } }"""


async def test_marketplace_lists_listings_not_installed_here(client, admin, demo):
    # Other tests add listings to the global catalogue: page through all of it
    nodes, after = [], None
    while True:
        page = (await data(client, MARKETPLACE_PAGE, {"after": after}, token=admin))["viewer"][
            "portal"
        ]["marketplace"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    page["nodes"] = nodes
    installed = set(demo.app_ids) - {d.UNINSTALLED_SLUG}
    expected = [
        listing.slug
        for listing in sorted(await MarketplaceListing.all(), key=lambda x: (x.name.lower(), x.id))
        if listing.slug not in installed
    ]
    assert [n["slug"] for n in page["nodes"]] == expected
    assert "leadgenius" in expected  # uninstalled earlier: can be reinstalled
    assert page["totalCount"] == len(expected)


async def test_marketplace_search_and_category(client, admin):
    finance = (await data(client, MARKETPLACE, {"category": "Finance"}, token=admin))["viewer"][
        "portal"
    ]["marketplace"]
    assert [n["slug"] for n in finance["nodes"]] == ["ledgerlink", "payport"]
    assert finance["nodes"][1]["requestedScopes"] == [
        {"name": "oauth", "state": "GRANTED", "requiredTier": "FREE", "required": True},
        {
            "name": "crm.objects.deals.write",
            "state": "GRANTED",
            "requiredTier": "FREE",
            "required": True,
        },
        {
            "name": "e-commerce",
            "state": "GRANTED",
            "requiredTier": "PROFESSIONAL",
            "required": True,
        },
        {
            "name": "crm.objects.invoices.read",
            "state": "GRANTED",
            "requiredTier": "STARTER",
            "required": False,
        },
    ]
    # search matches the description too, ignoring case
    story = (await data(client, MARKETPLACE, {"search": "STORY POSTS"}, token=admin))["viewer"][
        "portal"
    ]["marketplace"]
    assert [(n["slug"], n["category"]) for n in story["nodes"]] == [("photogram", "Social Media")]


async def test_marketplace_shows_what_an_install_needs_to_upgrade(client, admin):
    # The demo's listings with a scope that needs ENTERPRISE, seen from a PROFESSIONAL portal
    # (each searched by its name: other tests add listings to the global catalogue, past the
    # first page, and some with ENTERPRISE scopes of their own)
    enterprise = [
        (spec.slug, spec.name, name)
        for spec in catalogue.LISTINGS
        for name, tier, _ in spec.scopes
        if tier is SubscriptionTier.ENTERPRISE
    ]
    shown = []
    for slug, listing, name in enterprise:
        page = (await data(client, MARKETPLACE, {"search": listing}, token=admin))["viewer"][
            "portal"
        ]["marketplace"]
        by_slug = {n["slug"]: n for n in page["nodes"]}
        if slug in by_slug:
            shown.append(slug)
            state = {s["name"]: s["state"] for s in by_slug[slug]["requestedScopes"]}[name]
            assert state == "NEEDS_UPGRADE"
    assert shown


PEOPLE = """query($search: String) { viewer { portal {
  users(search: $search) { totalCount nodes { name email teams { name } } }
  teams { totalCount nodes { name members { totalCount nodes { name } } } }
  learningResources(first: 3) { title url durationSeconds topic }
} } }"""


async def test_users_teams_and_learning(client, member):
    portal = (await data(client, PEOPLE, token=member))["viewer"]["portal"]
    assert [u["name"] for u in portal["users"]["nodes"]] == [
        "Avery Admin",
        "Casey Member",
        "Jordan Lee",
        "Morgan Manager",
        "Riley Member",
        "sam Rivera",
        "Taylor Brooks",
    ]
    casey = portal["users"]["nodes"][1]
    assert casey["teams"] == [{"name": "Marketing Ops"}, {"name": "Sales"}]
    assert portal["teams"] == {
        "totalCount": 2,
        "nodes": [
            {
                "name": "Marketing Ops",
                "members": {
                    "totalCount": 3,
                    "nodes": [
                        {"name": "Casey Member"},
                        {"name": "Riley Member"},
                        {"name": "Taylor Brooks"},
                    ],
                },
            },
            {
                "name": "Sales",
                "members": {
                    "totalCount": 3,
                    "nodes": [
                        {"name": "Casey Member"},
                        {"name": "Jordan Lee"},
                        {"name": "Morgan Manager"},
                    ],
                },
            },
        ],
    }
    assert [r["title"] for r in portal["learningResources"]] == [
        "Connected apps: a five-minute tour",
        "Installing your first app",
        "What app permissions (scopes) mean",
    ]
    searched = (await data(client, PEOPLE, {"search": "MEMBER"}, token=member))["viewer"]["portal"][
        "users"
    ]
    assert [u["email"] for u in searched["nodes"]] == [d.MEMBER_EMAIL, d.MEMBER2_EMAIL]
    assert searched["totalCount"] == 2


RULES = """{ viewer { portal { notificationRules { totalCount nodes {
  name type frequency audience allApps apps { name } users { name } teams { name }
  channels createdBy { name } viewerCanEdit } } } } }"""


async def test_notification_rules_are_readable_by_everyone_editable_by_super_admins(
    client, admin, member
):
    rules = (await data(client, RULES, token=admin))["viewer"]["portal"]["notificationRules"]
    assert rules["totalCount"] == 3
    assert rules["nodes"] == [
        {
            "name": "Disconnect alerts",
            "type": "APP_DISCONNECT",
            "frequency": "HOURLY",
            "audience": "SPECIFIC",
            "allApps": False,
            "apps": [
                {"name": n}
                for n in [
                    "AdBeacon Ads",
                    "ContactSync",
                    "HelpDesk Hero",
                    "MeetSlot Scheduler",
                    "TeamChat",
                ]
            ],
            "users": [{"name": "Casey Member"}],
            "teams": [{"name": "Sales"}],
            "channels": ["IN_APP"],
            "createdBy": {"name": "Avery Admin"},
            "viewerCanEdit": True,
        },
        {
            "name": "Install digest",
            "type": "APP_INSTALL",
            "frequency": "DAILY",
            "audience": "SUPER_ADMINS",
            "allApps": True,
            "apps": [],
            "users": [],
            "teams": [],
            "channels": ["EMAIL", "IN_APP"],
            "createdBy": {"name": "Avery Admin"},
            "viewerCanEdit": True,
        },
        {
            "name": "Monthly uninstall report",
            "type": "APP_UNINSTALL",
            "frequency": "MONTHLY",
            "audience": "EVERYONE",
            "allApps": True,
            "apps": [],
            "users": [],
            "teams": [],
            "channels": ["EMAIL"],
            "createdBy": {"name": "Avery Admin"},
            "viewerCanEdit": True,
        },
    ]
    as_member = (await data(client, RULES, token=member))["viewer"]["portal"]["notificationRules"]
    assert [r["viewerCanEdit"] for r in as_member["nodes"]] == [False, False, False]
    assert [r["name"] for r in as_member["nodes"]] == [r["name"] for r in rules["nodes"]]


INBOX = """query($unread: Boolean) { viewer { notifications(unreadOnly: $unread) {
  totalCount nodes { id type entryCount readAt periodStart periodEnd rule { name }
  entries { activity app { name } } } } } }"""


async def test_inbox_shows_own_digests_newest_first(client, member, demo):
    everything = (await data(client, INBOX, token=member))["viewer"]["notifications"]
    unread = (await data(client, INBOX, {"unread": True}, token=member))["viewer"]["notifications"]
    assert everything["totalCount"] == 4
    assert unread["totalCount"] == 2
    assert [n["readAt"] for n in unread["nodes"]] == [None, None]
    assert all(n["rule"] == {"name": "Disconnect alerts"} for n in everything["nodes"])
    assert all(n["type"] == "APP_DISCONNECT" for n in everything["nodes"])
    for n in everything["nodes"]:
        assert n["entryCount"] == len(n["entries"]) > 0
        assert {e["activity"] for e in n["entries"]} == {"DISCONNECTED"}
    ends = [n["periodEnd"] for n in everything["nodes"]]
    assert ends == sorted(ends, reverse=True)
    own = await Notification.filter(recipient_id=demo.user_ids[d.MEMBER_EMAIL], in_app=True).count()
    assert own == 4


NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""


async def test_a_colleagues_notification_is_null(client, member, admin, demo):
    admins = await Notification.filter(recipient_id=demo.user_ids[d.ADMIN_EMAIL]).first()
    nid = gid("Notification", admins.id)
    assert (await data(client, NODE, {"id": nid}, token=member)) == {"node": None}
    assert (await data(client, NODE, {"id": nid}, token=admin)) == {
        "node": {"__typename": "Notification", "id": nid}
    }


DELIVERIES = """{ viewer { portal { deliveries { totalCount nodes { channel status recipient { email } } } } } }"""


async def test_deliveries_only_for_holders_of_manage_notifications(
    client, admin, manager, settings
):
    seen = (await data(client, DELIVERIES, token=admin))["viewer"]["portal"]["deliveries"]
    assert seen["totalCount"] == 4
    assert {(n["channel"], n["status"], n["recipient"]["email"]) for n in seen["nodes"]} == {
        ("EMAIL", "SENT", d.ADMIN_EMAIL)
    }
    hidden = (await data(client, DELIVERIES, token=manager))["viewer"]["portal"]["deliveries"]
    assert hidden == {"totalCount": 0, "nodes": []}
    # a user who is not a super admin but holds MANAGE_NOTIFICATIONS sees them all
    taylor = await token_for(settings, "taylor@demo.example")
    assert (await data(client, DELIVERIES, token=taylor))["viewer"]["portal"]["deliveries"] == seen


NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""


async def test_node_resolves_every_visible_type(client, admin, demo):
    entry = await AppLogEntry.filter(portal_id=demo.acme_portal_id).first()
    from gateway.models import (
        AppAlert,
        AppConnection,
        Delivery,
        LearningResource,
        NotificationRule,
        Team,
    )

    alert = await AppAlert.filter(app_id=demo.app_ids["helpdesk-hero"]).first()
    connection = await AppConnection.filter(app_id=demo.app_ids["chirp"]).first()
    delivery = await Delivery.filter(portal_id=demo.acme_portal_id).first()
    resource = await LearningResource.first()
    rule = await NotificationRule.filter(portal_id=demo.acme_portal_id).first()
    team = await Team.filter(portal_id=demo.acme_portal_id).first()
    ids = [
        gid("Portal", demo.acme_portal_id),
        gid("User", demo.user_ids[d.MEMBER_EMAIL]),
        gid("Team", team.id),
        gid("ConnectedApp", demo.app_ids["chirp"]),
        gid("AppConnection", connection.id),
        gid("AppAlert", alert.id),
        gid("AppLogEntry", entry.id),
        gid("NotificationRule", rule.id),
        gid("Delivery", delivery.id),
        gid("MarketplaceListing", demo.listing_ids["payport"]),
        gid("LearningResource", resource.id),
    ]
    result = await data(client, NODES, {"ids": ids}, token=admin)
    assert [n["__typename"] for n in result["nodes"]] == [
        "Portal",
        "User",
        "Team",
        "ConnectedApp",
        "AppConnection",
        "AppAlert",
        "AppLogEntry",
        "NotificationRule",
        "Delivery",
        "MarketplaceListing",
        "LearningResource",
    ]
    assert [n["id"] for n in result["nodes"]] == ids


async def test_node_is_null_for_garbage_wrong_type_and_missing(client, admin, demo):
    ids = [
        "garbage",
        "",
        gid("ConnectedApp", 10**9),  # missing
        gid("Team", demo.app_ids["chirp"]),  # an app's key under another type
        gid("Nope", 1),
        "Q29ubmVjdGVkQXBwOjAx",  # "ConnectedApp:01": not canonical
    ]
    result = await data(client, NODES, {"ids": ids}, token=admin)
    assert result == {"nodes": [None] * len(ids)}
