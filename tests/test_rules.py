"""Notification rule mutations through HTTP: exact read-back, merged updates, the cut, every
validation problem on its input path at once, and refusals that change nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gateway.models import (
    Notification,
    NotificationRule,
    RuleApp,
    RuleTeam,
    RuleUser,
)
from gateway.models.enums import NotificationType
from gateway.services import rules as rule_service
from tests import factories as f
from tests.helpers import barrier_at, data, gid, token_for

RULE_FIELDS = """id name type frequency allApps apps { id name } audience users { id name }
  teams { id name } channels createdBy { name } createdAt updatedAt viewerCanEdit"""
ERRORS = "userErrors { field message code }"

CREATE = f"""mutation($input: CreateNotificationRuleInput!) {{ createNotificationRule(input: $input) {{
  rule {{ {RULE_FIELDS} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($input: UpdateNotificationRuleInput!) {{ updateNotificationRule(input: $input) {{
  rule {{ {RULE_FIELDS} }} {ERRORS} }} }}"""
DELETE = f"""mutation($input: DeleteNotificationRuleInput!) {{ deleteNotificationRule(input: $input) {{
  deletedRuleId {ERRORS} }} }}"""
RULES = f"""{{ viewer {{ portal {{ notificationRules(first: 100) {{ totalCount nodes {{ {RULE_FIELDS} }} }} }} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ __typename ... on NotificationRule {{ {RULE_FIELDS} }}
  ... on Notification {{ id rule {{ id }} }} }} }}"""


@dataclass
class World:
    """A portal of its own: a super admin, a manager, a member, two more people, two teams and
    three apps (one uninstalled)."""

    portal: object
    admin: str
    manager: str
    member: str
    people: dict
    teams: dict
    apps: dict

    def ref(self, kind: str, name: str) -> dict:
        row = {"app": self.apps, "user": self.people, "team": self.teams}[kind][name]
        return {
            "id": gid({"app": "ConnectedApp", "user": "User", "team": "Team"}[kind], row.id),
            "name": name,
        }


@pytest.fixture
async def world(app, settings) -> World:
    t = await f.make_tenant(
        settings,
        people={
            "Ada Admin": "admin",
            "Max Manager": "manager",
            "Mia Member": "member",
            "Bea Buyer": "member",
            "Cal Closer": "member",
        },
        teams={"Sales": ["Bea Buyer", "Cal Closer"], "Ops": ["Mia Member"]},
        # A category of their own: the catalogue is shared, and other tests list "Test fixtures".
        apps=["Zeta Books", "Atlas CRM", "Gone Mail"],
        category="Rule fixtures",
    )
    gone = t.apps["Gone Mail"]
    gone.uninstalled_at = f.T0 + timedelta(days=1)
    await gone.save()
    return World(
        t.portal,
        t.token("Ada Admin"),
        t.token("Max Manager"),
        t.token("Mia Member"),
        people=t.people,
        teams=t.teams,
        apps=t.apps,
    )


async def mutate(client, document, input_, token):
    result = await data(client, document, {"input": input_}, token=token)
    return next(iter(result.values()))


def codes(payload):
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def snapshot(portal_id):
    """The rule table and its join tables: what a refused mutation must leave as it was."""
    rules = await NotificationRule.filter(portal_id=portal_id).order_by("id").values()
    ids = [r["id"] for r in rules]
    return (
        rules,
        await RuleApp.filter(rule_id__in=ids).order_by("id").values(),
        await RuleUser.filter(rule_id__in=ids).order_by("id").values(),
        await RuleTeam.filter(rule_id__in=ids).order_by("id").values(),
    )


def full_input(world: World, **changes):
    """A valid create input naming every field."""
    input_ = {
        "name": "Weekly installs",
        "type": "APP_INSTALL",
        "frequency": "WEEKLY",
        "allApps": False,
        "appIds": [world.ref("app", "Zeta Books")["id"], world.ref("app", "Atlas CRM")["id"]],
        "audience": "SPECIFIC",
        "userIds": [world.ref("user", "Cal Closer")["id"], world.ref("user", "Bea Buyer")["id"]],
        "teamIds": [world.ref("team", "Sales")["id"]],
        "channels": ["IN_APP", "EMAIL"],
    }
    input_.update(changes)
    return input_


async def create(client, world, **changes):
    payload = await mutate(client, CREATE, full_input(world, **changes), world.admin)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["rule"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def without_times(rule):
    return {k: v for k, v in rule.items() if k not in ("createdAt", "updatedAt", "viewerCanEdit")}


async def read_back(client, token, rule_id):
    listed = (await data(client, RULES, token=token))["viewer"]["portal"]["notificationRules"][
        "nodes"
    ]
    by_node = (await data(client, NODE, {"id": rule_id}, token=token))["node"]
    return next((r for r in listed if r["id"] == rule_id), None), by_node


# --- create -------------------------------------------------------------------------------


async def test_a_super_admin_creates_a_rule_with_every_field(client, world):
    before = datetime.now(UTC)
    payload = await mutate(
        client, CREATE, full_input(world, name="  Weekly installs  "), world.admin
    )
    after = datetime.now(UTC)
    assert payload["userErrors"] == []
    rule = payload["rule"]
    pk = (await NotificationRule.get(portal_id=world.portal.id)).id
    assert without_times(rule) == {
        "id": gid("NotificationRule", pk),
        "name": "Weekly installs",  # trimmed
        "type": "APP_INSTALL",
        "frequency": "WEEKLY",
        "allApps": False,
        "apps": [world.ref("app", "Atlas CRM"), world.ref("app", "Zeta Books")],  # by name
        "audience": "SPECIFIC",
        "users": [world.ref("user", "Bea Buyer"), world.ref("user", "Cal Closer")],
        "teams": [world.ref("team", "Sales")],
        "channels": ["EMAIL", "IN_APP"],
        "createdBy": {"name": "Ada Admin"},
    }
    assert rule["viewerCanEdit"] is True
    assert before <= at(rule["createdAt"]) <= after
    assert rule["updatedAt"] == rule["createdAt"]
    # everyone reads it, through the portal's list and through node, exactly as created
    listed, by_node = await read_back(client, world.admin, rule["id"])
    assert listed == rule and by_node == {"__typename": "NotificationRule", **rule}
    listed, by_node = await read_back(client, world.member, rule["id"])
    assert listed == {**rule, "viewerCanEdit": False}
    assert by_node == {"__typename": "NotificationRule", **rule, "viewerCanEdit": False}
    # the cut starts at the creation time
    row = await NotificationRule.get(id=pk)
    assert row.cut_at == row.created_at == at(rule["createdAt"])
    assert row.sort_name == "weekly installs"


async def test_a_rule_for_all_apps_and_everyone(client, world):
    rule = await create(
        client,
        world,
        name="Everything",
        allApps=True,
        appIds=None,
        audience="EVERYONE",
        userIds=None,
        teamIds=[],
        channels=["EMAIL"],
        type="APP_UNINSTALL",
        frequency="HOURLY",
    )
    assert without_times(rule) | {"id": None} == {
        "id": None,
        "name": "Everything",
        "type": "APP_UNINSTALL",
        "frequency": "HOURLY",
        "allApps": True,
        "apps": [],
        "audience": "EVERYONE",
        "users": [],
        "teams": [],
        "channels": ["EMAIL"],
        "createdBy": {"name": "Ada Admin"},
    }


async def test_an_uninstalled_app_may_be_selected_and_repeated_ids_count_once(client, world):
    gone = world.ref("app", "Gone Mail")
    rule = await create(
        client,
        world,
        appIds=[gone["id"], gone["id"]],
        audience="SUPER_ADMINS",
        userIds=None,
        teamIds=None,
    )
    assert rule["apps"] == [gone]
    assert await RuleApp.filter(app_id=world.apps["Gone Mail"].id).count() == 1


async def test_rules_are_listed_by_lower_cased_name(client, world):
    for name in ("beta", "Alpha", "gamma"):
        await create(client, world, name=name)
    listed = (await data(client, RULES, token=world.member))["viewer"]["portal"][
        "notificationRules"
    ]
    assert [r["name"] for r in listed["nodes"]] == ["Alpha", "beta", "gamma"]
    assert listed["totalCount"] == 3


# --- update -------------------------------------------------------------------------------


async def test_an_update_of_one_field_leaves_the_others(client, world):
    rule = await create(client, world)
    row = await NotificationRule.get(portal_id=world.portal.id)
    payload = await mutate(client, UPDATE, {"id": rule["id"], "frequency": "DAILY"}, world.admin)
    assert payload["userErrors"] == []
    changed = payload["rule"]
    assert without_times(changed) == {**without_times(rule), "frequency": "DAILY"}
    assert changed["createdAt"] == rule["createdAt"]
    assert at(changed["updatedAt"]) > at(rule["updatedAt"])
    listed, by_node = await read_back(client, world.admin, rule["id"])
    assert listed == changed and by_node == {"__typename": "NotificationRule", **changed}
    # an edit does not move the cut
    assert (await NotificationRule.get(id=row.id)).cut_at == row.cut_at


async def test_an_update_that_changes_nothing_keeps_updated_at(client, world):
    rule = await create(client, world)
    same = await mutate(
        client,
        UPDATE,
        {
            "id": rule["id"],
            "name": "Weekly installs",
            "channels": ["EMAIL", "IN_APP", "EMAIL"],
            "teamIds": [world.ref("team", "Sales")["id"]],
        },
        world.admin,
    )
    assert same["userErrors"] == [] and same["rule"] == rule
    nothing = await mutate(client, UPDATE, {"id": rule["id"]}, world.admin)
    assert nothing["userErrors"] == [] and nothing["rule"] == rule


async def test_an_update_changes_audience_channels_and_apps(client, world):
    rule = await create(client, world)
    row = await NotificationRule.get(portal_id=world.portal.id)
    # leaving SPECIFIC and selected apps clears the users, teams and apps
    payload = await mutate(
        client,
        UPDATE,
        {
            "id": rule["id"],
            "audience": "EVERYONE",
            "allApps": True,
            "channels": ["IN_APP"],
            "type": "APP_DISCONNECT",
        },
        world.admin,
    )
    assert payload["userErrors"] == []
    assert without_times(payload["rule"]) == {
        **without_times(rule),
        "audience": "EVERYONE",
        "users": [],
        "teams": [],
        "allApps": True,
        "apps": [],
        "channels": ["IN_APP"],
        "type": "APP_DISCONNECT",
    }
    assert await RuleApp.filter(rule_id=row.id).count() == 0
    assert await RuleUser.filter(rule_id=row.id).count() == 0
    assert await RuleTeam.filter(rule_id=row.id).count() == 0
    # and back: SPECIFIC with a team only, selected apps
    back = await mutate(
        client,
        UPDATE,
        {
            "id": rule["id"],
            "audience": "SPECIFIC",
            "teamIds": [world.ref("team", "Ops")["id"]],
            "allApps": False,
            "appIds": [world.ref("app", "Gone Mail")["id"]],
        },
        world.admin,
    )
    assert back["userErrors"] == []
    assert (
        back["rule"]["audience"],
        back["rule"]["users"],
        back["rule"]["teams"],
        back["rule"]["apps"],
    ) == (
        "SPECIFIC",
        [],
        [world.ref("team", "Ops")],
        [world.ref("app", "Gone Mail")],
    )
    # replacing one list keeps the other: users added, the team stays
    users = await mutate(
        client,
        UPDATE,
        {"id": rule["id"], "userIds": [world.ref("user", "Mia Member")["id"]]},
        world.admin,
    )
    assert (users["rule"]["users"], users["rule"]["teams"]) == (
        [world.ref("user", "Mia Member")],
        [world.ref("team", "Ops")],
    )
    # renaming, including only the case of the name itself
    renamed = await mutate(
        client, UPDATE, {"id": rule["id"], "name": "WEEKLY INSTALLS"}, world.admin
    )
    assert renamed["userErrors"] == [] and renamed["rule"]["name"] == "WEEKLY INSTALLS"
    assert (await NotificationRule.get(id=row.id)).sort_name == "weekly installs"
    assert (await NotificationRule.get(id=row.id)).cut_at == row.cut_at


async def test_update_validates_the_merged_rule(client, world):
    rule = await create(client, world)  # SPECIFIC, two apps
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client,
        UPDATE,
        {
            "id": rule["id"],
            "audience": "SUPER_ADMINS",
            "userIds": [
                world.ref("user", "Bea Buyer")["id"]
            ],  # named for an audience that takes none
            "allApps": True,
            "appIds": [world.ref("app", "Atlas CRM")["id"]],
            "channels": [],
            "name": "",
        },
        world.admin,
    )
    assert sorted(codes(payload)) == sorted(
        [
            ("INVALID", ["input", "name"]),
            ("INVALID", ["input", "channels"]),
            ("INVALID", ["input", "appIds"]),
            ("INVALID", ["input", "userIds"]),
        ]
    )
    assert payload["rule"] is None
    # emptying what the rule needs
    emptied = await mutate(
        client, UPDATE, {"id": rule["id"], "userIds": [], "teamIds": [], "appIds": []}, world.admin
    )
    assert sorted(codes(emptied)) == sorted(
        [("INVALID", ["input", "audience"]), ("INVALID", ["input", "appIds"])]
    )
    assert await snapshot(world.portal.id) == before
    # a rule for every app and everyone cannot become SPECIFIC or selective without names
    broad = await create(
        client,
        world,
        name="Broad",
        allApps=True,
        appIds=None,
        audience="EVERYONE",
        userIds=None,
        teamIds=None,
    )
    narrowed = await mutate(
        client, UPDATE, {"id": broad["id"], "audience": "SPECIFIC", "allApps": False}, world.admin
    )
    assert sorted(codes(narrowed)) == sorted(
        [("INVALID", ["input", "audience"]), ("INVALID", ["input", "appIds"])]
    )


async def test_updating_a_missing_rule_reports_it_with_the_input_problems(client, world, demo):
    before = await snapshot(world.portal.id)
    foreign = gid("NotificationRule", demo.rule_ids["Install digest"])  # an Acme rule
    missing = gid("NotificationRule", 10**9)
    answers = [
        await mutate(client, UPDATE, {"id": i, "frequency": "DAILY"}, world.admin)
        for i in (foreign, missing)
    ]
    assert answers[0] == answers[1]
    assert codes(answers[0]) == [("NOT_FOUND", ["input", "id"])]
    garbage = await mutate(
        client, UPDATE, {"id": "nope", "name": " ", "appIds": ["nope"]}, world.admin
    )
    assert sorted(codes(garbage)) == sorted(
        [
            ("INVALID", ["input", "id"]),
            ("INVALID", ["input", "name"]),
            ("INVALID", ["input", "appIds", "0"]),
        ]
    )
    wrong_type = await mutate(
        client, UPDATE, {"id": world.ref("app", "Atlas CRM")["id"]}, world.admin
    )
    assert codes(wrong_type) == [("INVALID", ["input", "id"])]
    assert await snapshot(world.portal.id) == before
    assert (
        await NotificationRule.get(id=demo.rule_ids["Install digest"])
    ).frequency.value == "DAILY"  # as seeded


# --- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_rule_and_past_digests_keep_no_rule(client, world, settings):
    rule = await create(client, world)
    pk = (await NotificationRule.get(portal_id=world.portal.id)).id
    bea = world.people["Bea Buyer"]
    digest = await Notification.create(
        portal=world.portal,
        recipient=bea,
        rule_id=pk,
        type=NotificationType.APP_INSTALL,
        period_start=f.T0,
        period_end=f.T0 + timedelta(days=7),
        entry_count=1,
        created_at=f.T0 + timedelta(days=7),
    )
    bea_token = await token_for(settings, bea.email)
    seen = (await data(client, NODE, {"id": gid("Notification", digest.id)}, token=bea_token))[
        "node"
    ]
    assert seen == {
        "__typename": "Notification",
        "id": gid("Notification", digest.id),
        "rule": {"id": rule["id"]},
    }

    payload = await mutate(client, DELETE, {"id": rule["id"]}, world.admin)
    assert payload == {"deletedRuleId": rule["id"], "userErrors": []}
    assert (await data(client, NODE, {"id": rule["id"]}, token=world.admin))["node"] is None
    assert (await data(client, RULES, token=world.admin))["viewer"]["portal"]["notificationRules"][
        "totalCount"
    ] == 0
    assert await snapshot(world.portal.id) == ([], [], [], [])
    assert (
        await RuleApp.filter(rule_id=pk).count()
        + await RuleUser.filter(rule_id=pk).count()
        + await RuleTeam.filter(rule_id=pk).count()
        == 0
    )
    # the past digest stays, without its rule
    assert (await Notification.get(id=digest.id)).rule_id is None
    seen = (await data(client, NODE, {"id": gid("Notification", digest.id)}, token=bea_token))[
        "node"
    ]
    assert seen == {
        "__typename": "Notification",
        "id": gid("Notification", digest.id),
        "rule": None,
    }
    # deleting again finds nothing
    again = await mutate(client, DELETE, {"id": rule["id"]}, world.admin)
    assert again == {
        "deletedRuleId": None,
        "userErrors": [
            {"field": ["input", "id"], "message": "No such notification rule", "code": "NOT_FOUND"}
        ],
    }


async def test_delete_of_foreign_missing_or_undecodable_ids(client, world, demo):
    foreign = gid("NotificationRule", demo.rule_ids["Install digest"])
    answers = [
        await mutate(client, DELETE, {"id": i}, world.admin)
        for i in (foreign, gid("NotificationRule", 10**9))
    ]
    assert (
        answers[0]
        == answers[1]
        == {
            "deletedRuleId": None,
            "userErrors": [
                {
                    "field": ["input", "id"],
                    "message": "No such notification rule",
                    "code": "NOT_FOUND",
                }
            ],
        }
    )
    assert await NotificationRule.filter(id=demo.rule_ids["Install digest"]).exists()
    # garbage, another type's id, a key no 32-bit column holds
    for garbage in ("nope", gid("ConnectedApp", 1), gid("NotificationRule", 2**40)):
        assert codes(await mutate(client, DELETE, {"id": garbage}, world.admin)) == [
            ("INVALID", ["input", "id"])
        ]


# --- validation ---------------------------------------------------------------------------


async def test_every_create_problem_is_reported_on_its_path(client, world):
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client,
        CREATE,
        {
            "name": "   ",
            "type": "APP_INSTALL",
            "frequency": "DAILY",
            "allApps": False,
            "audience": "SPECIFIC",
            "channels": [],
        },
        world.admin,
    )
    assert payload["rule"] is None
    assert sorted(codes(payload)) == sorted(
        [
            ("INVALID", ["input", "name"]),
            ("INVALID", ["input", "appIds"]),
            ("INVALID", ["input", "audience"]),
            ("INVALID", ["input", "channels"]),
        ]
    )
    assert await snapshot(world.portal.id) == before


async def test_wrong_lists_for_the_choices_and_bad_ids(client, world):
    before = await snapshot(world.portal.id)
    payload = await mutate(
        client,
        CREATE,
        full_input(
            world,
            name="x" * 121,
            allApps=True,
            audience="EVERYONE",
            appIds=[world.ref("app", "Atlas CRM")["id"], "not-an-id", gid("ConnectedApp", 10**9)],
            userIds=[world.ref("user", "Bea Buyer")["id"], gid("Team", world.teams["Sales"].id)],
            teamIds=[gid("Team", 10**9)],
        ),
        world.admin,
    )
    assert sorted(codes(payload)) == sorted(
        [
            ("INVALID", ["input", "name"]),
            ("INVALID", ["input", "appIds"]),  # allApps takes no apps
            ("INVALID", ["input", "appIds", "1"]),
            ("NOT_FOUND", ["input", "appIds", "2"]),
            ("INVALID", ["input", "userIds"]),  # EVERYONE takes no users
            ("INVALID", ["input", "userIds", "1"]),  # a Team id where a User id belongs
            ("INVALID", ["input", "teamIds"]),
            ("NOT_FOUND", ["input", "teamIds", "0"]),
        ]
    )
    assert await snapshot(world.portal.id) == before


async def test_name_length_and_control_characters(client, world):
    ok = await create(client, world, name="y" * 120)
    assert ok["name"] == "y" * 120
    for bad in ("x" * 121, "two\nlines", "\t\n "):
        payload = await mutate(client, CREATE, full_input(world, name=bad), world.admin)
        assert codes(payload) == [("INVALID", ["input", "name"])], bad


async def test_ids_of_another_portal_are_not_found_like_missing_ones(client, world, demo):
    foreign = {
        "appIds": [
            world.ref("app", "Atlas CRM")["id"],
            gid("ConnectedApp", demo.app_ids["contactsync"]),
        ],
        "userIds": [gid("User", demo.user_ids[next(iter(demo.user_ids))])],
        "teamIds": [gid("Team", demo.team_ids["Sales"])],
    }
    missing = {
        "appIds": [world.ref("app", "Atlas CRM")["id"], gid("ConnectedApp", 10**9)],
        "userIds": [gid("User", 10**9)],
        "teamIds": [gid("Team", 10**9 + 1)],
    }
    before = await snapshot(world.portal.id)
    answers = [
        await mutate(client, CREATE, full_input(world, **ids), world.admin)
        for ids in (foreign, missing)
    ]
    assert answers[0] == answers[1]
    assert sorted(codes(answers[0])) == sorted(
        [
            ("NOT_FOUND", ["input", "appIds", "1"]),
            ("NOT_FOUND", ["input", "userIds", "0"]),
            ("NOT_FOUND", ["input", "teamIds", "0"]),
        ]
    )
    assert {e["message"] for e in answers[0]["userErrors"]} == {
        "No such app",
        "No such user",
        "No such team",
    }
    # the same on update
    rule = await create(client, world)
    before = await snapshot(world.portal.id)
    answers = [
        await mutate(client, UPDATE, {"id": rule["id"], **ids}, world.admin)
        for ids in (foreign, missing)
    ]
    assert answers[0] == answers[1] and len(answers[0]["userErrors"]) == 3
    assert await snapshot(world.portal.id) == before


async def test_duplicate_names_conflict_whatever_their_case(client, world, demo):
    first = await create(client, world, name="Installs")
    before = await snapshot(world.portal.id)
    again = await mutate(client, CREATE, full_input(world, name=" INSTALLS "), world.admin)
    assert again["rule"] is None
    assert codes(again) == [("CONFLICT", ["input", "name"])]
    other = await create(client, world, name="Other")
    before = await snapshot(world.portal.id)
    renamed = await mutate(client, UPDATE, {"id": other["id"], "name": "installs"}, world.admin)
    assert codes(renamed) == [("CONFLICT", ["input", "name"])]
    # a conflict comes with the other problems of the request
    both = await mutate(
        client, UPDATE, {"id": other["id"], "name": "installs", "channels": []}, world.admin
    )
    assert sorted(codes(both)) == sorted(
        [("CONFLICT", ["input", "name"]), ("INVALID", ["input", "channels"])]
    )
    assert await snapshot(world.portal.id) == before
    assert first["name"] == "Installs"
    # names are unique per portal only: an Acme rule's name is free here
    assert (await create(client, world, name="Install digest"))["name"] == "Install digest"


async def test_the_unique_key_settles_a_name_race(client, world, monkeypatch):
    """Without the check (as when two requests check before either writes), the key refuses."""
    await create(client, world, name="Installs")
    other = await create(client, world, name="Other")

    async def never_taken(*_args):
        return False

    monkeypatch.setattr(rule_service, "_name_taken", never_taken)
    before = await snapshot(world.portal.id)
    created = await mutate(client, CREATE, full_input(world, name="installs"), world.admin)
    renamed = await mutate(client, UPDATE, {"id": other["id"], "name": "INSTALLS"}, world.admin)
    assert codes(created) == codes(renamed) == [("CONFLICT", ["input", "name"])]
    assert await snapshot(world.portal.id) == before


# --- who may write ------------------------------------------------------------------------


async def test_only_super_admins_write_rules(client, world):
    rule = await create(client, world)
    before = await snapshot(world.portal.id)
    for token in (world.manager, world.member):
        created = await mutate(client, CREATE, full_input(world, name="Mine"), token)
        assert created["rule"] is None and codes(created) == [("FORBIDDEN", None)]
        updated = await mutate(client, UPDATE, {"id": rule["id"], "name": "Mine"}, token)
        assert updated["rule"] is None and codes(updated) == [("FORBIDDEN", ["input", "id"])]
        deleted = await mutate(client, DELETE, {"id": rule["id"]}, token)
        assert deleted["deletedRuleId"] is None and codes(deleted) == [
            ("FORBIDDEN", ["input", "id"])
        ]
        # an invalid request from them is still only forbidden
        invalid = await mutate(client, CREATE, full_input(world, name="", channels=[]), token)
        assert codes(invalid) == [("FORBIDDEN", None)]
    assert await snapshot(world.portal.id) == before
    # they still read the rule, and are told they may not edit it
    listed, _ = await read_back(client, world.member, rule["id"])
    assert listed == {**rule, "viewerCanEdit": False}


# --- races (PostgreSQL: SQLite serializes writers) -------------------------------------------


@pytest.mark.postgres
async def test_two_admins_creating_the_same_name_at_once_make_one_rule(client, world, settings):
    other_admin = await f.make_user(world.portal, "Ann Admin", super_admin=True)
    token = await token_for(settings, other_admin.email)
    with barrier_at("rules:after-check"):
        a, b = await asyncio.gather(
            mutate(client, CREATE, full_input(world, name="Installs"), world.admin),
            mutate(client, CREATE, full_input(world, name="INSTALLS"), token),
        )
    assert sorted(codes(a) + codes(b)) == [("CONFLICT", ["input", "name"])]
    assert await NotificationRule.filter(portal_id=world.portal.id).count() == 1


@pytest.mark.postgres
async def test_concurrent_edits_merge_into_the_rule_as_it_is(client, world, settings):
    """One edit leaves SPECIFIC (clearing the users), the other names users: whichever runs
    second merges into what the first wrote (the row is locked), so the rule never ends up
    EVERYONE with users."""
    rule = await create(client, world)
    other_admin = await f.make_user(world.portal, "Ann Admin", super_admin=True)
    token = await token_for(settings, other_admin.email)
    a, b = await asyncio.gather(
        mutate(client, UPDATE, {"id": rule["id"], "audience": "EVERYONE"}, world.admin),
        mutate(
            client,
            UPDATE,
            {"id": rule["id"], "userIds": [world.ref("user", "Mia Member")["id"]]},
            token,
        ),
    )
    assert codes(a) == [] and codes(b) in ([], [("INVALID", ["input", "userIds"])])
    row = await NotificationRule.get(portal_id=world.portal.id)
    assert (
        row.audience.value,
        await RuleUser.filter(rule_id=row.id).count(),
        await RuleTeam.filter(rule_id=row.id).count(),
    ) == ("EVERYONE", 0, 0)
