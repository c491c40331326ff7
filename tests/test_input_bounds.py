"""Bounds on every string the API takes (query arguments, mutation inputs, platform events):
an over-long value, a NUL byte, or a control character in a name people see is refused with
BAD_USER_INPUT, an INVALID userError or a 400 naming the field, and changes nothing; a value
exactly at its limit is accepted. Run on SQLite and on PostgreSQL (GATEWAY_TEST_DATABASE_URL):
the two fail differently on such input when it reaches them."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.models import (
    AppAlert,
    AppConnection,
    AppLogEntry,
    ConnectedApp,
    GrantedScope,
    ListingScope,
    MarketplaceListing,
    NotificationRule,
    ProcessedEvent,
    User,
)
from gateway.models.enums import InstallLevel, SubscriptionTier
from tests import factories as f
from tests.helpers import data, gid, gql, token_for
from tests.test_events import app_event, error_event, scopes_event, send

F, P = SubscriptionTier.FREE, SubscriptionTier.PROFESSIONAL
CATEGORY = "Input bounds fixtures"
# A value of this size made SQLite refuse the LIKE pattern ("LIKE or GLOB pattern too complex").
HUGE = 49_999

MARKETPLACE = """query($search: String, $category: String, $after: String) { viewer { portal {
  marketplace(first: 100, search: $search, category: $category, after: $after) {
    nodes { name } } } } }"""
USERS = """query($search: String, $after: String) { viewer { portal {
  users(first: 100, search: $search, after: $after) { nodes { name } } } } }"""
APPS = """query($search: String) { viewer { portal {
  connectedApps(first: 100, filter: {search: $search}) { nodes { name } } } } }"""
LOG = """query($appIds: [ID!]) { viewer { portal {
  appLog(first: 100, filter: {appIds: $appIds}) { nodes { id } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id } }"""

ERRORS = "userErrors { field message code }"
INSTALL = f"""mutation($input: InstallAppInput!) {{ installApp(input: $input) {{
  app {{ name connections {{ nodes {{ accountName }} }} scopes {{ name state }} }} {ERRORS} }} }}"""
REAUTHORIZE = f"""mutation($input: ReauthorizeAppInput!) {{ reauthorizeApp(input: $input) {{
  app {{ scopes {{ name state }} }} {ERRORS} }} }}"""
UNINSTALL = f"""mutation($input: UninstallAppInput!) {{ uninstallApp(input: $input) {{
  app {{ name }} {ERRORS} }} }}"""
CREATE_RULE = f"""mutation($input: CreateNotificationRuleInput!) {{
  createNotificationRule(input: $input) {{ rule {{ name }} {ERRORS} }} }}"""
UPDATE_RULE = f"""mutation($input: UpdateNotificationRuleInput!) {{
  updateNotificationRule(input: $input) {{ rule {{ name }} {ERRORS} }} }}"""
ALERTS = """query($id: ID!) { node(id: $id) { ... on ConnectedApp {
  alerts { code message } } } }"""

SCOPES = [("oauth", F, True), ("contacts.read", F, False), ("reports", F, False)]


@dataclass
class World:
    """A portal of its own: a super admin (who may do everything), an installed PORTAL app
    with a scope still to reauthorize, and a MULTI_ACCOUNT listing not installed yet."""

    portal: Any
    token: str
    admin: User
    app: ConnectedApp
    multi: MarketplaceListing


@pytest.fixture(scope="module")
async def listings(app) -> dict[str, MarketplaceListing]:
    # Listings are global: a few per module, in a category of their own.
    return {
        "portal": await f.make_listing("Bounds Ledger", scopes=SCOPES, category=CATEGORY),
        "multi": await f.make_listing(
            "Bounds Social", InstallLevel.MULTI_ACCOUNT, SCOPES, category=CATEGORY
        ),
        # Named with exactly 200 characters, so a search at the limit finds something.
        "long": await f.make_listing("L" * 200, category=CATEGORY),
    }


@pytest.fixture
async def world(app, settings, listings) -> World:
    portal = await f.make_portal(tier=P)
    admin = await f.make_user(portal, "Ada Admin", super_admin=True)
    installed = await f.install(portal, listings["portal"], admin, grant=["oauth"])
    return World(
        portal, await token_for(settings, admin.email), admin, installed, listings["multi"]
    )


async def snapshot(portal_id: int) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    return (
        await ConnectedApp.filter(portal_id=portal_id).order_by("id").values(),
        await AppConnection.filter(app__portal_id=portal_id).order_by("id").values(),
        await GrantedScope.filter(app__portal_id=portal_id).order_by("id").values(),
        await AppLogEntry.filter(portal_id=portal_id).order_by("id").values(),
        await AppAlert.filter(app__portal_id=portal_id).order_by("id").values(),
        await NotificationRule.filter(portal_id=portal_id).order_by("id").values(),
        await ProcessedEvent.all().order_by("id").values_list("id", flat=True),
    )


def refused(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The top-level errors of a refused query, as (message, extensions)."""
    assert body["data"] is None, body
    return [(e["message"], e["extensions"]) for e in body["errors"]]


def bad_input(message: str, argument: str) -> list[tuple[str, dict[str, Any]]]:
    return [(message, {"code": "BAD_USER_INPUT", "argument": argument})]


def cursor(value: Any, pk: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode()


# --- query arguments: top-level BAD_USER_INPUT --------------------------------------------

# (document, variable, argument as named in the message, the portal's list it reads)
QUERY_ARGS = {
    "marketplace search": (MARKETPLACE, "search", "search", "marketplace"),
    "marketplace category": (MARKETPLACE, "category", "category", "marketplace"),
    "users search": (USERS, "search", "search", "users"),
    "connectedApps filter.search": (APPS, "search", "filter.search", "connectedApps"),
}


@pytest.mark.parametrize("size", [201, HUGE])
@pytest.mark.parametrize("case", QUERY_ARGS)
async def test_an_over_long_search_or_category_is_bad_user_input(client, world, case, size):
    document, variable, argument, _list = QUERY_ARGS[case]
    body = await gql(client, document, {variable: "a" * size}, token=world.token)
    assert refused(body) == bad_input(f"`{argument}` is longer than 200 characters", argument)


@pytest.mark.parametrize("case", QUERY_ARGS)
async def test_a_nul_in_search_or_category_is_bad_user_input(client, world, case):
    document, variable, argument, _list = QUERY_ARGS[case]
    body = await gql(client, document, {variable: "Bounds\x00Ledger"}, token=world.token)
    assert refused(body) == bad_input(f"`{argument}` contains a NUL character", argument)


@pytest.mark.parametrize("case", QUERY_ARGS)
async def test_a_search_or_category_of_200_characters_is_accepted(client, world, case):
    document, variable, _argument, list_ = QUERY_ARGS[case]
    result = await data(client, document, {variable: "x" * 200}, token=world.token)
    assert result["viewer"]["portal"][list_] == {"nodes": []}


async def test_a_search_of_200_characters_finds_what_it_names(client, world, settings):
    await f.make_user(world.portal, "U" * 200)
    listings = await data(client, MARKETPLACE, {"search": "l" * 200}, token=world.token)
    users = await data(client, USERS, {"search": "u" * 200}, token=world.token)
    assert listings["viewer"]["portal"]["marketplace"]["nodes"] == [{"name": "L" * 200}]
    assert users["viewer"]["portal"]["users"]["nodes"] == [{"name": "U" * 200}]


async def test_a_search_may_hold_other_control_characters(client, world):
    # Nobody reads a search term back: only NUL, which no column can hold, is refused.
    result = await data(client, MARKETPLACE, {"search": "Bounds\tLedger\n"}, token=world.token)
    assert result["viewer"]["portal"]["marketplace"] == {"nodes": []}


CURSORS = {
    "a NUL in its key": cursor("bounds\x00ledger", 1),
    "a key past the id range": cursor("bounds ledger", 2**31),
    "a key past 64 bits": cursor("bounds ledger", 10**30),
    "a key below 1": cursor("bounds ledger", 0),
}


@pytest.mark.parametrize("document", [MARKETPLACE, USERS], ids=["marketplace", "users"])
@pytest.mark.parametrize("case", CURSORS)
async def test_a_cursor_we_could_not_have_made_is_bad_user_input(client, world, document, case):
    body = await gql(client, document, {"after": CURSORS[case]}, token=world.token)
    assert refused(body) == bad_input("`after` is not a cursor of this list", "after")


async def test_a_cursor_at_the_edges_of_the_id_range_is_accepted(client, world):
    result = await data(client, USERS, {"after": cursor("", 2**31 - 1)}, token=world.token)
    assert result["viewer"]["portal"]["users"]["nodes"] == [{"name": "Ada Admin"}]


async def test_ids_with_a_nul_are_not_ids(client, world):
    body = await gql(client, LOG, {"appIds": ["\x00"]}, token=world.token)
    assert refused(body) == bad_input(
        "`filter.appIds[0]` is not a ConnectedApp id", "filter.appIds"
    )
    assert await data(client, NODE, {"id": "Q29ubmVjdGVkQXBwOjE\x00"}, token=world.token) == {
        "node": None
    }


# --- mutation inputs: INVALID userErrors --------------------------------------------------


async def mutate(client, document: str, input_: dict[str, Any], token: str) -> dict[str, Any]:
    result = await data(client, document, {"input": input_}, token=token)
    return next(iter(result.values()))


def invalid(message: str, *field: str) -> dict[str, Any]:
    return {"field": list(field), "message": message, "code": "INVALID"}


CONTROLS = ["\x00", "\x01", "\n", "\t", "\x1f", "\x7f", "\x9b"]
ACCOUNT_NAMES = {
    **{f"{n} characters": ("a" * n, "is longer than 200 characters") for n in (201, HUGE)},
    **{f"U+{ord(c):04X}": (f"@ac{c}me", "contains a control character") for c in CONTROLS},
}


@pytest.mark.parametrize("case", ACCOUNT_NAMES)
async def test_a_bad_account_name_is_invalid_and_installs_nothing(client, world, case):
    value, says = ACCOUNT_NAMES[case]
    before = await snapshot(world.portal.id)
    listing_id = gid("MarketplaceListing", world.multi.id)
    payload = await mutate(
        client, INSTALL, {"listingId": listing_id, "accountName": value}, world.token
    )
    assert payload == {
        "app": None,
        "userErrors": [invalid(f"`accountName` {says}", "input", "accountName")],
    }
    assert await snapshot(world.portal.id) == before


async def test_an_account_name_of_200_characters_is_accepted_after_trimming(client, world):
    name = "@" + "a" * 199
    listing_id = gid("MarketplaceListing", world.multi.id)
    payload = await mutate(
        client, INSTALL, {"listingId": listing_id, "accountName": f"  {name}\n"}, world.token
    )
    assert payload["userErrors"] == []
    assert payload["app"]["connections"]["nodes"] == [{"accountName": name}]


async def test_an_account_name_is_bounded_as_compared_without_case(client, world):
    # "ß" compares as "ss": 101 of them are 202 characters in the connection's unique key.
    before = await snapshot(world.portal.id)
    listing_id = gid("MarketplaceListing", world.multi.id)
    payload = await mutate(
        client, INSTALL, {"listingId": listing_id, "accountName": "ß" * 107}, world.token
    )
    assert payload["userErrors"] == [
        invalid(
            "`accountName` is longer than 200 characters when compared without case",
            "input",
            "accountName",
        )
    ]
    assert await snapshot(world.portal.id) == before
    payload = await mutate(
        client, INSTALL, {"listingId": listing_id, "accountName": "ß" * 100}, world.token
    )
    assert payload["userErrors"] == []
    assert payload["app"]["connections"]["nodes"] == [{"accountName": "ß" * 100}]


async def test_every_problem_of_an_install_is_reported(client, world):
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client,
        INSTALL,
        {"listingId": "nope", "scopes": ["oauth", "s" * 101, "x\x00"], "accountName": "\x00"},
        world.token,
    )
    assert payload == {
        "app": None,
        "userErrors": [
            invalid("Not a valid MarketplaceListing id", "input", "listingId"),
            invalid("`scopes[1]` is longer than 100 characters", "input", "scopes", "1"),
            invalid("`scopes[2]` contains a control character", "input", "scopes", "2"),
            invalid("`accountName` contains a control character", "input", "accountName"),
        ],
    }
    assert await snapshot(world.portal.id) == before


SCOPE_NAMES = {
    "101 characters": ("s" * 101, "is longer than 100 characters"),
    f"{HUGE} characters": ("s" * HUGE, "is longer than 100 characters"),
    "a NUL": ("contacts\x00read", "contains a control character"),
    "a line break": ("contacts.read\n", "contains a control character"),
}


@pytest.mark.parametrize("case", SCOPE_NAMES)
async def test_a_bad_scope_name_in_an_install_is_invalid(client, world, listings, case):
    value, says = SCOPE_NAMES[case]
    before = await snapshot(world.portal.id)
    listing_id = gid("MarketplaceListing", world.multi.id)
    payload = await mutate(
        client,
        INSTALL,
        {"listingId": listing_id, "scopes": ["oauth", value], "accountName": "@acme"},
        world.token,
    )
    assert payload == {
        "app": None,
        "userErrors": [invalid(f"`scopes[1]` {says}", "input", "scopes", "1")],
    }
    assert await snapshot(world.portal.id) == before


@pytest.mark.parametrize("case", SCOPE_NAMES)
async def test_a_bad_scope_name_in_a_reauthorization_is_invalid(client, world, case):
    value, says = SCOPE_NAMES[case]
    before = await snapshot(world.portal.id)
    app_id = gid("ConnectedApp", world.app.id)
    payload = await mutate(
        client, REAUTHORIZE, {"appId": app_id, "scopes": ["reports", value]}, world.token
    )
    assert payload == {
        "app": None,
        "userErrors": [invalid(f"`scopes[1]` {says}", "input", "scopes", "1")],
    }
    assert await snapshot(world.portal.id) == before


async def test_a_bad_scope_name_is_reported_with_an_undecodable_app_id(client, world):
    payload = await mutate(client, REAUTHORIZE, {"appId": "\x00", "scopes": ["\x00"]}, world.token)
    assert payload["userErrors"] == [
        invalid("Not a valid ConnectedApp id", "input", "appId"),
        invalid("`scopes[0]` contains a control character", "input", "scopes", "0"),
    ]


async def test_a_scope_name_of_100_characters_is_only_unknown(client, world):
    app_id = gid("ConnectedApp", world.app.id)
    payload = await mutate(
        client, REAUTHORIZE, {"appId": app_id, "scopes": ["s" * 100]}, world.token
    )
    assert payload["userErrors"] == [
        invalid(f"The app does not request the scope {'s' * 100!r}", "input", "scopes", "0")
    ]


async def test_an_id_with_a_nul_is_invalid_and_changes_nothing(client, world):
    before = await snapshot(world.portal.id)
    payload = await mutate(client, UNINSTALL, {"appId": "\x00"}, world.token)
    assert payload == {
        "app": None,
        "userErrors": [invalid("Not a valid ConnectedApp id", "input", "appId")],
    }
    assert await snapshot(world.portal.id) == before


def rule(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "APP_INSTALL",
        "frequency": "DAILY",
        "allApps": True,
        "audience": "SUPER_ADMINS",
        "channels": ["IN_APP"],
    }


RULE_NAMES = {
    **{f"{n} characters": ("r" * n, "is longer than 120 characters") for n in (121, HUGE)},
    **{f"U+{ord(c):04X}": (f"Dai{c}ly", "contains a control character") for c in CONTROLS},
}


@pytest.mark.parametrize("case", RULE_NAMES)
async def test_a_bad_rule_name_is_invalid_and_creates_nothing(client, world, case):
    value, says = RULE_NAMES[case]
    before = await snapshot(world.portal.id)
    payload = await mutate(client, CREATE_RULE, rule(value), world.token)
    assert payload == {"rule": None, "userErrors": [invalid(f"`name` {says}", "input", "name")]}
    assert await snapshot(world.portal.id) == before


@pytest.mark.parametrize("case", ["121 characters", "U+0000", "U+000A"])
async def test_a_bad_rule_name_is_invalid_and_changes_no_rule(client, world, case):
    value, says = RULE_NAMES[case]
    created = await mutate(client, CREATE_RULE, rule("Daily"), world.token)
    assert created["userErrors"] == []
    rule_id = (await NotificationRule.get(portal_id=world.portal.id)).id
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client, UPDATE_RULE, {"id": gid("NotificationRule", rule_id), "name": value}, world.token
    )
    assert payload == {"rule": None, "userErrors": [invalid(f"`name` {says}", "input", "name")]}
    assert await snapshot(world.portal.id) == before


async def test_a_rule_name_is_bounded_as_sorted(client, world):
    # "İ" lower-cases to two characters, and rules sort (and clash) by the lower-cased name.
    before = await snapshot(world.portal.id)
    payload = await mutate(client, CREATE_RULE, rule("İ" * 61), world.token)
    message = "`name` is longer than 120 characters when compared without case"
    assert payload == {"rule": None, "userErrors": [invalid(message, "input", "name")]}
    assert await snapshot(world.portal.id) == before
    payload = await mutate(client, CREATE_RULE, rule("İ" * 60), world.token)
    assert payload == {"rule": {"name": "İ" * 60}, "userErrors": []}


async def test_a_rule_name_of_120_characters_is_accepted_after_trimming(client, world):
    payload = await mutate(client, CREATE_RULE, rule(f"\t{'r' * 120} "), world.token)
    assert payload == {"rule": {"name": "r" * 120}, "userErrors": []}


# --- platform events: 400 naming the field -------------------------------------------------


EVENT_IDS = {
    "201 characters": ("e" * 201, "id is longer than 200 characters"),
    f"{HUGE} characters": ("e" * HUGE, "id is longer than 200 characters"),
    "a NUL": ("event\x00one", "id contains a NUL character"),
}


@pytest.mark.parametrize("case", EVENT_IDS)
async def test_a_bad_event_id_is_400_and_stores_nothing(client, world, envelopes, case):
    value, message = EVENT_IDS[case]
    before = await snapshot(world.portal.id)
    event = {**app_event("app.disconnected", world.app), "id": value}
    assert await send(client, event, status=400) == {"status": "invalid", "message": message}
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_an_event_id_of_200_characters_is_remembered(client, world):
    event = {**app_event("app.disconnected", world.app), "id": str(uuid.uuid4()) + "e" * 164}
    assert len(event["id"]) == 200
    assert await send(client, event) == {"status": "applied"}
    assert await send(client, event, status=200) == {"status": "duplicate"}


ALERT_FIELDS = {
    **{
        f"code of {n} characters": ("code", "c" * n, "alert.code is longer than 100 characters")
        for n in (101, HUGE)
    },
    **{
        f"code with U+{ord(c):04X}": (
            "code",
            f"tok{c}en",
            "alert.code contains a control character",
        )
        for c in CONTROLS
    },
    **{
        f"message of {n} characters": (
            "message",
            "m" * n,
            "alert.message is longer than 1000 characters",
        )
        for n in (1001, HUGE)
    },
    **{
        f"message with U+{ord(c):04X}": (
            "message",
            f"Token{c}expired",
            "alert.message contains a control character",
        )
        for c in CONTROLS
    },
}


@pytest.mark.parametrize("case", ALERT_FIELDS)
async def test_a_bad_alert_is_400_and_its_corrected_retry_applies(client, world, envelopes, case):
    key, value, message = ALERT_FIELDS[case]
    before = await snapshot(world.portal.id)
    good = error_event(world.app, "token_expired", message="Token expired")
    bad = {**good, "alert": {**good["alert"], key: value}}
    assert await send(client, bad, status=400) == {"status": "invalid", "message": message}
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []
    # the id was not remembered: the corrected report, same id, applies
    assert await send(client, good) == {"status": "applied"}
    alerts = await data(
        client, ALERTS, {"id": gid("ConnectedApp", world.app.id)}, token=world.token
    )
    assert alerts["node"]["alerts"] == [{"code": "token_expired", "message": "Token expired"}]


async def test_a_bad_code_in_a_recovery_is_400(client, world, envelopes):
    before = await snapshot(world.portal.id)
    event = app_event("app.recovered", world.app, alert={"code": "token\x00expired"})
    assert await send(client, event, status=400) == {
        "status": "invalid",
        "message": "alert.code contains a control character",
    }
    assert await snapshot(world.portal.id) == before and await envelopes.settled() == []


async def test_an_alert_at_its_limits_is_applied(client, world):
    code, message = "c" * 100, "m" * 1000
    assert await send(client, error_event(world.app, code, message=message)) == {
        "status": "applied"
    }
    alerts = await data(
        client, ALERTS, {"id": gid("ConnectedApp", world.app.id)}, token=world.token
    )
    assert alerts["node"]["alerts"] == [{"code": code, "message": message}]


def scope(name: str, description: str = "Read access") -> dict[str, Any]:
    return {"name": name, "description": description, "requiredTier": "FREE", "required": False}


SCOPE_EVENTS = {
    "name of 101 characters": (scope("s" * 101), "scopes[0].name is longer than 100 characters"),
    "name with a NUL": (scope("contacts\x00read"), "scopes[0].name contains a control character"),
    "name with a tab": (scope("contacts\tread"), "scopes[0].name contains a control character"),
    "description of 501 characters": (
        scope("a", "d" * 501),
        "scopes[0].description is longer than 500 characters",
    ),
    "description with a NUL": (
        scope("a", "Read\x00access"),
        "scopes[0].description contains a control character",
    ),
    "description with a line break": (
        scope("a", "Read\naccess"),
        "scopes[0].description contains a control character",
    ),
}


@pytest.mark.parametrize("case", SCOPE_EVENTS)
async def test_a_bad_listing_scope_is_400_and_changes_no_scope(client, listings, envelopes, case):
    listing = listings["long"]
    given, message = SCOPE_EVENTS[case]
    before = await ListingScope.filter(listing_id=listing.id).order_by("id").values()
    processed = await ProcessedEvent.all().count()
    event = scopes_event(listing.id, [given])
    assert await send(client, event, status=400) == {"status": "invalid", "message": message}
    assert await ListingScope.filter(listing_id=listing.id).order_by("id").values() == before
    assert await ProcessedEvent.all().count() == processed and await envelopes.settled() == []
    # the id was not remembered: the corrected report, same id, applies
    assert await send(client, {**event, "scopes": [scope("contacts.read")]}) == {
        "status": "applied"
    }
    assert await ListingScope.filter(listing_id=listing.id).values_list("name", flat=True) == [
        "contacts.read"
    ]


async def test_listing_scopes_at_their_limits_are_applied(client, listings):
    listing = listings["long"]
    name, description = "s" * 100, "d" * 500
    assert await send(client, scopes_event(listing.id, [scope(name, description)])) == {
        "status": "applied"
    }
    assert await ListingScope.filter(listing_id=listing.id).values_list("name", "description") == [
        (name, description)
    ]
